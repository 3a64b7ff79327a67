"""CPUs read from a live libvirt connection, or from this machine.

libvirt-python is optional: without it, this machine's CPU comes from
``/proc/cpuinfo``.  An embedded QEMU driver (``qemu:///embed``) needs no
daemon, so the local host CPU is available wherever libvirt is installed.
"""
from __future__ import annotations

import contextlib
import tempfile
import threading
from pathlib import Path
from typing import Iterator

from .cpu import Cpu
from .cpumap import CpuMap
from .errors import CpuCompatError
from .parse import parse_cpus, parse_proc_cpuinfo, read_text

_event_loop_lock = threading.Lock()
_event_loop_registered = False


def libvirt_module():
    """The libvirt module, or None when libvirt-python is not installed."""
    try:
        import libvirt  # type: ignore[import-not-found]
    except ImportError:
        return None
    return libvirt


@contextlib.contextmanager
def connection(uri: str | None = None) -> Iterator[object]:
    """A libvirt connection; ``None`` opens an embedded QEMU driver in a
    temporary root, which needs no running daemon."""
    global _event_loop_registered
    libvirt = libvirt_module()
    if libvirt is None:
        raise CpuCompatError("libvirt-python is not installed (pip install 'cpucompat[libvirt]')")
    libvirt.registerErrorHandler(lambda *_: None, None)
    with contextlib.ExitStack() as stack:
        if uri is None:
            with _event_loop_lock:
                if not _event_loop_registered:
                    libvirt.virEventRegisterDefaultImpl()
                    _event_loop_registered = True
            root = stack.enter_context(tempfile.TemporaryDirectory(prefix="cpucompat-embed-"))
            uri = f"qemu:///embed?root={root}"
        try:
            conn = libvirt.open(uri)
        except libvirt.libvirtError as exc:
            raise CpuCompatError(f"cannot connect: {exc.get_error_message()}", source=uri) from None
        try:
            yield conn
        finally:
            conn.close()


def host_cpu_from_libvirt(uri: str | None = None, cpumap: CpuMap | None = None) -> Cpu:
    """The host CPU that ``virsh capabilities`` shows for `uri`."""
    with connection(uri) as conn:
        try:
            caps = conn.getCapabilities()
        except Exception as exc:  # libvirt.libvirtError
            raise CpuCompatError(f"cannot read capabilities: {exc}", source=uri or "qemu:///embed") from None
    return parse_cpus(caps, uri or "libvirt capabilities", cpumap)[0]


def local_host_cpu(cpumap: CpuMap | None = None) -> Cpu:
    """This machine's CPU: through libvirt if available, else /proc/cpuinfo."""
    if libvirt_module() is not None:
        with contextlib.suppress(CpuCompatError):
            return host_cpu_from_libvirt(None, cpumap)
    path = Path("/proc/cpuinfo")
    return parse_proc_cpuinfo(read_text(path), str(path), cpumap)
