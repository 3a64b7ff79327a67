"""Progress of a long read on stderr, as one line rewritten in place: shown
on a terminal only, so piped or redirected output stays clean.

A dozen lines, where a library (rich, tqdm) would add a dependency and
its import time to every command for one line of text."""
from __future__ import annotations

import contextlib
import sys
import time
from typing import Iterator, TextIO

__all__ = ["ProgressLine", "progress_line"]


class ProgressLine:
    """An `on_progress(done, total, unit)` callback writing "`verb` done/total unit"
    on `stream` once a read has lasted `delay` seconds (a quick one shows
    nothing), then at most ten times a second, and at its end."""

    delay = 0.5

    def __init__(self, stream: TextIO, verb: str = "read") -> None:
        self.stream = stream
        self.verb = verb
        self.shown = ""
        self.start = time.monotonic()
        self.last = 0.0

    def __call__(self, done: int, total: int, unit: str) -> None:
        now = time.monotonic()
        if now - self.start < self.delay or (done < total and now - self.last < 0.1):
            return
        self.last = now
        if unit == "bytes":
            scale, name = (2**20, "MiB") if total >= 2**20 else (2**10, "KiB")
            text = f"{self.verb} {done / scale:,.0f}/{total / scale:,.0f} {name}"
        else:
            text = f"{self.verb} {done:,}/{total:,} {unit}"
        self.stream.write("\r" + text.ljust(len(self.shown)))
        self.stream.flush()
        self.shown = text

    def close(self) -> None:
        """End the line, if one was written."""
        if self.shown:
            self.stream.write("\n")
            self.stream.flush()
            self.shown = ""


@contextlib.contextmanager
def progress_line(stream: TextIO | None = None, verb: str = "read") -> Iterator[ProgressLine | None]:
    """A ProgressLine on `stream` (stderr) when it is a terminal, else None;
    its line is ended on leaving."""
    stream = stream if stream is not None else sys.stderr
    if not stream.isatty():
        yield None
        return
    line = ProgressLine(stream, verb)
    try:
        yield line
    finally:
        line.close()
