"""Where cpucompat's output files go: whole or not at all, never over a device.

`write_output` is the one place a command's ``-o PATH`` is written (report,
graph, fuzzing and benchmark results):

* ``-`` is standard output;
* a new path or a regular file (through symbolic links) is replaced
  atomically by `write_atomic`: a temporary file in the same directory,
  flushed to disk, renamed over the target, the directory flushed too.  A
  crash or a full disk never leaves half a report behind; a replaced file
  keeps its permissions; a link stays a link and its target is replaced;
* a character device (``/dev/null``, a terminal) or a FIFO is written to
  directly and never replaced: renaming a file over ``/dev/null`` would
  break every program on the machine.  A FIFO is opened without waiting
  for a reader (none: one error, no hang); a write error (``/dev/full``)
  is an error, not a success;
* the same file as standard output (``/dev/stdout``, ``/proc/self/fd/1``)
  is standard output, whatever it is (a pipe, a socket, a file the shell
  appends to);
* a directory, a block device (a disk) or a socket is refused.
"""
from __future__ import annotations

import errno
import fcntl
import os
import secrets
import stat
import sys
from pathlib import Path

from .errors import UnwritableFile
from .safefile import file_kind

__all__ = ["STDOUT", "write_atomic", "write_output"]

STDOUT = "-"


def write_output(path: str | os.PathLike[str], data: str | bytes) -> bool:
    """Write `data` (text is UTF-8) to the output file `path`, as the module
    docstring says; True when it went to standard output (so a command
    prints no summary into it).  Raises UnwritableFile naming `path`."""
    source = os.fsdecode(path)
    payload = data.encode("utf-8") if isinstance(data, str) else data
    if source == STDOUT:
        _write_stdout(payload)
        return True
    if not source:
        raise UnwritableFile("an empty path names no file (- is standard output)", source="output")
    try:
        status = os.stat(path)
    except FileNotFoundError:
        write_atomic(path, payload)
        return False
    except (OSError, ValueError) as exc:  # ValueError: a path holding a NUL byte
        raise UnwritableFile(f"cannot write: {getattr(exc, 'strerror', None) or exc}", source=source) from None
    if _is_stdout(status):  # checked first: `-o /dev/stdout >> log` appends, never replaces the log
        _write_stdout(payload)
        return True
    if stat.S_ISREG(status.st_mode):
        write_atomic(path, payload)
        return False
    if stat.S_ISCHR(status.st_mode) or stat.S_ISFIFO(status.st_mode):
        _write_directly(path, source, payload)
        return False
    raise UnwritableFile(f"cannot write: {file_kind(status.st_mode)}, not a file, a character device "
                         "or a FIFO", source=source)


def _is_stdout(status: os.stat_result) -> bool:
    try:
        own = os.fstat(sys.stdout.fileno())
    except (OSError, ValueError, AttributeError):  # no standard output, or not a real file
        return False
    return (own.st_dev, own.st_ino) == (status.st_dev, status.st_ino)


def _write_stdout(payload: bytes) -> None:
    sys.stdout.flush()
    sys.stdout.buffer.write(payload)
    sys.stdout.buffer.flush()


def _write_directly(path: str | os.PathLike[str], source: str, payload: bytes) -> None:
    """Write into a character device or FIFO in place; no O_CREAT, no O_TRUNC."""
    try:
        fd = os.open(path, os.O_WRONLY | os.O_NONBLOCK | os.O_CLOEXEC | os.O_NOCTTY)
    except OSError as exc:
        if exc.errno == errno.ENXIO:  # a FIFO nobody has open for reading
            raise UnwritableFile("cannot write: a FIFO with no reader", source=source) from None
        raise UnwritableFile(f"cannot write: {exc.strerror or exc}", source=source) from None
    try:
        mode = os.fstat(fd).st_mode
        if stat.S_ISREG(mode):  # became a file since it was looked at: replace it as one
            os.close(fd)
            fd = -1
            write_atomic(path, payload)
            return
        if not (stat.S_ISCHR(mode) or stat.S_ISFIFO(mode)):
            raise UnwritableFile(f"cannot write: {file_kind(mode)}", source=source)
        # the reader is there: from now on wait for it as `cat > fifo` would
        fcntl.fcntl(fd, fcntl.F_SETFL, fcntl.fcntl(fd, fcntl.F_GETFL) & ~os.O_NONBLOCK)
        view = memoryview(payload)
        while view:
            view = view[os.write(fd, view):]
    except UnwritableFile:  # an OSError too: already says what went wrong
        raise
    except OSError as exc:
        raise UnwritableFile(f"cannot write: {exc.strerror or exc}", source=source) from None
    finally:
        if fd >= 0:
            try:
                os.close(fd)
            except OSError:
                pass


def write_atomic(path: str | os.PathLike[str], data: str | bytes) -> None:
    """Replace the regular file (or new path) `path` with `data` atomically
    (same-directory rename).  Anything else is refused: renamed over a
    device, a FIFO or a directory, the file would replace it.

    An existing file keeps its mode; a new one gets 0o666 less the umask,
    as ``open()`` would give it.
    """
    target = Path(os.path.realpath(path))  # write through symlinks, like open() would
    payload = data.encode("utf-8") if isinstance(data, str) else data
    try:
        status = os.stat(target)
    except FileNotFoundError:
        mode = None
    except OSError as exc:
        raise UnwritableFile(f"cannot write: {exc.strerror or exc}", source=os.fsdecode(path)) from None
    else:
        if not stat.S_ISREG(status.st_mode):
            raise UnwritableFile(f"cannot replace {file_kind(status.st_mode)}: only a regular file is "
                                 "replaced", source=os.fsdecode(path))
        mode = stat.S_IMODE(status.st_mode)
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
        raise UnwritableFile(f"cannot write: {exc.strerror or exc}", source=os.fsdecode(path)) from None


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
