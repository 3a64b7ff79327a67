"""Where a byte of a UTF-8 file is, in lines and characters, counted only
when a message names it.

The json module places its errors by line, column and character; a reader
that keeps a file as bytes would pay a pass over every chunk to keep those
counts.  TextPlaces counts instead the bytes before a place when asked,
reading again (a chunk at a time) those already dropped, and goes on from
there for the next place; a file that cannot be read again (a pipe) is
counted as its bytes are dropped.  A character is counted by its first
byte, so a chunk may end inside one.
"""
from __future__ import annotations

from typing import BinaryIO

__all__ = ["chars", "TextPlaces"]

_CONTINUATION = bytes(range(0x80, 0xC0))  # UTF-8's bytes that start no character


def chars(part: bytes) -> int:
    """How many characters UTF-8 `part` is (one cut at either end counts once)."""
    return len(part.translate(None, _CONTINUATION))  # one leading (or ASCII) byte a character


class TextPlaces:
    """The places of the bytes of `handle`'s file, which a reader keeps from
    byte `dropped` on (see `drop`)."""

    def __init__(self, handle: BinaryIO, chunk: int) -> None:
        self.handle = handle
        self.chunk = chunk
        self.again = handle.seekable()  # whether the dropped bytes can be read again
        # where counting got to: a byte, the characters and newlines before it,
        # and the characters since the last newline
        self.counted = (0, 0, 0, 0)

    def drop(self, dropped: int, kept: bytes, until: int) -> None:
        """The reader drops its bytes up to `until` (it keeps `kept` from
        byte `dropped`): counted now if they cannot be read again."""
        if not self.again:
            self._count(until, dropped, kept)

    def place(self, byte: int, dropped: int, kept: bytes) -> tuple[int, int, int]:
        """Line, column (both from 1) and character (from 0) of `byte` of the
        file, the reader keeping `kept` from byte `dropped` on."""
        self._count(byte, dropped, kept)
        _, characters, lines, column = self.counted
        return lines + 1, column + 1, characters

    def _count(self, until: int, dropped: int, kept: bytes) -> None:
        byte, characters, lines, column = self.counted
        if byte > until and self.again:  # a place before the last one counted (none is, so far)
            byte, characters, lines, column = 0, 0, 0, 0
        if byte < dropped and self.again:
            where = self.handle.tell()
            self.handle.seek(byte)
            while byte < min(dropped, until):
                part = self.handle.read(min(self.chunk, min(dropped, until) - byte))
                if not part:
                    break
                byte, characters, lines, column = _counted(part, byte, characters, lines, column)
            self.handle.seek(where)
        if byte < until:
            byte, characters, lines, column = _counted(kept[byte - dropped:until - dropped], byte, characters,
                                                       lines, column)
        self.counted = byte, characters, lines, column


def _counted(part: bytes, byte: int, characters: int, lines: int, column: int) -> tuple[int, int, int, int]:
    """A count (see TextPlaces.counted) at `byte` moved on past `part`."""
    newline = part.rfind(b"\n")
    column = column + chars(part) if newline < 0 else chars(part[newline + 1:])
    return byte + len(part), characters + chars(part), lines + part.count(b"\n"), column
