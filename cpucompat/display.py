"""How untrusted text (host, model and feature names, reasons) is shown.

Names come from hosts and databases nobody here wrote: a 10 MB model name
must not flood a log, and control characters, ANSI escapes or a bidi
override (U+202E) must not rewrite the operator's terminal or reverse a
report's text.  `clip` bounds the length, `escape` makes every such
character visible as a ``\\x..``/``\\u....`` escape, `shown` does both.
"""
from __future__ import annotations

import re

__all__ = ["clip", "escape", "shown", "MAX_SHOWN", "MAX_MESSAGE"]

MAX_SHOWN = 200  # a name
MAX_MESSAGE = 1000  # a whole message or reason: a path, a problem and a few names
ELLIPSIS = "…"

# C0 and C1 controls, DEL, the bidi embeddings, overrides, isolates and
# marks, the line and paragraph separators, and lone surrogates (which
# cannot be encoded at all).
_UNSAFE = re.compile("[\x00-\x1f\x7f-\x9f\u061c\u200e\u200f\u2028-\u202e\u2066-\u2069\ud800-\udfff]")


def clip(text: str, limit: int = MAX_SHOWN) -> str:
    """`text` cut to at most `limit` characters, the cut marked with an ellipsis."""
    return text if len(text) <= limit else text[:limit - 1] + ELLIPSIS


def _escaped(match: re.Match[str]) -> str:
    code = ord(match.group())
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def escape(text: str) -> str:
    """`text` with control, bidi and surrogate characters written as escapes."""
    return _UNSAFE.sub(_escaped, text)


def shown(text: object, limit: int = MAX_SHOWN) -> str:
    """An untrusted value as it may appear in a message: clipped, then escaped."""
    return escape(clip(str(text), limit))
