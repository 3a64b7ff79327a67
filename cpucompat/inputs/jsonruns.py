"""Runs of whole rows of a JSON array (or whole members of an object)
decoded by orjson, with the values many rows repeat decoded once.

A million-row Nova dump is a million small objects, each with a cpu_info
that a few dozen distinct CPUs share.  orjson decodes a run of rows (a few
dozen KiB) three times faster than the json module; each distinct cpu_info
text is decoded once and its rows share the value.  A run is taken only
when orjson's reading of it is provably the json module's; otherwise
JsonStream reads it with the json module, as it reads every other value.
A run stays the file's bytes from the read to orjson: the file is never
decoded into text on this path.

Why each step is sound:

* Bytes for text.  orjson refuses what it is given if any byte is not
  UTF-8 (as Python's strict decoder: encoded surrogates and overlong forms
  too), and reads UTF-8 as the json module reads its decoding; a learnt
  text was decoded, strictly, when learnt.  So a run taken is UTF-8, and a
  run holding a byte that is not is refused (to orjson, a cut inside a
  row): the json module reads on from its start, and JsonStream, which
  decodes what the json module reads, refuses the file naming the first
  such byte, the one line a file that is not UTF-8 always gets.  Every
  byte this module looks for or cuts at is ASCII ('{', '}', ',', ':', '"',
  '\\', digits, blanks), and UTF-8 never puts an ASCII byte inside a
  multi-byte sequence: a match on the bytes is a match on the same
  characters of the text, and a piece cut at one is the encoding of the
  text's piece.  Two pieces of UTF-8 are equal, or one starts with the
  other, exactly when their texts are or do.

* The cut.  A run starts where the array expects an element, as
  ``"[" + run + "]"`` does; JSON is read left to right with no look-back,
  so orjson reading the run as whole elements of that array proves that it
  ends where the file's array expects a ',' too.  A cut inside a row fails
  (a bracket or string left open) and the next candidate is tried.
* Members.  A run of an object's members (a mapping of host names) starts
  at a member's key and is cut before a ',' that a '"' follows: a value's
  end, or a piece of a text or of a value's array.  orjson reading
  ``"{" + run + "}"`` as one object proves, by the same left-to-right
  argument, that the run is whole members of the file's object, ending
  where it expects a ','.  Keys given twice are found as in rows (below):
  the object written back out holds as many ':' only if none was dropped
  (with no more ':' than members, each ':' is a member's).  The json
  module reads what a run holds a key the reader must see one at a time.
* Numbers.  orjson reads an integer past 64 bits as a float, where the json
  module keeps it exact; no run holding 19 digits in a row is taken (nor
  read again with its shared values, see below, if they hold some).
* Keys given twice.  orjson keeps one value of a key given twice.  With no
  ':' spelled ``\\u003a`` in the run, the run's ':' are its members' and
  those inside its texts; written back out, the rows hold as many only if
  no member was dropped.  (Rows that are objects holding one member a ':'
  hold them all: a ':' is a member or in a text, so none is left for a
  member dropped.)
* Shared values.  A value text learnt once (an object, array or string,
  which cannot read on past its closing character, decoded by the json
  module with no key given twice) is replaced where it follows the shared
  key's ':' by ``"\\u0000N"``.  That placeholder parses only where a value
  is expected (it follows a ':', never a '\\', and in a string its '"' would
  end the string before a '\\'), and a value read there is read whole from
  the same state: the run parses as its placeholders do.  With no
  ``\\u0000`` in the run, no other text holds a "\\x00".  Which learnt text
  a piece may start with is looked up by a few of its bytes (an index, see
  RunDecoder._index); it is replaced only if it does start with it.
"""
from __future__ import annotations

import codecs
import json
import re
from collections import Counter
from itertools import repeat
from operator import is_, itemgetter, setitem
from typing import Any

__all__ = ["RUN_MOST", "SharedValue", "RunDecoder"]

# Where a run of rows may end: a '}' followed by ',' and another object.  A
# run is cut at the first candidate past _RUN bytes, within RUN_MOST.
_ROW_CUT = re.compile(rb"\}[ \t\n\r]*,[ \t\n\r]*(?=\{)")
# Where a run of members may end: before a ',' followed by a key's '"', and
# (tried first) after the character that closes a value like the run's first.
_MEMBER_CUT = re.compile(rb'[ \t\n\r]*,[ \t\n\r]*(?=")')
_MEMBER_CUTS = {opening: re.compile(rb"(?<=%s)" % re.escape(closing) + _MEMBER_CUT.pattern)
                for opening, closing in ((b"{", b"}"), (b"[", b"]"), (b'"', b'"'))}
_FIRST_VALUE = re.compile(rb'"(?:[^"\\]|\\.)*"[ \t\n\r]*:[ \t\n\r]*(.)', re.DOTALL)
_RUN = 1 << 15
RUN_MOST = 1 << 17  # far below jsonstream.MAX_VALUE_CHARS: no row in a run is one to skip
_TRIES = 4
_HEAD = 64  # bytes of a shared value's text that find its candidates
_LEARN = 1024  # shared texts decoded at most (a fleet has a few dozen CPUs)
_LONGEST = 1 << 14  # bytes of a shared text, at most (a cpu_info is one or two KiB)
_CANDIDATES = 8  # learnt texts starting alike, at most
_WINDOWS = 8  # offsets past the first tried for a window telling the learnt texts apart
_PLACEHOLDER = b'"\\u0000%d"'
_BLANKS = re.compile(rb"[ \t\n\r]*")
_SPELLED = re.compile(rb"\\u00(?:3[aA]|00)")  # ':' or "\x00" as an escape
# orjson reads an integer past 64 bits as a float (a 19-digit one may be):
# a run holding 19 digits in a row is left to the json module
_DIGITS = bytes.maketrans(b"123456789", b"000000000")
_LONG_NUMBER = b"0" * 19


class SharedValue(dict[str, Any]):
    """An object that many rows give as the very same text: one value, shared
    by all of them, so read only.  It hashes by identity, so that a cache of
    what it describes is one lookup a row (a hit still needs equal contents)."""

    __slots__ = ()
    __hash__ = object.__hash__  # type: ignore[assignment]


class _Repeated(Exception):
    pass


def _refuse_repeats(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    mapping = dict(pairs)
    if len(mapping) != len(pairs):
        raise _Repeated
    return mapping


class RunDecoder:
    """Decodes the runs of one file's bytes; `shared` names the rows' member
    whose equal texts share one value."""

    def __init__(self, shared: str | None = None) -> None:
        # a key needing no escape, as Nova's rows write it (a blank before its ':' makes a value unshared)
        self.shared = shared if shared and '"' not in shared and "\\" not in shared else ""
        self.shared_key = f'"{self.shared}":'.encode()
        self.values: dict[str, Any] = {}  # the shared values, by what their placeholder reads as
        self.texts: dict[bytes, list[tuple[bytes, bytes]]] = {}  # first _HEAD bytes: (text, placeholder)
        self.placeholders: dict[bytes, bytes] = {}  # each learnt text: the shared key and its placeholder
        self.only: dict[bytes, bytes] = {}  # see _index
        self.window = itemgetter(slice(0, _HEAD))  # see _index
        self.start = 0
        self.learn = _LEARN
        self.decoder = json.JSONDecoder(object_pairs_hook=_refuse_repeats)
        import orjson  # here, not at start-up: only reading a JSON inventory needs it

        self.loads, self.dumps, self.invalid = orjson.loads, orjson.dumps, orjson.JSONDecodeError

    def decode(self, data: bytes, start: int) -> tuple[list[Any], int] | None:
        """The rows of the run of `data` (UTF-8, checked) starting at `start`
        (an element's '{'), and where the run ends; None when orjson cannot
        vouch for it."""
        cut = _ROW_CUT.search(data, start + _RUN, start + RUN_MOST)
        for _ in range(_TRIES):
            if cut is None:
                return None
            run = data[start:cut.start() + 1]
            if b"\\" in run and _SPELLED.search(run):
                return None  # a ':' or a "\x00" spelled as an escape: see above
            array, count = self._share(run) if self.shared else (b"[" + run + b"]", 0)
            if not self._exact(array):
                return None
            try:
                rows: list[Any] = self.loads(array)
            except self.invalid:
                cut = _ROW_CUT.search(data, cut.end(), start + RUN_MOST)
                continue
            # ':' counted by memchr (bytes.replace's count), not bytes.count's loop a byte
            if not self._members_kept(len(array) - len(array.replace(b":", b"")), rows):
                return None  # a key given twice, perhaps: the json module says
            if count and self._expand(rows) != count:  # a placeholder deeper in a row: read it plainly
                array = b"[" + run + b"]"
                if not self._exact(array):  # the shared values' numbers are read again
                    return None
                try:
                    rows = self.loads(array)
                except self.invalid:  # a shared value orjson would not read (a number past a double's range)
                    return None
            return rows, cut.start() + 1
        return None

    def decode_members(self, data: bytes, start: int) -> tuple[dict[str, Any], int] | None:
        """The members of the run of `data` (UTF-8, checked) starting at
        `start` (a member's key '"') as one object, and where the run ends
        (before its ','); None when orjson cannot vouch for it."""
        first = _FIRST_VALUE.match(data, start, start + RUN_MOST)  # picks the candidates tried: each is checked
        cuts = _MEMBER_CUTS.get(first.group(1), _MEMBER_CUT) if first else _MEMBER_CUT
        cut = cuts.search(data, start + _RUN, start + RUN_MOST)
        for _ in range(_TRIES):
            if cut is None:
                return None
            run = b"{" + data[start:cut.start()] + b"}"
            if b"\\" in run and _SPELLED.search(run):
                return None  # a ':' spelled as an escape: see above
            if not self._exact(run):
                return None
            try:
                members = self.loads(run)
            except self.invalid:  # a cut inside a member: try the next
                cut = cuts.search(data, cut.end(), start + RUN_MOST)
                continue
            if type(members) is not dict or not self._members_kept(len(run) - len(run.replace(b":", b"")),
                                                                    [members]):
                return None  # a key given twice, perhaps: the json module says
            return members, cut.start()
        return None

    @staticmethod
    def _exact(encoded: bytes) -> bool:
        """Whether orjson reads every number of `encoded` as the json module does (see above)."""
        return _LONG_NUMBER not in encoded.translate(_DIGITS)

    def _members_kept(self, colons: int, rows: list[Any]) -> bool:
        """Whether the rows hold every member of the run that held `colons`
        ':' (see above); flat rows of objects, with no ':' in their texts,
        hold one member a ':', counted without writing them out."""
        if set(map(type, rows)) == {dict} and sum(map(len, rows)) == colons:
            return True
        return self.dumps(rows).count(b":") == colons

    def _share(self, run: bytes) -> tuple[bytes, int]:
        """The JSON array of `run`'s rows, with each learnt value following
        the shared key replaced by its placeholder, and how many were; with
        no Python code a piece when each piece's window (see _index) names
        one learnt text and the piece starts with it."""
        pieces = run.split(self.shared_key)  # the bytes before each shared key's ':' and after the last
        after = pieces[1:]
        if not after:
            return b"[" + run + b"]", 0
        try:
            texts = list(map(self.only.__getitem__, map(self.window, after)))
        except KeyError:  # a window not learnt yet, or one that several texts share
            return self._share_each(run, pieces)
        tails = list(map(bytes.removeprefix, after, texts))
        if any(map(is_, tails, after)):  # a piece not starting with its window's text (texts are >= _HEAD long)
            return self._share_each(run, pieces)
        parts = [pieces[0]] * (2 * len(after) + 1)
        parts[1::2] = map(self.placeholders.__getitem__, texts)  # the key and its placeholder
        parts[2::2] = tails
        parts[0] = b"[" + parts[0]
        parts.append(b"]")
        return b"".join(parts), len(after)

    def _share_each(self, run: bytes, pieces: list[bytes]) -> tuple[bytes, int]:
        """`_share` a piece at a time, trying each learnt text whose first
        _HEAD bytes the piece starts with, and learning new ones."""
        candidates = self.texts.get
        learnt = len(self.values)
        count = 0
        for i in range(1, len(pieces)):
            piece = pieces[i]
            for known, placeholder in candidates(piece[:_HEAD], ()):
                if piece.startswith(known):
                    break
            else:
                found = self._learn(piece)
                if found is None:
                    continue
                known, placeholder = found
            pieces[i] = placeholder + piece[len(known):]
            count += 1
        if len(self.values) != learnt:
            self._index()
        if not count:
            return b"[" + run + b"]", 0
        pieces[0] = b"[" + pieces[0]
        pieces[-1] += b"]"
        return self.shared_key.join(pieces), count

    def _index(self) -> None:
        """Index the learnt texts by a window of _HEAD bytes (hashed quickly),
        at the first offset that tells them all apart (or the most of them)
        among the last one chosen and a few multiples of _HEAD within the
        shortest text; a window several texts share is left out."""
        texts = list(self.placeholders)
        last = min(min(map(len, texts)) - _HEAD, _HEAD * _WINDOWS)  # texts are _HEAD bytes or more
        best: tuple[int, Counter[bytes]] | None = None
        for start in dict.fromkeys([min(self.start, last), *range(0, last + 1, _HEAD)]):  # the last one first
            windows = Counter(text[start:start + _HEAD] for text in texts)
            if best is None or len(windows) > len(best[1]):
                best = start, windows
            if len(windows) == len(texts):
                break
        assert best is not None  # last >= 0
        start, windows = best
        self.window, self.start = itemgetter(slice(start, start + _HEAD)), start
        self.only = {text[start:start + _HEAD]: text for text in texts if windows[text[start:start + _HEAD]] == 1}

    def _learn(self, piece: bytes) -> tuple[bytes, bytes] | None:
        """The value's bytes (after blanks) starting `piece` and its
        placeholder, learnt as a shared value; None if it is none to share
        (or enough were learnt)."""
        start = _BLANKS.match(piece).end()  # type: ignore[union-attr]  # matches, if only b""
        if self.learn <= 0 or piece[start:start + 1] not in (b"{", b"[", b'"'):
            return None
        self.learn -= 1
        try:  # a character cut at the end is left out; bytes not UTF-8 are left to orjson to refuse
            text = codecs.utf_8_decode(piece[start:start + _LONGEST], "strict", False)[0]
            value, end = self.decoder.raw_decode(text)
        except (ValueError, RecursionError, _Repeated):  # cut by the run's end, or one for the json module
            return None
        end = start + len(text[:end].encode())
        candidates = self.texts.setdefault(piece[:_HEAD], [])
        if not _HEAD <= end <= _LONGEST or len(candidates) >= _CANDIDATES:
            return None
        learnt = piece[:end], _PLACEHOLDER % len(self.values)
        self.values["\x00%d" % len(self.values)] = SharedValue(value) if type(value) is dict else value
        candidates.append(learnt)
        self.placeholders[learnt[0]] = self.shared_key + learnt[1]
        return learnt

    def _expand(self, rows: list[Any]) -> int:
        """Put each row's shared value in place of its placeholder; how many were."""
        key, values = self.shared, self.values
        try:  # the usual run, every row an object holding a placeholder, with no Python code a row
            shared = list(map(values.__getitem__, map(itemgetter(key), rows)))
        except (KeyError, TypeError):  # a row that is no object, or holds no placeholder there
            pass
        else:
            list(map(setitem, rows, repeat(key), shared))
            return len(rows)
        expanded = 0
        for row in rows:
            try:
                value = row.get(key)
            except AttributeError:  # not an object
                continue
            if value.__class__ is str and value in values:
                row[key] = values[value]
                expanded += 1
        return expanded
