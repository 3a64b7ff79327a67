"""Every spelling of a feature normalises to libvirt's one name."""
from __future__ import annotations

import pytest

import cpucompat
from cpucompat.engine import names


@pytest.mark.parametrize("spelling, libvirt_name", [
    ("sse4_2", "sse4.2"), ("sse4-2", "sse4.2"), ("SSE4.2", "sse4.2"), ("HW_CPU_X86_SSE42", "sse4.2"),
    ("pclmulqdq", "pclmuldq"), ("sse3", "pni"), ("nonstop_tsc", "invtsc"),
    ("avx512_vnni", "avx512vnni"), ("avx512_vpopcntdq", "avx512-vpopcntdq"), ("lahf-lm", "lahf_lm"),
    ("HW_CPU_X86_AESNI", "aes"), ("HW_CPU_X86_BMI", "bmi1"), ("HW_CPU_X86_CLMUL", "pclmuldq"),
    ("md_clear", "md-clear"), ("cqm", "cmt"), ("tsc_deadline_timer", "tsc-deadline"), ("sha_ni", "sha-ni"),
])
def test_spelling_normalises(x86, spelling, libvirt_name):
    assert x86.canonical_feature(spelling) == libvirt_name


def test_unknown_spelling_is_none(x86):
    assert x86.canonical_feature("no_such_flag") is None


@pytest.mark.parametrize("version", ["embedded", "11.3.0"])
def test_no_folded_spelling_silently_names_another_feature(version, map_11):
    archmap = cpucompat.embedded_cpu_map().x86 if version == "embedded" else map_11.x86
    for feature in archmap.features:
        assert archmap.canonical_feature(feature.name) == feature.name
        for alias, _source in feature.aliases:
            assert archmap.canonical_feature(alias) == feature.name


def test_traits_map_both_ways():
    assert names.trait_feature("HW_CPU_X86_AVX2") == "avx2"
    assert names.trait_feature("HW_CPU_X86_AMD_SEV") is None
    assert set(names.feature_traits("svm")) == {"HW_CPU_X86_SVM", "HW_CPU_X86_AMD_SVM"}


def test_every_trait_feature_exists_in_the_newest_map(map_11):
    for trait, feature in names.TRAIT_FEATURES.items():
        if feature is not None:
            assert feature in map_11.x86.feature_by_name, trait
