"""Flavor specs and compute configuration of a domain (EVC) or a model."""
from __future__ import annotations

import json

import pytest

from cpucompat.engine.compare import compare, features_of
from cpucompat.errors import InvalidArgument, UnknownModel
from cpucompat.nova.config import make_policy
from cpucompat.nova.guest import guest_cpu
from cpucompat.nova.scheduling import CpuPlacement
from cpucompat.nova.traits import NOVA_REPORTED_TRAITS, required_traits
from cpucompat.placement import host_traits
from cpucompat.placement.flavorspecs import domain_specs, find_domain, model_specs
from cpucompat.planner.fleet import Fleet
from cpucompat.planner.inventory import sample_path


@pytest.fixture(scope="module")
def fleet():
    return Fleet.load("sample")


def test_a_domains_computes_give_every_guest_its_common_cpu_and_the_filter_passes_them(fleet):
    infos = json.loads(sample_path().read_text())["hosts"]
    for domain in fleet.domains():
        specs = domain_specs(domain, fleet.cpumap)
        compute = specs.compute
        assert compute["cpu_mode"] == "custom" and specs.extra_specs[f"trait:{specs.trait}"] == "required"
        # the [libvirt] options as Nova validates them, the guest CPU as Nova's driver builds it
        policy = make_policy(compute["cpu_mode"], [compute["cpu_models"]],
                             [f for f in compute["cpu_model_extra_flags"].split(", ") if f], "12.8.0")
        common_bits = features_of(domain.common.as_cpu(), fleet.cpumap)
        placement = CpuPlacement(policy)
        request = placement.request(specs.extra_specs)
        for host in domain.hosts:
            guest = guest_cpu("custom", policy.models, policy.flags, fleet.class_of[host].cpu, fleet.cpumap)
            assert features_of(guest, fleet.cpumap) == common_bits
            assert compare(guest, fleet.class_of[host].cpu, fleet.cpumap).compatible
            assert placement.decide(request, infos[host]).passes, host


def test_a_domains_specs_carry_its_trait_and_common_cpu_for_the_filter(fleet):
    domain = fleet.domains()[0]
    specs = domain_specs(domain, fleet.cpumap)
    assert specs.extra_specs["cpucompat:cpu_model"] == domain.common.model
    flags = specs.extra_specs.get("cpucompat:cpu_flags", "")
    assert sorted(f for f in flags.split(",") if f) == sorted(
        [f"+{n}" for n in domain.common.features] + [f"-{n}" for n in domain.common.disabled])
    assert specs.hosts == domain.hosts


def test_hw_traits_are_those_of_the_models_kept_features(fleet):
    for domain in fleet.domains():
        specs = domain_specs(domain, fleet.cpumap, hw_traits=True)
        hw = {k[len("trait:"):] for k in specs.extra_specs if k.startswith("trait:HW_CPU_X86_")}
        assert hw and hw <= required_traits(domain.common.as_cpu(), fleet.cpumap) & NOVA_REPORTED_TRAITS
    specs = model_specs(fleet, "Haswell-noTSX", hw_traits=True)
    hw = {k[len("trait:"):] for k in specs.extra_specs if k.startswith("trait:HW_CPU_X86_")}
    assert "HW_CPU_X86_AVX2" in hw and "HW_CPU_X86_AVX512F" not in hw
    assert "HW_CPU_X86_INTEL_PCID" not in hw  # Haswell has pcid, but Nova never reports its trait


def test_a_models_hosts_are_the_hosts_with_its_trait(fleet):
    traits = host_traits(fleet)
    for model in ("Haswell-noTSX", "Skylake-Server", "EPYC-Rome", "qemu64"):
        specs = model_specs(fleet, model)
        assert set(specs.hosts) == {h for h, t in traits.items() if specs.trait in t}
        assert specs.extra_specs == {f"trait:{specs.trait}": "required"} and specs.compute == {}
    with pytest.raises(UnknownModel):
        model_specs(fleet, "NoSuchModel")


def test_a_domain_is_found_by_its_number_or_its_trait(fleet):
    domains = fleet.domains()
    second = domains[1]
    assert find_domain(domains, second.name) is second
    assert find_domain(domains, domain_specs(second, fleet.cpumap).trait) is second
    with pytest.raises(InvalidArgument, match="no domain D99; the fleet's are D1"):
        find_domain(domains, "D99")


def test_flags_longer_than_nova_stores_are_left_out_with_a_note(fleet):
    from dataclasses import replace

    domain = fleet.domains()[0]
    names = [f.name for f in fleet.archmap.features]
    many = replace(domain, common=replace(domain.common, features=tuple(names[:80])))
    specs = domain_specs(many, fleet.cpumap)
    assert "cpucompat:cpu_flags" not in specs.extra_specs and "255" in specs.notes[0]
    assert specs.extra_specs["cpucompat:cpu_model"] == domain.common.model
    assert specs.compute["cpu_model_extra_flags"].count("+") == 80  # nova.conf has no such limit
