"""The guest <cpu> for every mode, and the model Nova would pick."""
from __future__ import annotations

import pytest

import cpucompat
from cpucompat.nova.guest import choose_model, guest_cpu, guest_cpu_xml
from cpucompat.inputs.parse import parse_cpus

HASWELL_HOST = parse_cpus("<cpu><arch>x86_64</arch><model>Haswell-noTSX</model><vendor>Intel</vendor>"
                          "<feature name='vmx'/></cpu>")[0]


def test_custom_picks_the_first_model_as_nova_does_without_looking_at_the_host():
    # Nova's driver takes models[0] (no required traits) even where the host cannot run it
    cpu = guest_cpu("custom", ["Skylake-Client", "SandyBridge", "Nehalem"], [("pcid", "require")], HASWELL_HOST)
    assert (cpu.model, cpu.match, cpu.features) == ("Skylake-Client", "exact", (("pcid", "require"),))
    assert not cpucompat.compare(cpu, HASWELL_HOST).compatible
    xml = guest_cpu_xml(guest_cpu("custom", ["SandyBridge", "Nehalem"], [("pcid", "require")], HASWELL_HOST))
    assert '<model fallback="allow">SandyBridge</model>' in xml and 'name="pcid"' in xml


def test_custom_honours_required_trait_features_like_nova_train():
    assert choose_model(["SandyBridge", "Haswell-noTSX"], [], required=["avx2"]) == "Haswell-noTSX"
    with pytest.raises(cpucompat.NoSuitableModel, match="SandyBridge lacks avx2"):
        choose_model(["SandyBridge"], [], required=["avx2"])
    # an extra flag counts as the model's: Nova matches the flags on the expanded model
    assert choose_model(["SandyBridge"], [("avx2", "require")], required=["avx2"]) == "SandyBridge"


def test_host_model_and_passthrough_are_passed_through():
    assert guest_cpu_xml(guest_cpu("host-model", flags=[("mpx", "disable")])) == (
        '<cpu mode="host-model">\n  <feature policy="disable" name="mpx"/>\n</cpu>\n')
    assert guest_cpu("host-passthrough").mode == "host-passthrough"
    assert guest_cpu("none") is None and guest_cpu_xml(None) == ""


def test_host_model_is_emulated_before_libvirt_0_9_10():
    cpu = guest_cpu("host-model", flags=[("invtsc", "disable")], host=HASWELL_HOST, libvirt_version=(0, 9, 8))
    assert (cpu.mode, cpu.match, cpu.model, cpu.vendor) == ("custom", "exact", "Haswell-noTSX", "Intel")
    assert dict(cpu.features) == {"vmx": "require", "invtsc": "disable"}
    assert cpucompat.compare(cpu, HASWELL_HOST).result == "identical"


def test_libvirt_older_than_0_9_7_is_refused():
    with pytest.raises(cpucompat.InvalidConfig, match="0.9.7"):
        guest_cpu("host-model", host=HASWELL_HOST, libvirt_version=(0, 9, 6))


def test_the_filter_predicts_the_model_the_driver_picks():
    from cpucompat.nova.config import CpuPolicy
    from cpucompat.nova.scheduling import CpuPlacement

    cpumap = cpucompat.embedded_cpu_map()
    policy = CpuPolicy("custom", ("SandyBridge", "Haswell-noTSX"), (), cpumap, "exact", True)
    placement = CpuPlacement(policy)
    info = {"arch": "x86_64", "model": "Haswell-noTSX", "vendor": "Intel", "features": ["vmx"]}
    for specs, required in (({}, ()), ({"trait:HW_CPU_X86_AVX2": "required"}, ("avx2",))):
        decision = placement.decide(placement.request(specs), info)
        assert decision.passes
        assert decision.model == guest_cpu("custom", policy.models, (), HASWELL_HOST, required=required).model


def test_before_0_9_10_custom_xml_has_no_mode_or_fallback_attribute():
    cpu = guest_cpu("custom", ["SandyBridge"], [("pcid", "require")], HASWELL_HOST, libvirt_version=(0, 9, 9))
    assert guest_cpu_xml(cpu, libvirt_version=(0, 9, 9)) == (
        '<cpu match="exact">\n  <model>SandyBridge</model>\n  <feature policy="require" name="pcid"/>\n</cpu>\n')
    emulated = guest_cpu("host-model", host=HASWELL_HOST, libvirt_version=(0, 9, 9))
    assert guest_cpu_xml(emulated, libvirt_version=(0, 9, 9)).startswith('<cpu match="exact">\n  <model>Haswell')
    assert guest_cpu_xml(cpu).startswith('<cpu mode="custom" match="exact">\n  <model fallback="allow">')


@pytest.mark.parametrize("mode, version, since", [("host-passthrough", (0, 9, 9), "0.9.10"),
                                                  ("maximum", (7, 0, 0), "7.1.0")])
def test_modes_libvirt_does_not_have_yet_are_refused(mode, version, since):
    with pytest.raises(cpucompat.InvalidConfig, match=f"cpu_mode={mode} needs libvirt {since}"):
        guest_cpu(mode, libvirt_version=version)
    assert guest_cpu(mode, libvirt_version=tuple(int(n) for n in since.split("."))).mode == mode
    with pytest.raises(cpucompat.InvalidConfig, match="no CPU mode"):
        guest_cpu_xml(guest_cpu(mode), libvirt_version=(0, 9, 9))


def test_host_model_flags_before_1_1_1_are_folded_into_an_emulated_custom_cpu():
    flags = [("invtsc", "disable")]
    cpu = guest_cpu("host-model", flags=flags, host=HASWELL_HOST, libvirt_version=(1, 1, 0))
    assert (cpu.mode, cpu.model, dict(cpu.features)) == ("custom", "Haswell-noTSX",
                                                         {"vmx": "require", "invtsc": "disable"})
    assert guest_cpu("host-model", libvirt_version=(1, 1, 0)).mode == "host-model"  # no flags: nothing to fold
    assert guest_cpu("host-model", flags=flags, libvirt_version=(1, 1, 1)).mode == "host-model"
    with pytest.raises(cpucompat.InvalidConfig, match="needs the host CPU"):
        guest_cpu("host-model", flags=flags, libvirt_version=(1, 1, 0))


def test_names_are_escaped_in_the_xml_so_it_says_what_the_cpu_is():
    from cpucompat.xmlsafe import parse_xml

    cpu = cpucompat.Cpu(model="Odd</model><feature name='x'/><model>&", vendor="V<&>", match="exact")
    root = parse_xml(guest_cpu_xml(cpu), "guest.xml")
    assert root.findtext("model") == cpu.model and root.findtext("vendor") == cpu.vendor
    assert root.find("feature") is None
