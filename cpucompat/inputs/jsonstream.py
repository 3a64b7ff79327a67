"""A large JSON file read a value at a time.

An inventory of a million hosts is one JSON document of hundreds of MB:
decoding it whole keeps every row alive at once (and the garbage collector
rescanning them).  JsonStream reads it a chunk at a time and hands out one
array element or object member at a time, with the json module's own
error positions.  Objects that give a key twice keep the first value and
say which keys repeated, so an inventory can report them.

Runs of whole rows (array elements that are objects), and of whole
members of a mapping, are decoded by orjson a few dozen KiB at a time
(jsonruns); what orjson cannot vouch for is read by the json module,
whose rules and messages stay the file's.

The stream holds the file's bytes: runs go to orjson as bytes, and only
what the json module reads is decoded, from where it starts.  Every byte
is checked to be UTF-8 before the stream moves past it (orjson checks a
run's, decoding the rest; a file that is not is refused, naming the
byte).  Everything the stream looks for between values is ASCII, which
UTF-8 never puts inside a multi-byte sequence, so it is found in the
bytes as in the text.  Lines and characters are counted only for a
message, in the bytes before its place (read again from the file).
"""
from __future__ import annotations

import codecs
import json
import re
from pathlib import Path
from typing import Any, BinaryIO, Callable, Iterator, TypeVar

from ..display import shown
from ..errors import InvalidInventory, UnknownInputFormat
from .jsonruns import RUN_MOST, RunDecoder
from .textplace import TextPlaces, chars

__all__ = ["RepeatedKeys", "mapping_of", "JsonStream"]

_Run = TypeVar("_Run")  # what a run decodes to: rows (a list) or members (a dict)

_JSON_BLANK = re.compile(rb"[ \t\n\r]*")
_COMMA = re.compile(rb"[ \t\n\r]*,[ \t\n\r]*")
_SIMPLE_KEY = re.compile(rb'"([^"\\\x00-\x1f]*)"[ \t\n\r]*:[ \t\n\r]*')  # no escapes: the text is the key
_CUT = 64  # a value ending, or failing, this close to the end of what is read may go on after it
_IN_STRING = re.compile(rb'["\\]')
_STRUCTURE = re.compile(rb'["\[\]{}]')
# what ends a number or a word: the UTF-8 of the text's [,\]}\s] (str's \s is these blanks
# and Unicode's); each branch starts with ASCII or a leading byte, so it matches whole characters
_SCALAR_END = re.compile(rb"[,\]}\s\x1c-\x1f]|\xc2[\x85\xa0]|\xe1\x9a\x80|\xe2\x80[\x80-\x8a\xa8\xa9\xaf]"
                         rb"|\xe2\x81\x9f|\xe3\x80\x80")
# A host's description is a few KiB (a cpu_info) to ~100 KiB (capabilities
# XML): one past this many characters is not read, so no row of a file
# makes memory grow with its size.
MAX_VALUE_CHARS = 1 << 20
# A host's name (an object's key) is kept exact however odd, up to this
# many characters; past it the file is refused.
MAX_KEY_CHARS = 16 << 20


class SkippedValue(InvalidInventory):
    """A value the stream moved past without reading (too large, or holding
    an integer too long to read): only what it describes is unreadable.
    `detail` says why and where, without the file's name."""

    detail = ""


class Unreadable:
    """Stands in for a value a reader could not turn into data (an integer
    of thousands of digits, a text past MAX_VALUE_CHARS), so that only the
    host holding it is unreadable; `reason` says why."""

    __slots__ = ("reason",)

    def __init__(self, reason: str) -> None:
        self.reason = reason

    def __repr__(self) -> str:
        return f"<unreadable: {self.reason}>"

    __str__ = __repr__


class RepeatedKeys(dict[str, Any]):
    """A JSON or YAML object that gave some keys twice: the first value of each
    is kept, and the repeated keys are listed so they can be reported."""

    __slots__ = ("repeated",)
    repeated: tuple[str, ...]


def mapping_of(pairs: list[tuple[str, Any]], noted: list[bool] | None = None) -> dict[str, Any]:
    """A dict of `pairs`; when a key repeats, a RepeatedKeys one (and `noted` gets True)."""
    mapping = dict(pairs)
    if len(mapping) == len(pairs):
        return mapping
    if noted is not None:
        noted.append(True)
    first: dict[str, Any] = {}
    repeated = []
    for key, value in pairs:
        if key in first:
            repeated.append(key)
        else:
            first[key] = value
    mapping = RepeatedKeys(first)
    mapping.repeated = tuple(dict.fromkeys(repeated))
    return mapping


class JsonStream:
    """The JSON values of a file, read a chunk at a time and decoded one
    array element or object member at a time (a million hosts never sit in
    memory as one document, nor as the file's text).

    `element` names what is being read ("row 12", or ("host", name):
    formatted with `shown` only when a message needs it), for error messages;
    `repeats` counts the objects so far that gave a key twice.  Rows whose
    member `shared` (Nova's cpu_info) holds the same text share one value
    (read only), decoded once.
    """

    chunk = 1 << 22  # bytes read at a time: 4 MiB

    def __init__(self, handle: BinaryIO, path: Path, on_read: Callable[[int], None] | None = None,
                 shared: str | None = None) -> None:
        self.handle = handle
        self.on_read = on_read  # told the bytes read so far after each chunk
        self.path = path
        self.data = b""  # the bytes read and not dropped (UTF-8 before self.pos)
        self.pos = 0  # in self.data
        self.eof = False
        self.read_bytes = 0
        self.dropped = 0  # bytes read and dropped before self.data
        self.places = TextPlaces(handle, self.chunk)  # lines and characters, counted for messages
        self.text = ""  # self.data decoded from byte self.text_at on, for the json module (see _text)
        self.text_at = -1  # -1: not decoded since the last read
        self.text_end = 0  # the byte after its last character
        self.text_ascii = True  # whether it is ASCII (a character a byte)
        self.mark = (0, 0)  # a byte of self.data and its character in self.text
        self.element: str | tuple[str, str] = ""
        self.repeats = 0
        self.decoder = json.JSONDecoder(object_pairs_hook=self._as_dict)
        self.runs = RunDecoder(shared)
        self.exact_until = 0  # in bytes of the file: the json module reads up to there

    def _as_dict(self, pairs: list[tuple[str, Any]]) -> dict[str, Any]:  # the hook of every object: kept cheap
        mapping = dict(pairs)
        if len(mapping) == len(pairs):
            return mapping
        self.repeats += 1
        return mapping_of(pairs)

    def _more(self, at_least: int = 0) -> bool:
        """Drop what was read and append the next chunk (`at_least` bytes, so
        that a long value is read in doubling steps, not decoded again for
        every chunk); False at the end of the file."""
        if self.eof:
            return False
        data = self.handle.read(max(self.chunk, at_least))
        self.read_bytes += len(data)
        self.eof = not data
        if self.on_read is not None:
            self.on_read(self.read_bytes)
        self.places.drop(self.dropped, self.data, self.dropped + self.pos)
        self.dropped += self.pos
        self.data = self.data[self.pos:] + data
        self.pos = 0
        self.text_at = -1
        return bool(data)

    def _not_utf8(self, pos: int) -> UnknownInputFormat:
        return UnknownInputFormat(f"not UTF-8 text (byte {self.dropped + pos})", source=str(self.path))

    def _text(self) -> tuple[str, int]:
        """The bytes from the position on decoded (to the last whole
        character read), and the position's index in that text: decoded
        once a read, for the json module (decoding checks they are UTF-8)."""
        if self.text_at < 0 or self.pos < self.text_at:
            try:
                self.text, used = codecs.utf_8_decode(memoryview(self.data)[self.pos:], "strict", self.eof)
            except UnicodeDecodeError as exc:
                raise self._not_utf8(self.pos + exc.start) from None
            self.text_at, self.text_end, self.text_ascii = self.pos, self.pos + used, len(self.text) == used
            self.mark = (self.pos, 0)
        if self.text_ascii:
            return self.text, self.pos - self.text_at
        byte, char = self.mark
        char += chars(self.data[byte:self.pos])
        self.mark = (self.pos, char)
        return self.text, char

    def _byte(self, char: int) -> int:
        """The byte of self.data where character `char` of self.text (at or
        after the mark: where the json module started) starts."""
        if self.text_ascii:
            return self.text_at + char
        byte, marked = self.mark
        return byte + len(self.text[marked:char].encode())

    def skip(self, blank: re.Pattern[bytes] | re.Pattern[str] = _JSON_BLANK) -> str:
        """Skip blanks (JSON's, or those `blank` matches in the text); the
        next character, or "" at the end of the file."""
        while True:
            if isinstance(blank.pattern, bytes):
                blanks = blank.match(self.data, self.pos)  # matches, if only b""
                self.pos = blanks.end() if blanks else self.pos
                if self.pos < len(self.data) and self.data[self.pos] < 0x80:
                    return chr(self.data[self.pos])
            else:
                text, char = self._text()
                found = blank.match(text, char)  # matches, if only ""
                char = found.end() if found else char
                self.pos = self._byte(char)
                if char < len(text):
                    return text[char]
            if self.pos < len(self.data) and isinstance(blank.pattern, bytes):
                text, char = self._text()  # a character not ASCII
                if char < len(text):
                    return text[char]
            if not self._more():
                return ""

    def value(self, limit: int = MAX_VALUE_CHARS) -> Any:
        """The JSON value at the current position.

        A value larger than `limit` characters, or holding an integer too
        long to read, is passed over without being kept whole: SkippedValue
        says why, and the stream goes on after it.
        """
        while True:
            if self.text_at >= 0 and self.text_ascii and self.pos >= self.text_at:  # _text's usual case, inline
                text, start = self.text, self.pos - self.text_at
            else:
                text, start = self._text()
            try:
                value, end = self.decoder.raw_decode(text, start)
            except json.JSONDecodeError as exc:
                # a value cut by the end of a chunk fails near that end, or
                # as a string never closed: read on and decode it again
                near_end = exc.pos >= len(text) - _CUT or exc.msg.startswith("Unterminated string")
                if near_end and not self.eof:
                    if len(text) - start > limit:
                        raise self._skipped(f"larger than {limit >> 20} MiB of text, not read")
                    self._more(len(self.data) - self.pos)
                    continue
                raise self.error(exc.msg, self._byte(exc.pos)) from None
            except RecursionError:  # thousands of nested brackets: the value's end cannot be found
                raise self.error("nested too deeply to be read", self.pos) from None
            except ValueError:  # Python reads integers of at most 4300 digits (sys.get_int_max_str_digits)
                raise self._skipped("holds an integer too long to read") from None
            if end >= len(text) - _CUT and not self.eof:  # 1|2.5 or 1.|25: a number may go on
                self._more(len(self.data) - self.pos)
                continue
            if end - start > limit:
                raise self._skipped(f"larger than {limit >> 20} MiB of text, not read")
            if self.text_ascii:
                self.pos = self.text_at + end
            else:
                self.pos = self._byte(end)
                self.mark = (self.pos, end)
            return value

    def _skipped(self, reason: str) -> SkippedValue:
        """Move past the value at the current position, keeping at most a
        chunk of it, and say why it was not read."""
        line, column, char = self._place(self.pos)
        element = f"{self._element()}: " if self.element else ""
        self._skip()
        skipped = SkippedValue(f"{element}{reason} (line {line} column {column}, char {char})", source=str(self.path))
        skipped.detail = f"{reason} (line {line} column {column}, char {char})"
        return skipped

    def _skip(self) -> None:
        """Move past the value at the current position without decoding it:
        strings and brackets are followed, nothing is kept."""
        self._text()  # what it moves past is checked to be UTF-8, a read at a time
        pos = self.pos
        if self.data[pos] not in b'"[{':  # a number or a word: it ends at a delimiter
            while (end := _SCALAR_END.search(self.data, pos)) is None:
                self.pos = self.text_end  # a character cut by the read's end is kept
                if not self._more():
                    return
                self._text()
                pos = 0
            self.pos = end.start()
            return
        depth, in_string = 0, False
        while True:
            found = (_IN_STRING if in_string else _STRUCTURE).search(self.data, pos)
            if found is None:
                if self.eof:
                    raise self.error("Unterminated value", len(self.data))
                carry = max(0, pos - self.text_end)  # an escaped character past the end
                self.pos = self.text_end  # a character cut by the read's end is kept
                self._more()
                self._text()
                pos = carry
                continue
            if found.end() >= len(self.data) and not self.eof:  # a backslash's character may be next
                self.pos = found.start()
                self._more()
                self._text()
                pos = 0
                continue
            char, pos = found.group(), found.end()
            if in_string:
                if char == b"\\":
                    pos += 1  # the escaped character's first byte: the rest of it is none of '"', '\\'
                    continue
                in_string = False
            elif char == b'"':
                in_string = True
                continue
            elif char in b"[{":
                depth += 1
                continue
            else:
                depth -= 1
            if depth == 0:
                self.pos = pos
                return

    def members(self, close: str) -> Iterator[list[Any] | None]:
        """Step through the array or object opening at the current position:
        yields None before each element (or member), which the caller then
        reads, or (in an array) a list of elements read already."""
        self.pos += 1
        if self.skip() == close:
            self.pos += 1
            return
        while True:
            yield self._run() if close == "]" else None
            comma = _COMMA.match(self.data, self.pos)
            if comma and comma.end() < len(self.data):  # the usual case, in one step
                self.pos = comma.end()
                continue
            following = self.skip()
            if following == close:
                self.pos += 1
                return
            if following != ",":
                raise self.error("Expecting ',' delimiter", self.pos)
            self.pos += 1
            self.skip()

    def _run(self) -> list[Any] | None:
        """The run of whole rows (objects) at the current position, decoded
        by orjson from the bytes (see jsonruns), with the stream moved past
        them; None where the json module reads on (a failed run is read by
        it to its end)."""
        return self._decoded_run(b"{", self.runs.decode)

    def member_run(self, refused: tuple[str, ...] = ()) -> dict[str, Any] | None:
        """The run of whole members at the current position (an object's
        key), decoded by orjson from the bytes as one object with no key
        given twice (see jsonruns), with the stream moved past them; None
        where the json module reads on: a failed run, or one holding a key
        of `refused` (each read member by member, to the run's end)."""
        return self._decoded_run(b'"', self.runs.decode_members,
                                 lambda members: not any(key in members for key in refused))

    def _decoded_run(self, opening: bytes, decode: Callable[[bytes, int], tuple[_Run, int] | None],
                     accept: Callable[[_Run], bool] | None = None) -> _Run | None:
        """What `decode` makes of the run at the current position (`opening`
        there), the stream moved past it; None, the json module reading on
        to the run's end, when it makes nothing or `accept` refuses it."""
        if self.dropped + self.pos < self.exact_until or self.data[self.pos:self.pos + 1] != opening:
            return None
        if len(self.data) - self.pos < 2 * RUN_MOST:
            self._more(2 * RUN_MOST)
        start = self.pos
        decoded = decode(self.data, start)
        if decoded is None or (accept is not None and not accept(decoded[0])):
            self.exact_until = self.dropped + start + RUN_MOST
            return None
        run, self.pos = decoded
        return run

    def key(self) -> str:
        """An object member's key, and its ':'."""
        if self.skip() != '"':
            raise self.error("Expecting property name enclosed in double quotes", self.pos)
        simple = _SIMPLE_KEY.match(self.data, self.pos)
        if simple and simple.end() < len(self.data):  # the usual case, in one step
            try:
                key = simple.group(1).decode()  # whole characters, if UTF-8: it ends at an ASCII '"'
            except UnicodeDecodeError as exc:
                raise self._not_utf8(simple.start(1) + exc.start) from None
            self.pos = simple.end()
            return key
        try:
            escaped: str = self.value(MAX_KEY_CHARS)  # it starts with '"': a JSON string
        except SkippedValue as exc:  # what follows it cannot be told apart: the file is refused
            raise InvalidInventory(f"a key {exc.detail}", source=str(self.path)) from None
        if self.skip() != ":":
            raise self.error("Expecting ':' delimiter", self.pos)
        self.pos += 1
        self.skip()
        return escaped

    def _element(self) -> str:
        """`element` as a message says it."""
        if isinstance(self.element, str):
            return self.element
        kind, name = self.element
        return f"{kind} {shown(name)}"

    def _place(self, pos: int) -> tuple[int, int, int]:
        """Line, column and character of byte `pos` of self.data in the file,
        counted in characters as the json module counts them."""
        return self.places.place(self.dropped + pos, self.dropped, self.data)

    def error(self, message: str, pos: int) -> InvalidInventory:
        """`message` at byte `pos` of self.data, placed in the file as the json module places it."""
        line, column, char = self._place(pos)
        return InvalidInventory(f"invalid JSON{' in ' + self._element() if self.element else ''}: {message}: "
                                f"line {line} column {column} (char {char})", source=str(self.path))

