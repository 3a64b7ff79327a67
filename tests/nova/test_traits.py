"""Placement traits a guest CPU requires."""
from __future__ import annotations

import pytest

import cpucompat
from cpucompat.nova.traits import ALL_X86_TRAITS, TraitRequirements, is_known_trait, required_traits, trait_requirements


def test_all_63_os_traits_x86_traits_are_known():
    assert len(ALL_X86_TRAITS) == 63


def test_custom_cpu_requires_its_models_traits_minus_disabled_flags():
    cpu = cpucompat.Cpu(model="Haswell-noTSX", features=(("avx2", "disable"), ("pcid", "require")))
    traits = required_traits(cpu)
    assert "HW_CPU_X86_AVX" in traits and "HW_CPU_X86_INTEL_PCID" in traits
    assert "HW_CPU_X86_AVX2" not in traits  # Nova would still report it; the guest does not need it


def test_host_model_requires_only_its_flags():
    cpu = cpucompat.Cpu(mode="host-model", match=None, features=(("vmx", "require"),))
    assert required_traits(cpu) == {"HW_CPU_X86_VMX", "HW_CPU_X86_INTEL_VMX"}


def test_flavor_traits_become_feature_requirements():
    traits = trait_requirements({"trait:HW_CPU_X86_AVX2": "required", "trait1:HW_CPU_X86_AVX512F": "forbidden",
                                 "trait:HW_CPU_X86_AMD_SEV": "required", "trait:CUSTOM_GOLD": "required",
                                 "hw:cpu_policy": "dedicated"})
    assert traits == TraitRequirements(required=("avx2",), forbidden=("avx512f",))


def test_image_traits_count_as_required_once():
    traits = trait_requirements({"trait:HW_CPU_X86_AVX2": "required"}, ["HW_CPU_X86_AVX2", "HW_CPU_X86_SSE42"])
    assert traits.required == ("avx2", "sse4.2")


def test_every_os_traits_x86_trait_is_known_and_one_nobody_defines_is_not():
    os_traits = pytest.importorskip("os_traits")
    assert all(is_known_trait(t) for t in os_traits.get_traits("HW_CPU_X86_"))
    assert not is_known_trait("HW_CPU_X86_NOSUCH") and not is_known_trait("HW_CPU_X86_")


def test_traits_nobody_knows_are_kept_apart_by_policy_and_traits_without_cpuid_are_placements():
    traits = trait_requirements({"trait:HW_CPU_X86_NOSUCH": "required", "trait2:HW_CPU_X86_NOSUCH2": "forbidden",
                                 "trait:HW_CPU_X86_INTEL_TDX": "required", "trait:HW_CPU_X86_AMD_SEV_SNP": "forbidden"},
                                ["HW_CPU_X86_NOSUCH", "HW_CPU_X86_NOSUCH3"])
    assert traits == TraitRequirements(unknown_required=("HW_CPU_X86_NOSUCH", "HW_CPU_X86_NOSUCH3"),
                                       unknown_forbidden=("HW_CPU_X86_NOSUCH2",))


def test_cpucompats_model_traits_are_collected_by_name_and_domain_traits_left_to_placement():
    traits = trait_requirements({"trait:CUSTOM_CPUCOMPAT_MODEL_HASWELL": "required",
                                 "trait1:CUSTOM_CPUCOMPAT_MODEL_EPYC": "forbidden",
                                 "trait:CUSTOM_CPUCOMPAT_DOMAIN_EPYC_0123456789": "required",
                                 "trait:CUSTOM_OTHER": "required"}, ["CUSTOM_CPUCOMPAT_MODEL_SKYLAKE_CLIENT"])
    assert traits == TraitRequirements(model_required=("CUSTOM_CPUCOMPAT_MODEL_HASWELL",
                                                       "CUSTOM_CPUCOMPAT_MODEL_SKYLAKE_CLIENT"),
                                       model_forbidden=("CUSTOM_CPUCOMPAT_MODEL_EPYC",))


def test_the_traits_nova_reports_are_those_of_novas_own_table():
    utils = pytest.importorskip("nova.virt.libvirt.utils", reason="Nova is not installed (pip install '.[nova]')")
    from cpucompat.nova.traits import NOVA_REPORTED_TRAITS

    reported = set()
    for traits in utils.CPU_TRAITS_MAPPING.values():
        reported.update(traits if isinstance(traits, tuple) else (traits,))
    assert NOVA_REPORTED_TRAITS == reported
