"""CPUs read from a live libvirt connection, or from this machine.

libvirt-python is optional: without it, this machine's CPU comes from
``/proc/cpuinfo``.  An embedded QEMU driver (``qemu:///embed``) needs no
daemon, so the local host CPU is available wherever libvirt is installed.
"""
from __future__ import annotations

import contextlib
import errno
import fcntl
import functools
import os
import struct
from _thread import allocate_lock  # threading's Lock without importing threading (start-up)
from dataclasses import replace
from types import ModuleType
from typing import Any, Iterator

from ..engine.cpu import Cpu
from ..engine.cpuid import CpuidDump, decode_data
from ..engine.cpumap import CpuMap, resolve_map
from ..engine.maps import map_rules
from ..engine.releases import host_msrs
from ..errors import CpuCompatError, HostUnreachable, MissingDependency
from .cpuinfo import parse_proc_cpuinfo
from .parse import decoded_host_cpu, parse_cpus, read_text

__all__ = ["connection", "host_cpu_from_libvirt", "local_host_cpu", "local_cpuid_dump"]

_event_loop_lock = allocate_lock()
_embed_root_path: str | None = None


def libvirt_module() -> ModuleType | None:
    """The libvirt module, or None when libvirt-python is not installed."""
    try:
        import libvirt  # type: ignore[import-not-found,unused-ignore]
    except ImportError:
        return None
    module: ModuleType = libvirt  # untyped (Any) to mypy
    return module


@contextlib.contextmanager
def connection(uri: str | None = None) -> Iterator[Any]:
    """A libvirt connection; ``None`` opens an embedded QEMU driver, which
    needs no running daemon."""
    libvirt = libvirt_module()
    if libvirt is None:
        raise MissingDependency("libvirt-python is not installed (pip install 'cpucompat[libvirt]')")
    libvirt.registerErrorHandler(lambda *_: None, None)
    if uri is None:
        uri = f"qemu:///embed?root={_embed_root(libvirt)}"
    try:
        conn = libvirt.open(uri)
    except libvirt.libvirtError as exc:
        raise HostUnreachable(f"cannot connect: {exc.get_error_message()}", source=uri) from None
    try:
        yield conn
    finally:
        conn.close()


def _embed_root(libvirt: ModuleType) -> str:
    """The one embedded-driver root of this process: libvirt allows a single
    root per process, so every embedded connection shares it (removed at exit)."""
    global _embed_root_path
    import atexit
    import shutil
    import tempfile  # here, not at the top: `compare` against this machine rarely needs libvirt

    with _event_loop_lock:
        if _embed_root_path is None:
            libvirt.virEventRegisterDefaultImpl()
            _embed_root_path = tempfile.mkdtemp(prefix="cpucompat-embed-")
            atexit.register(shutil.rmtree, _embed_root_path, True)
        return _embed_root_path


def host_cpu_from_libvirt(uri: str | None = None, cpumap: CpuMap | None = None) -> Cpu:
    """The host CPU that ``virsh capabilities`` shows for `uri`."""
    with connection(uri) as conn:
        try:
            caps = conn.getCapabilities()
        except Exception as exc:  # libvirt.libvirtError
            raise HostUnreachable(f"cannot read capabilities: {exc}", source=uri or "qemu:///embed") from None
    return parse_cpus(caps, uri or "libvirt capabilities", cpumap)[0]


def local_host_cpu(cpumap: CpuMap | None = None) -> Cpu:
    """This machine's CPU, as ``virsh capabilities`` shows it.

    First from the CPU itself (what libvirt reads; needs root), then
    through libvirt (seconds: it probes QEMU), else /proc/cpuinfo (Linux's
    flags: no MSR features).
    """
    cpumap = resolve_map(cpumap)
    dump = local_cpuid_dump(cpumap)
    if dump is not None:
        return decoded_host_cpu(dump, cpumap)
    if libvirt_module() is not None:
        with contextlib.suppress(CpuCompatError):
            return host_cpu_from_libvirt(None, cpumap)
    path = "/proc/cpuinfo"
    return parse_proc_cpuinfo(read_text(path), path, cpumap)


CPUID_DEVICE = "/dev/cpu/0/cpuid"
MSR_DEVICE = "/dev/cpu/0/msr"
KVM_DEVICE = "/dev/kvm"
KVM_GET_MSRS = 0xC008AE88  # _IOWR(KVMIO, 0x88, struct kvm_msrs)


def local_cpuid_dump(cpumap: CpuMap | None = None) -> CpuidDump | None:
    """This CPU's CPUID leaves and feature MSRs, as the libvirt release of
    the map reads them in virCPUx86GetHost, or None when Linux's cpuid
    device cannot be read (not root, no x86, no cpuid module).

    Only the leaves the map's features live in are read, within the
    CPU's maximum basic and extended leaves.  Which MSRs are read is the
    release's rule (`releases.host_msrs`: IA32_ARCH_CAPABILITIES alone for
    9.0.0, every MSR the map names from 11.3.0 on); each comes from the msr
    device, else KVM, and is left out when neither answers.
    """
    cpumap = resolve_map(cpumap)
    archmap = cpumap.x86
    try:
        fd = os.open(CPUID_DEVICE, os.O_RDONLY)
    except OSError:
        return None
    try:
        @functools.cache  # each leaf is read once, the maximum leaves included
        def cpuid(leaf: int, subleaf: int) -> tuple[int, int, int, int]:
            return struct.unpack("<4I", os.pread(fd, 16, (subleaf << 32) | leaf))

        maximum = {0: cpuid(0, 0)[0], 0x80000000: cpuid(0x80000000, 0)[0]}
        wanted = {(0, 0), (1, 0)} | {(leaf, subleaf) for kind, leaf, subleaf, _ in archmap.decode_words
                                     if kind == "cpuid"}
        leaves = []
        for leaf, subleaf in sorted(wanted):
            if leaf > maximum.get(leaf & 0xFFFF0000, -1):
                continue
            if leaf == 7 and subleaf > cpuid(7, 0)[0]:  # CPUID.7.0:EAX is leaf 7's highest subleaf
                continue
            leaves.append(((leaf, subleaf), cpuid(leaf, subleaf)))
    except OSError:
        return None
    finally:
        os.close(fd)
    dump = CpuidDump(tuple(leaves), source=CPUID_DEVICE)
    msrs = []
    for index in host_msrs(map_rules(cpumap), archmap, decode_data(dump, archmap).features):
        value = _feature_msr(index)
        if value is not None:
            msrs.append((index, (value & 0xFFFFFFFF, value >> 32)))
    return replace(dump, msrs=tuple(msrs)) if msrs else dump


def _feature_msr(index: int) -> int | None:
    """An MSR as libvirt's virHostCPUGetMSR reads it: the msr device, else
    KVM's feature MSRs; an MSR the msr device says the CPU lacks (EIO) is
    not asked of KVM."""
    with contextlib.suppress(OSError):
        fd = os.open(MSR_DEVICE, os.O_RDONLY)
        try:
            msr: int = struct.unpack("<Q", os.pread(fd, 8, index))[0]
            return msr
        except OSError as exc:
            if exc.errno == errno.EIO:
                return None
            raise
        finally:
            os.close(fd)
    with contextlib.suppress(OSError):
        fd = os.open(KVM_DEVICE, os.O_RDONLY)
        try:
            # struct kvm_msrs {u32 nmsrs, pad; struct kvm_msr_entry {u32 index, reserved; u64 data}}
            request = bytearray(struct.pack("<IIIIQ", 1, 0, index, 0, 0))
            if fcntl.ioctl(fd, KVM_GET_MSRS, request) == 1:
                msr = struct.unpack_from("<Q", request, 16)[0]
                return msr
        finally:
            os.close(fd)
    return None
