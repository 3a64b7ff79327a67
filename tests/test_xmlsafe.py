"""Hostile XML is refused before it costs anything, with a clear error."""
from __future__ import annotations

import pytest

import cpucompat
from cpucompat.errors import InvalidCpuXml, UnsafeXml
from cpucompat.parse import parse_cpus
from cpucompat.xmlsafe import MAX_DEPTH, parse_xml

XXE = """<?xml version="1.0"?>
<!DOCTYPE cpu [<!ENTITY secret SYSTEM "file:///etc/passwd">]>
<cpu><model>&secret;</model></cpu>"""

BILLION_LAUGHS = """<?xml version="1.0"?>
<!DOCTYPE lolz [
 <!ENTITY lol "lol">
 <!ENTITY lol1 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
 <!ENTITY lol2 "&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;">
 <!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">
 <!ENTITY lol9 "&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;">
]>
<cpu><model>&lol9;</model></cpu>"""

QUADRATIC = ('<?xml version="1.0"?><!DOCTYPE cpu [<!ENTITY a "' + "x" * 50_000 + '">]><cpu><model>'
             + "&a;" * 50_000 + "</model></cpu>")


@pytest.mark.parametrize("payload", [XXE, BILLION_LAUGHS, QUADRATIC], ids=["xxe", "billion-laughs", "quadratic"])
def test_entity_attacks_are_refused(payload):
    with pytest.raises(UnsafeXml, match="DTD or entities") as info:
        parse_cpus(payload, "evil.xml")
    assert "evil.xml" in str(info.value)
    assert "root:" not in str(info.value)  # nothing of /etc/passwd ever read


def test_external_dtd_is_refused():
    with pytest.raises(UnsafeXml):
        parse_xml('<!DOCTYPE cpu SYSTEM "http://127.0.0.1:1/x.dtd"><cpu/>', "remote-dtd.xml")


def test_deep_nesting_is_refused():
    deep = "<a>" * (MAX_DEPTH + 5) + "</a>" * (MAX_DEPTH + 5)
    with pytest.raises(UnsafeXml, match="nested deeper"):
        parse_xml(deep, "deep.xml")


def test_huge_documents_are_refused_before_parsing():
    with pytest.raises(UnsafeXml, match="bytes"):
        parse_xml("<cpu>" + " " * 20 + "</cpu>", "big.xml", max_bytes=10)


def test_files_over_the_limit_are_refused(tmp_path):
    big = tmp_path / "big.xml"
    with big.open("w") as handle:
        handle.write("<cpu>")
        handle.write(" " * (17 * 1024 * 1024))
        handle.write("</cpu>")
    with pytest.raises(InvalidCpuXml, match="larger than"):
        cpucompat.read_cpus(big)


def test_every_xml_reader_in_the_package_uses_the_hardened_parser():
    """No module parses XML on its own (grep the installed package)."""
    from pathlib import Path

    package = Path(cpucompat.__file__).parent
    offenders = []
    for source in package.glob("*.py"):
        if source.name == "xmlsafe.py":
            continue
        text = source.read_text()
        for needle in ("etree.fromstring", "etree.parse", "etree.XML(", "ElementTree", "minidom", "xml.sax.parse"):
            if needle in text:
                offenders.append(f"{source.name}: {needle}")
    assert offenders == []
