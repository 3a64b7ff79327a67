"""The one hardened XML parser every reader in cpucompat goes through.

Inputs come from hosts and databases an operator did not write, so:
no entity expansion, no DTD loading, no network, and bounded size, tag
count and depth.  A document declaring a DTD or entities is refused
outright: libvirt never emits one, and refusing is the only way to be sure
that billion-laughs or XXE payloads cost nothing.  The declaration is
looked for in the text and, whatever the document's encoding, in the
parsed tree; only encodings libvirt's files can be in are read (UTF-8,
ASCII, ISO-8859-1): another declared encoding, a UTF-16 or UTF-32 byte
order mark, or a NUL byte among the first four (BOM-less UTF-16 or
UTF-32) is refused before parsing.
"""
from __future__ import annotations

import re

from lxml import etree

from .display import shown
from .errors import InvalidCpuXml, UnsafeXml

MAX_BYTES = 16 * 1024 * 1024
# Real inputs have at most a few thousand tags (libvirt's legacy cpu_map.xml:
# ~1,400; a large host's capabilities: a few thousand); counting '<' bounds
# the tags before lxml builds a tree of them (4 million empty elements cost
# over 1 GB).
MAX_TAGS = 200_000
MAX_DEPTH = 64
# libvirt writes UTF-8; ASCII and ISO-8859-1 read the same for its files.
# Anything else (UTF-7, UTF-16, EBCDIC) would hide markup from the text check.
ENCODINGS = frozenset({"utf-8", "utf8", "us-ascii", "ascii", "iso-8859-1", "iso_8859-1", "latin1", "latin-1"})
# UTF-16 and UTF-32 hide their declaration from _DECLARED_ENCODING too.  They
# are told by their byte order mark (FF FE: UTF-16 LE and UTF-32 LE; FE FF:
# UTF-16 BE) or by a NUL among the first four bytes (UTF-32 BE's mark, and
# "<" in any of them without a mark); no XML in UTF-8 starts with a NUL.
_WIDE_BOMS = (b"\xff\xfe", b"\xfe\xff")
_DECLARED_ENCODING = re.compile(rb"^(?:\xef\xbb\xbf)?\s*<\?xml[^>]*?\bencoding\s*=\s*[\"']([^\"']*)[\"']")

_PARSER_OPTIONS = dict(
    resolve_entities=False,
    no_network=True,
    load_dtd=False,
    dtd_validation=False,
    huge_tree=False,
    remove_comments=True,
    remove_pis=True,
)


def _parser() -> etree.XMLParser:
    # lxml parsers are not thread-safe; a fresh one per call is cheap.
    return etree.XMLParser(**_PARSER_OPTIONS)


def parse_xml(text: str | bytes, source: str, *, max_bytes: int = MAX_BYTES) -> etree._Element:
    """Parse one XML document safely and return its root element.

    Raises UnsafeXml for DTDs, entities, oversize or overdeep input and
    InvalidCpuXml for anything lxml cannot parse, both naming `source`.
    """
    data = text.encode("utf-8") if isinstance(text, str) else bytes(text)
    if len(data) > max_bytes:
        raise UnsafeXml(f"document is {len(data)} bytes, more than the {max_bytes} allowed",
                        source=source)
    if data.startswith(_WIDE_BOMS) or b"\x00" in data[:4]:
        raise UnsafeXml("document is in a UTF-16 or UTF-32 encoding (a byte order mark or NUL bytes at its "
                        "start); cpucompat reads UTF-8, ASCII or ISO-8859-1", source=source)
    nul = data.find(b"\x00")
    if nul >= 0:  # XML allows no NUL anywhere; said here, in one line with its place
        raise InvalidCpuXml(f"not well-formed XML at {_place(data, nul)}: a NUL byte, which XML text never "
                            "holds", source=source)
    declared = _DECLARED_ENCODING.match(data[:1024])
    if declared and declared.group(1).decode("ascii", "replace").lower() not in ENCODINGS:
        raise UnsafeXml(f"document declares encoding {shown(repr(declared.group(1).decode('ascii', 'replace')))}; "
                        "cpucompat reads UTF-8, ASCII or ISO-8859-1", source=source)
    if b"<!doctype" in data.lower() or b"<!entity" in data[:4096].lower():
        raise _dtd_refused(source)
    tags = data.count(b"<")
    if tags > MAX_TAGS:
        raise UnsafeXml(f"document has {tags} tags, more than the {MAX_TAGS} allowed", source=source)
    try:
        root = etree.fromstring(data, parser=_parser())
    except etree.XMLSyntaxError as exc:
        if "Excessive depth" in str(exc.msg):  # libxml2's own limit (256) was hit first
            raise _too_deep(source) from None
        raise _not_well_formed(exc, source) from None
    except ValueError as exc:  # e.g. str with an encoding declaration
        raise InvalidCpuXml(f"not parseable XML: {shown(exc)}", source=source) from None
    docinfo = root.getroottree().docinfo
    if docinfo.internalDTD is not None or docinfo.doctype or docinfo.system_url:
        raise _dtd_refused(source)  # declared in a form the text check cannot see
    _check_depth(root, source)
    return root


def _place(data: bytes, offset: int) -> str:
    line = data.count(b"\n", 0, offset) + 1
    column = offset - data.rfind(b"\n", 0, offset)
    return f"line {line}, column {column} (byte {offset})"


# lxml appends ", line L, column C" to libxml2's message, which may itself
# end in a newline; the place is given once, from the exception
_LXML_PLACE = re.compile(r"[\s,]*line \d+, column \d+\s*$")
# libxml2's advice for its 10,000,000-byte limit on a name, text or
# attribute value names a parser option cpucompat never sets
_HUGE_ADVICE = re.compile(r",?\s*try XML_PARSE_HUGE")


def _not_well_formed(exc: etree.XMLSyntaxError, source: str) -> InvalidCpuXml:
    """libxml2's complaint in one line: where, then what (clipped and
    escaped: it may quote names from the document)."""
    message = " ".join(_HUGE_ADVICE.sub("", _LXML_PLACE.sub("", str(exc.msg or exc))).split())
    if "limit exceeded" in message:
        message += " (a name, text or attribute value longer than 10,000,000 bytes)"
    line, column = exc.position if getattr(exc, "position", None) else (exc.lineno, None)
    place = f" at line {line}" + (f", column {column}" if column else "") if line else ""
    return InvalidCpuXml(f"not well-formed XML{place}: {shown(message)}", source=source)


def _dtd_refused(source: str) -> UnsafeXml:
    return UnsafeXml("document declares a DTD or entities, which cpucompat never reads", source=source)


def _too_deep(source: str) -> UnsafeXml:
    return UnsafeXml(f"document is nested deeper than {MAX_DEPTH} levels", source=source)


def _check_depth(root: etree._Element, source: str) -> None:
    stack = [(root, 1)]
    while stack:
        element, depth = stack.pop()
        if depth > MAX_DEPTH:
            raise _too_deep(source)
        stack.extend((child, depth + 1) for child in element)


def parse_xml_fragments(text: str, source: str) -> etree._Element:
    """Parse text holding several top-level elements (e.g. concatenated
    <cpu> elements) by wrapping them in one synthetic root."""
    import re

    body = re.sub(r"<\?xml[^>]*\?>", "", text)
    return parse_xml(f"<cpucompat-fragments>{body}</cpucompat-fragments>", source)
