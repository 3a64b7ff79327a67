"""Raw CPUID dumps: registers to feature bits, vendor and signature."""
from __future__ import annotations

import pytest

import cpucompat
from cpucompat.engine.maps import resolve_map_spec
from cpucompat.engine.cpuid import decode_data, encode_dump, signature_parts
from cpucompat.inputs.parse import parse_cpuid_dumps

MAP = resolve_map_spec("9.0.0")  # the facts below are libvirt 9.0.0's
X86 = MAP.x86


@pytest.mark.parametrize("model", [m.name for m in X86.models])
def test_encoding_then_decoding_gives_back_the_features(model):
    bits = X86.model(model).features | X86.feature("vmx").mask | X86.feature("mds-no").mask
    data = decode_data(encode_dump(X86, bits, "Intel", (6, 85, 4)), X86)
    assert (data.features, data.vendor, data.family_model_stepping) == (bits, "Intel", (6, 85, 4))


def test_xml_round_trip_keeps_every_register():
    dump = encode_dump(X86, X86.model("EPYC").features, "AMD", (23, 1, 2))
    assert parse_cpuid_dumps(dump.to_xml(), "dump")[0] == dump


def test_extended_family_and_model_are_combined_as_libvirt_does():
    # leaf 1 EAX of an EPYC 7601: family 0xf + ext 8 = 23, model 1, stepping 2
    assert signature_parts(0x00800F12) == (23, 1, 2)


def test_broken_tsx_is_dropped_on_haswell_era_intel_parts():
    bits = X86.model("Haswell").features
    haswell = decode_data(encode_dump(X86, bits, "Intel", (6, 60, 3)), X86)
    skylake = decode_data(encode_dump(X86, bits, "Intel", (6, 94, 3)), X86)
    tsx = X86.bits(["hle", "rtm"])
    assert haswell.features & tsx == 0 and skylake.features & tsx == tsx
    assert cpucompat.decode(encode_dump(X86, bits, "Intel", (6, 60, 3)), MAP).model == "Haswell-noTSX"


def test_unknown_vendor_string_leaves_the_vendor_unset():
    dump = parse_cpuid_dumps("<cpudata arch='x86'><cpuid eax_in='0' ecx_in='0' eax='0xd' ebx='0x1' "
                             "ecx='0x2' edx='0x3'/><cpuid eax_in='1' eax='0x306c3' edx='0x1'/></cpudata>", "odd")[0]
    assert decode_data(dump, X86).vendor is None
