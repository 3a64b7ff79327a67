"""Every way a CPU is described becomes the same kind of value.

The files in tests/data/inputs/ were read off one machine (an AMD EPYC
VM): libvirt 9.0.0's capabilities and domain capabilities, its
/proc/cpuinfo, and the cpu_info JSON Nova would store for it.
"""
from __future__ import annotations

import json
from pathlib import Path

import pytest

import cpucompat
from cpucompat.engine.maps import resolve_map_spec
from cpucompat import InvalidCpuXml, UnknownInputFormat
from cpucompat.engine.cpuid import encode_dump
from cpucompat.engine.compare import features_of
from cpucompat.inputs.parse import detect_format, parse_cpu_info, parse_cpus, read_cpus

INPUTS = Path(__file__).resolve().parents[1] / "data" / "inputs"
MAP9 = resolve_map_spec("9.0.0")  # the facts below are libvirt 9.0.0's (the default map is newer)


def test_capabilities_give_the_host_cpu():
    host = read_cpus(INPUTS / "amd-vm-capabilities.xml")[0]
    assert host.is_host and host.arch == "x86_64"
    assert (host.model, host.vendor, host.signature) == ("kvm64", "AMD", (25, 17, 1))
    assert ("avx512f", "require") in host.features


def test_domain_capabilities_give_the_host_model_guest_cpu():
    guest = read_cpus(INPUTS / "amd-vm-domcapabilities.xml")[0]
    assert not guest.is_host and guest.mode == "custom" and guest.match == "exact"
    assert guest.model == "kvm64" and guest.fallback == "forbid"
    assert ("pni", "disable") in guest.features and ("invtsc", "require") in guest.features


def test_kvm_host_model_has_msr_features_the_capabilities_cpu_lacks():
    """Real data, known corner case: on AMD, KVM emulates the
    arch-capabilities MSR for guests, so QEMU's host-model lists
    rdctl-no, mds-no... that the raw-CPUID capabilities CPU does not.
    Comparing a host-model guest with ``virsh capabilities`` (Nova's old
    compareCPU) therefore fails on its own host."""
    host = read_cpus(INPUTS / "amd-vm-capabilities.xml")[0]
    guest = read_cpus(INPUTS / "amd-vm-domcapabilities.xml")[0]
    result = cpucompat.compare(guest, host)
    assert not result.compatible
    assert set(result.missing) == {"arch-capabilities", "rdctl-no", "skip-l1dfl-vmentry", "mds-no",
                                   "pschange-mc-no"}


def test_cpu_info_json_and_capabilities_describe_the_same_features():
    from_caps = read_cpus(INPUTS / "amd-vm-capabilities.xml")[0]
    from_nova = read_cpus(INPUTS / "amd-vm-cpu_info.json")[0]
    # Nova stores libvirt's QEMU-driver expansion, which drops osxsave & co.
    differ = features_of(from_caps) ^ features_of(from_nova)
    assert set(cpucompat.embedded_cpu_map().x86.names(differ)) <= cpucompat.engine.decode.QEMU_FILTERED
    assert cpucompat.compare(from_nova, from_caps).compatible


@pytest.mark.parametrize("wrap", [lambda d: d, json.dumps, lambda d: json.dumps(json.dumps(d))])
def test_cpu_info_accepts_dict_json_and_json_inside_json(wrap):
    info = json.loads((INPUTS / "amd-vm-cpu_info.json").read_text())
    value = wrap(info)
    cpu = parse_cpu_info(value) if not isinstance(value, str) else parse_cpus(value)[0]
    assert cpu.model == "kvm64" and cpu.is_host


def test_cpu_info_drops_features_the_map_cannot_name():
    cpu = parse_cpu_info({"arch": "x86_64", "model": "Haswell", "vendor": "Intel",
                          "features": ["avx2", "vmx-ept-wb", "SSE4_2"]}, cpumap=MAP9)
    assert dict(cpu.features) == {"avx2": "require", "sse4.2": "require"}


def test_proc_cpuinfo_decodes_like_libvirt_capabilities():
    from_proc = read_cpus(INPUTS / "amd-vm-proc-cpuinfo.txt", MAP9)[0]
    from_caps = read_cpus(INPUTS / "amd-vm-capabilities.xml", MAP9)[0]
    assert from_proc.vendor == "AMD" and from_proc.signature == (25, 17, 1)
    assert from_proc.model == from_caps.model
    # /proc/cpuinfo cannot show the MSR-based features libvirt reads as root
    missing = features_of(from_caps, MAP9) & ~features_of(from_proc, MAP9)
    assert set(MAP9.x86.names(missing)) <= {
        "arch-capabilities", "rdctl-no", "skip-l1dfl-vmentry", "mds-no", "pschange-mc-no",
        "ssbd", "stibp", "ibpb", "amd-ssbd", "amd-stibp", "virt-ssbd", "osxsave", "spec-ctrl",
        "ibrs", "amd-no-ssb"}


def test_concatenated_cpus_one_per_line_or_not():
    text = "<cpu><model>Nehalem</model></cpu><cpu><model>Penryn</model></cpu>\n<cpu><model>Westmere</model></cpu>"
    assert [c.model for c in parse_cpus(text)] == ["Nehalem", "Penryn", "Westmere"]


def test_wrappers_and_domains_yield_their_cpus():
    text = ("<cpuTest><cpu><arch>x86_64</arch><model>Westmere</model></cpu>"
            "<cpu><arch>x86_64</arch><model>Nehalem</model></cpu></cpuTest>")
    assert [c.model for c in parse_cpus(text)] == ["Westmere", "Nehalem"]
    domain = "<domain type='kvm'><name>g</name><cpu mode='host-passthrough' migratable='on'/></domain>"
    cpu = parse_cpus(domain)[0]
    assert (cpu.mode, cpu.migratable, cpu.model) == ("host-passthrough", True, None)


def test_guest_defaults_follow_libvirt():
    cpu = parse_cpus("<cpu><model>Nehalem</model><feature name='aes'/></cpu>")[0]
    assert (cpu.mode, cpu.match, cpu.fallback) == ("custom", "exact", "allow")
    assert cpu.features == (("aes", "require"),)


def test_feature_spellings_are_normalised_at_the_edge():
    cpu = parse_cpus("<cpu><model>Nehalem</model><feature name='sse4_2' policy='disable'/>"
                     "<feature name='pclmulqdq'/></cpu>")[0]
    assert cpu.features == (("sse4.2", "disable"), ("pclmuldq", "require"))


def test_raw_cpuid_dump_becomes_a_decoded_host_cpu():
    x86 = MAP9.x86
    dump = encode_dump(x86, x86.model("Haswell-noTSX").features, "Intel", (6, 60, 3))
    cpu = parse_cpus(dump.to_xml(), "dump", MAP9)[0]
    assert cpu.is_host and cpu.model == "Haswell-noTSX" and cpu.vendor == "Intel"


@pytest.mark.parametrize("text, message", [
    ("<cpu><arch>x86_64</arch></cpu>", "missing CPU model"),
    ("<cpu mode='custom'><feature name='aes'/></cpu>", "without CPU model"),
    ("<cpu><vendor>Intel</vendor></cpu>", "vendor specified without CPU model"),
    ("<cpu><model>Nehalem</model><feature name='aes'/><feature name='aes'/></cpu>", "more than once"),
    ("<cpu mode='bogus'/>", "invalid CPU mode"),
    ("<cpu match='loose'><model>Nehalem</model></cpu>", "invalid CPU match"),
    ("<cpu><model>Nehalem</model><feature name='aes' policy='maybe'/></cpu>", "invalid CPU feature policy"),
    ("<cpu mode='custom' migratable='on'><model>Nehalem</model></cpu>", "migratable is only allowed"),
    ("<cpu match='exact'><arch>x86_64</arch><model>Nehalem</model></cpu>", "only allowed for guest"),
    ("<cpu><model>Nehalem", "not well-formed"),
])
def test_what_libvirt_refuses_is_refused_with_the_input_named(text, message):
    with pytest.raises(InvalidCpuXml, match=message) as info:
        parse_cpus(text, "guest.xml")
    assert "guest.xml" in str(info.value)


@pytest.mark.parametrize("text", ["hello world", "", "\x00\x01"])
def test_unknown_formats_are_refused(text):
    with pytest.raises(UnknownInputFormat):
        parse_cpus(text, "junk")


def test_format_is_detected_from_content_not_name():
    assert detect_format((INPUTS / "amd-vm-proc-cpuinfo.txt").read_text()) == "proc_cpuinfo"
    assert detect_format((INPUTS / "amd-vm-cpu_info.json").read_text()) == "cpu_info"
    assert detect_format("  <?xml version='1.0'?><cpu/>") == "xml"


def test_proc_cpuinfo_speculation_flags_follow_the_vendor():
    # a real Skylake laptop: Linux derives ibrs/ibpb from CPUID 7 EDX[26],
    # which libvirt calls spec-ctrl; libvirt's own ibrs/ibpb are AMD bits
    host = read_cpus(INPUTS / "intel-skylake-proc-cpuinfo.txt", MAP9)[0]
    names = set(cpucompat.expand(host, MAP9).expanded)
    assert {"spec-ctrl", "stibp", "ssbd", "md-clear", "invtsc"} <= names
    assert not names & {"ibrs", "ibpb", "amd-stibp", "amd-ssbd"}
    assert host.model == "Skylake-Client-IBRS"
    # the same four flags on an AMD CPU come from leaf 0x80000008 EBX
    text = (INPUTS / "amd-vm-proc-cpuinfo.txt").read_text()
    with_flags = text.replace("flags\t\t: ", "flags\t\t: ibrs ibpb stibp ssbd ", 1)
    assert with_flags != text
    amd_names = set(cpucompat.expand(parse_cpus(with_flags, "amd.txt", MAP9)[0], MAP9).expanded)
    assert {"ibrs", "ibpb", "amd-stibp", "amd-ssbd"} <= amd_names
    assert not amd_names & {"spec-ctrl", "stibp", "ssbd"}


def test_constant_tsc_alone_is_no_invariant_tsc():
    # Linux sets constant_tsc by family/model; only nonstop_tsc is CPUID's invariant TSC bit
    text = (INPUTS / "intel-skylake-proc-cpuinfo.txt").read_text().replace(" nonstop_tsc", "")
    host = parse_cpus(text, "no-nonstop.txt")[0]
    assert "invtsc" not in cpucompat.expand(host).expanded
    assert "constant_tsc" in text


def test_cpu_info_features_the_map_cannot_name_are_kept_aside():
    host = parse_cpu_info({"arch": "x86_64", "model": "Icelake-Server", "vendor": "Intel",
                           "features": ["vmx", "fred", "avx10"]}, cpumap=MAP9)
    assert host.unknown_features == {"fred", "avx10"}
    assert ("vmx", "require") in host.features and all(n not in ("fred", "avx10") for n, _ in host.features)
    # what the map can name is the CPU's identity; the rest is said, not compared
    assert host == parse_cpu_info({"arch": "x86_64", "model": "Icelake-Server", "vendor": "Intel",
                                   "features": ["vmx"]}, cpumap=MAP9)


def test_json_nested_beyond_any_cpu_info_is_a_clear_error():
    with pytest.raises(UnknownInputFormat, match="nested too deeply"):
        parse_cpus("[" * 100_000, "deep.json")
    with pytest.raises(UnknownInputFormat, match="nested too deeply"):
        parse_cpu_info("[" * 100_000, "deep cpu_info")
