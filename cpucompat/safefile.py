"""Reading files that untrusted inventories and options may name.

A path from an inventory, a ``--cpu-map`` or nova.conf may point at a FIFO
(open() blocks forever), a device (``/dev/zero`` never ends, a tape rewinds)
or a directory.  Every file cpucompat reads goes through `read_regular`:
opened without blocking, checked to be a regular file before a byte is
read, and read only up to a size limit.
"""
from __future__ import annotations

import os
import stat
from typing import BinaryIO

from .errors import CpuCompatError, UnreadableFile

__all__ = ["file_kind", "open_regular", "read_regular"]

_KINDS = (
    (stat.S_ISDIR, "a directory"),
    (stat.S_ISFIFO, "a FIFO"),
    (stat.S_ISCHR, "a character device"),
    (stat.S_ISBLK, "a block device"),
    (stat.S_ISSOCK, "a socket"),
)


def file_kind(mode: int) -> str:
    """'a regular file', 'a FIFO', 'a character device', ... for an st_mode."""
    if stat.S_ISREG(mode):
        return "a regular file"
    return next((name for test, name in _KINDS if test(mode)), "not a regular file")


def read_regular(path: str | os.PathLike[str], *, max_bytes: int,
                 error: type[CpuCompatError] = UnreadableFile) -> bytes:
    """The bytes of the regular file `path`, at most `max_bytes` of them.

    Raises `error` naming the path when it cannot be opened, is not a
    regular file (FIFO, device, directory, socket) or is larger than
    `max_bytes`.  O_NONBLOCK makes opening a FIFO return at once instead of
    waiting for a writer; the type is checked on the open descriptor, so a
    symbolic link swapped between a check and the open changes nothing.
    """
    source = os.fsdecode(path) if not isinstance(path, str) else path
    fd = _open_regular(path, source, error)
    try:
        chunks = []
        size = 0
        while size <= max_bytes:
            chunk = os.read(fd, min(1 << 20, max_bytes + 1 - size))
            if not chunk:
                break
            chunks.append(chunk)
            size += len(chunk)
    except CpuCompatError:  # UnreadableFile is an OSError too: it already says why
        raise
    except OSError as exc:
        raise error(f"cannot read: {exc.strerror or exc}", source=source) from None
    finally:
        os.close(fd)
    if size > max_bytes:
        raise error(f"file is larger than {max_bytes} bytes", source=source)
    return b"".join(chunks)


def _open_regular(path: str | os.PathLike[str], source: str, error: type[CpuCompatError]) -> int:
    """A descriptor of the regular file `path` (see read_regular), or `error`."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC | getattr(os, "O_NOCTTY", 0))
    except (OSError, ValueError) as exc:  # ValueError: a path holding a NUL byte
        raise error(f"cannot read: {getattr(exc, 'strerror', None) or exc}", source=source) from None
    try:
        mode = os.fstat(fd).st_mode
    except OSError as exc:
        os.close(fd)
        raise error(f"cannot read: {exc.strerror or exc}", source=source) from None
    if not stat.S_ISREG(mode):
        os.close(fd)
        raise error(f"cannot read: {file_kind(mode)}, not a regular file", source=source)
    return fd


def open_regular(path: str | os.PathLike[str], *, error: type[CpuCompatError] = CpuCompatError) -> BinaryIO:
    """The regular file `path` opened for reading in binary, for files read
    a piece at a time (the caller bounds what it reads); the same checks as
    read_regular, so a FIFO or device is refused at once."""
    source = os.fsdecode(path) if not isinstance(path, str) else path
    return os.fdopen(_open_regular(path, source, error), "rb")
