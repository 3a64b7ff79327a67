"""Placement traits a guest CPU requires."""
from __future__ import annotations

import cpucompat
from cpucompat.nova.traits import ALL_X86_TRAITS, required_traits, trait_requirements


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
    required, forbidden = trait_requirements({"trait:HW_CPU_X86_AVX2": "required",
                                              "trait1:HW_CPU_X86_AVX512F": "forbidden",
                                              "trait:HW_CPU_X86_AMD_SEV": "required",
                                              "trait:CUSTOM_GOLD": "required", "hw:cpu_policy": "dedicated"})
    assert required == ("avx2",) and forbidden == ("avx512f",)
