"""Files cpucompat writes appear whole or not at all.

Reports, graphs and benchmark results are written to a temporary file in
the same directory, flushed to disk, then renamed over the target: a crash
or a full disk never leaves half a report behind.
"""
from __future__ import annotations

import os
import tempfile
from pathlib import Path

from .errors import CpuCompatError


def write_atomic(path: str | os.PathLike[str], data: str | bytes) -> None:
    """Replace `path` with `data` atomically (same-directory rename)."""
    target = Path(path)
    payload = data.encode("utf-8") if isinstance(data, str) else data
    directory = target.parent if str(target.parent) else Path(".")
    try:
        fd, temp = tempfile.mkstemp(prefix=f".{target.name}.", dir=directory)
    except OSError as exc:
        raise CpuCompatError(f"cannot write: {exc.strerror or exc}", source=str(path)) from None
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(payload)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temp, target)
    except OSError as exc:
        try:
            os.unlink(temp)
        except OSError:
            pass
        raise CpuCompatError(f"cannot write: {exc.strerror or exc}", source=str(path)) from None
