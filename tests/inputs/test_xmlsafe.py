"""Hostile XML is refused before it costs anything, with a clear error."""
from __future__ import annotations

import pytest

import cpucompat
from cpucompat.errors import InvalidCpuXml, UnsafeXml
from cpucompat.inputs.parse import parse_cpus
from cpucompat.xmlsafe import MAX_DEPTH, MAX_TAGS, parse_xml

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


UTF7_DTD = ('<?xml version="1.0" encoding="UTF-7"?>+ADw-!DOCTYPE cpu +AFs-+ADw-!ENTITY x "hello"+AD4-+AF0-+AD4-'
            '+ADw-cpu+AD4-+ADw-model+AD4-+ACY-x+ADs-+ADw-/model+AD4-+ADw-/cpu+AD4-')


@pytest.mark.parametrize("payload", [UTF7_DTD.encode("ascii"),
                                     '<!DOCTYPE cpu [<!ENTITY x "hi">]><cpu>&x;</cpu>'.encode("utf-16"),
                                     '<!DOCTYPE cpu [<!ENTITY x "hi">]><cpu>&x;</cpu>'.encode("utf-32")],
                         ids=["utf-7", "utf-16", "utf-32"])
def test_a_dtd_hidden_by_another_encoding_is_refused(payload):
    with pytest.raises(UnsafeXml, match="DTD or entities|encoding"):
        parse_xml(payload, "evil.xml")


def test_only_encodings_libvirt_files_use_are_read():
    assert parse_xml(b'<?xml version="1.0" encoding="ISO-8859-1"?><cpu/>', "latin.xml").tag == "cpu"
    assert parse_xml(b"<?xml version='1.0' encoding='utf-8'?><cpu/>", "utf8.xml").tag == "cpu"
    with pytest.raises(UnsafeXml, match="encoding 'UTF-7'"):
        parse_xml(b'<?xml version="1.0" encoding="UTF-7"?><cpu/>', "utf7.xml")


@pytest.mark.parametrize("encoding", ["utf-16", "utf-16-le", "utf-16-be", "utf-32", "utf-32-le", "utf-32-be"])
@pytest.mark.parametrize("declaration", ["", '<?xml version="1.0" encoding="UTF-16"?>'], ids=["plain", "declared"])
def test_utf16_and_utf32_are_refused_with_or_without_a_byte_order_mark(encoding, declaration):
    """The declaration check cannot see a declaration in them: they are
    refused as a whole, not parsed (as lxml would) on trust."""
    with pytest.raises(UnsafeXml, match="UTF-16 or UTF-32 encoding") as info:
        parse_xml((declaration + "<cpu><model>Nehalem</model></cpu>").encode(encoding), "wide.xml")
    assert str(info.value).startswith("wide.xml: ")


def test_a_utf8_byte_order_mark_is_read():
    assert parse_xml(b"\xef\xbb\xbf<cpu/>", "bom.xml").tag == "cpu"


def test_deeper_than_libxml2_allows_gets_our_message():
    deep = "<a>" * 300 + "</a>" * 300
    with pytest.raises(UnsafeXml, match=f"nested deeper than {MAX_DEPTH} levels"):
        parse_xml(deep, "deep.xml")


def test_many_elements_are_refused_before_a_tree_is_built():
    flood = "<r>" + "<a/>" * (4 * 1024 * 1024 - 4) + "</r>"  # just under 16 MiB
    # the tags are counted in the text, all of them, before lxml builds
    # anything (building this tree took 7.7 s and 1.16 GB)
    with pytest.raises(UnsafeXml, match=f"has {4 * 1024 * 1024 - 2} tags, more than the {MAX_TAGS} allowed"):
        parse_xml(flood, "flood.xml")


def test_real_libvirt_files_are_well_within_the_limits():
    from pathlib import Path

    maps = Path(cpucompat.embedded_cpu_map().source)
    files = list(maps.glob("*.xml")) + list((Path(__file__).parents[1] / "data").rglob("*.xml"))
    assert max(path.read_bytes().count(b"<") for path in files) * 50 < MAX_TAGS


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
    for source in package.rglob("*.py"):
        if source.name == "xmlsafe.py":
            continue
        text = source.read_text()
        for needle in ("etree.fromstring", "etree.parse", "etree.XML(", "ElementTree", "minidom", "xml.sax.parse"):
            if needle in text:
                offenders.append(f"{source.name}: {needle}")
    assert offenders == []


@pytest.mark.parametrize("document, place", [
    (b"<cpu>\n  <model>Skylake\x00</model>\n</cpu>", "at line 2, column 17 (byte 22): a NUL byte"),
    (b"<cpu a='\x00'/>", "at line 1, column 9 (byte 8): a NUL byte"),
    ("<cpu><model a='" + "x" * 10_000_001 + "'/></cpu>", "at line 1, column 1000"),
    ("<cpu>\n<model>" + "x" * 10_000_001 + "</model></cpu>", "at line 2, column 1000"),
    ("<cpu>\n<" + "B" * 40_000 + "></" + "C" * 40_000 + "></cpu>", "at line 2, column 80"),
    ("<cpu><model>\x01</model></cpu>", "at line 1, column 13"),
])
def test_broken_xml_is_one_line_with_the_file_and_the_place(document, place):
    """libxml2's messages end in a newline and quote the document's names:
    the error is one line, clipped, with the place once."""
    with pytest.raises(InvalidCpuXml) as info:
        parse_xml(document, "broken.xml")
    message = str(info.value)
    assert message.startswith("broken.xml: not well-formed XML ") and place in message
    assert "\n" not in message and len(message) < 400
    assert "XML_PARSE_HUGE" not in message and message.count("line") == 1
