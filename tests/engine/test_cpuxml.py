"""One XML writer: CPUs and results as libvirt XML, names escaped by lxml."""
from __future__ import annotations

import pytest
from lxml import etree

import cpucompat
from cpucompat.inputs.parse import parse_cpuid_dumps
from cpucompat.nova.guest import guest_cpu, guest_cpu_xml

HOST = cpucompat.Cpu(model="Haswell-noTSX", vendor="Intel", arch="x86_64", features=(("vmx", "require"),),
                     signature=(6, 60, 3), match=None)


def canonical(xml: str) -> bytes:
    """The document without layout: an empty element is <cpu/> or <cpu>\n</cpu> alike."""
    root = etree.fromstring(xml)
    for element in root.iter():
        element.text = (element.text or "").strip() or None
        element.tail = None
    return etree.tostring(root, method="c14n")


@pytest.mark.parametrize("name", ["a'b", "a<b", "a&b\"c", "]]>"])
def test_a_name_with_quotes_or_markup_gives_well_formed_xml_naming_it_exactly(name):
    guest = cpucompat.Cpu(model=name, vendor=name, features=((name, "require"),))
    root = etree.fromstring(guest.to_xml())
    assert root.findtext("model") == root.findtext("vendor") == root.find("feature").get("name") == name
    host = cpucompat.Cpu(model=name, arch="x86_64", features=((name, "require"),))
    assert etree.fromstring(host.to_xml()).find("feature").get("name") == name


def test_a_guest_cpu_reads_back_as_the_same_value():
    guest = cpucompat.Cpu(model="Haswell-noTSX", vendor="Intel", match="strict", fallback="forbid",
                          features=(("vmx", "require"), ("avx2", "disable")))
    assert cpucompat.parse_cpus(guest.to_xml())[0] == guest


def test_a_host_cpu_is_written_as_capabilities_show_it_and_reads_back():
    assert HOST.to_xml() == ('<cpu>\n  <arch>x86_64</arch>\n  <model>Haswell-noTSX</model>\n  <vendor>Intel</vendor>\n'
                             '  <signature family="6" model="60" stepping="3"/>\n  <feature name="vmx"/>\n</cpu>\n')
    assert cpucompat.parse_cpus(HOST.to_xml())[0] == HOST


def test_a_baseline_is_written_as_its_guest_cpu_or_with_every_feature():
    result = cpucompat.baseline([HOST, cpucompat.Cpu(model="Skylake-Client-noTSX-IBRS", vendor="Intel",
                                                     arch="x86_64")])
    assert cpucompat.parse_cpus(result.to_xml())[0] == result.as_cpu()
    full = cpucompat.parse_cpus(result.to_xml(expanded=True))[0]
    assert full.feature_names("require") == list(result.expanded)
    assert full.feature_names("disable") == list(result.disabled)


@pytest.mark.parametrize("cpu", [
    guest_cpu("host-model", flags=[("mpx", "disable")]),
    guest_cpu("host-passthrough"),
    cpucompat.Cpu(model="Haswell", vendor="Intel", features=(("vmx", "require"),)),
    cpucompat.Cpu(mode="host-passthrough", match=None, migratable=False),
])
def test_the_writer_gives_novas_guest_cpu_xml(cpu):
    assert canonical(cpu.to_xml()) == canonical(guest_cpu_xml(cpu))
    if cpu.mode == "custom":
        assert cpu.to_xml(mode_attributes=False) == guest_cpu_xml(cpu, libvirt_version=(0, 9, 9))


def test_a_cpuid_dump_is_written_as_cpudata_and_reads_back():
    x86 = cpucompat.embedded_cpu_map().x86
    from cpucompat.engine.cpuid import encode_dump

    dump = encode_dump(x86, x86.model("Skylake-Server").features, "Intel", (6, 85, 4))
    assert dump.to_xml().startswith('<cpudata arch="x86">\n  <cpuid eax_in="0x00000000" ecx_in="0x00"')
    assert parse_cpuid_dumps(dump.to_xml(), "dump")[0] == dump
