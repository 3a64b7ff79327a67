"""Files cpucompat writes appear whole or not at all.

Reports, graphs and benchmark results are written to a temporary file in
the same directory, flushed to disk, then renamed over the target, and the
directory is flushed too: a crash or a full disk never leaves half a report
behind.  Replacing a file keeps its permissions; a symbolic link is followed
and its target replaced, so the link stays a link.
"""
from __future__ import annotations

import os
import secrets
import stat
from pathlib import Path

from .errors import CpuCompatError


def write_atomic(path: str | os.PathLike[str], data: str | bytes) -> None:
    """Replace `path` with `data` atomically (same-directory rename).

    An existing file keeps its mode; a new one gets 0o666 less the umask,
    as ``open()`` would give it.
    """
    target = Path(os.path.realpath(path))  # write through symlinks, like open() would
    payload = data.encode("utf-8") if isinstance(data, str) else data
    try:
        mode = stat.S_IMODE(os.stat(target).st_mode)
    except FileNotFoundError:
        mode = None
    except OSError as exc:
        raise CpuCompatError(f"cannot write: {exc.strerror or exc}", source=str(path)) from None
    temp = None
    try:
        fd, temp = _create_temporary(target)
        with os.fdopen(fd, "wb") as handle:
            if mode is not None:
                os.fchmod(handle.fileno(), mode)
            handle.write(payload)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temp, target)
        temp = None
        _fsync_directory(target.parent)
    except OSError as exc:
        if temp is not None:
            try:
                os.unlink(temp)
            except OSError:
                pass
        raise CpuCompatError(f"cannot write: {exc.strerror or exc}", source=str(path)) from None


def _create_temporary(target: Path) -> tuple[int, Path]:
    """A new file beside `target`, created 0o666 so the umask applies (mkstemp would make it 0600)."""
    for _ in range(100):
        temp = target.with_name(f".{target.name}.{secrets.token_hex(4)}.tmp")
        try:
            return os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o666), temp
        except FileExistsError:
            continue
    raise FileExistsError(f"no free temporary name beside {target}")


def _fsync_directory(directory: Path) -> None:
    """Make the rename itself durable (rename(2) is only in the directory's metadata)."""
    fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
