"""The one hardened XML parser every reader in cpucompat goes through.

Inputs come from hosts and databases an operator did not write, so:
no entity expansion, no DTD loading, no network, and bounded size and
depth.  A document declaring a DTD or entities is refused outright:
libvirt never emits one, and refusing is the only way to be sure that
billion-laughs or XXE payloads cost nothing.
"""
from __future__ import annotations

from lxml import etree

from .errors import UnsafeXml, InvalidCpuXml

MAX_BYTES = 16 * 1024 * 1024
MAX_DEPTH = 64

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
    head = data[:4096].lower()
    if b"<!doctype" in data.lower() or b"<!entity" in head:
        raise UnsafeXml("document declares a DTD or entities, which cpucompat never reads",
                        source=source)
    try:
        root = etree.fromstring(data, parser=_parser())
    except etree.XMLSyntaxError as exc:
        line = f" (line {exc.lineno})" if getattr(exc, "lineno", None) else ""
        raise InvalidCpuXml(f"not well-formed XML{line}: {exc.msg}", source=source) from None
    except ValueError as exc:  # e.g. str with an encoding declaration
        raise InvalidCpuXml(f"not parseable XML: {exc}", source=source) from None
    _check_depth(root, source)
    return root


def _check_depth(root: etree._Element, source: str) -> None:
    stack = [(root, 1)]
    while stack:
        element, depth = stack.pop()
        if depth > MAX_DEPTH:
            raise UnsafeXml(f"document is nested deeper than {MAX_DEPTH} levels", source=source)
        stack.extend((child, depth + 1) for child in element)


def parse_xml_fragments(text: str, source: str) -> etree._Element:
    """Parse text holding several top-level elements (e.g. concatenated
    <cpu> elements) by wrapping them in one synthetic root."""
    import re

    body = re.sub(r"<\?xml[^>]*\?>", "", text)
    return parse_xml(f"<cpucompat-fragments>{body}</cpucompat-fragments>", source)
