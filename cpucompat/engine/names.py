"""Every spelling of a CPU feature, normalised to libvirt's one name.

libvirt, QEMU, Linux ``/proc/cpuinfo`` and os-traits name the same CPUID
bit differently (``pclmuldq`` / ``pclmulqdq``, ``sse4.2`` / ``sse4_2`` /
``HW_CPU_X86_SSE42``).  Most differences are separators and case, which
``fold`` removes; the rest are listed here.  A folded spelling that would
name two different features is dropped rather than guessed.
"""
from __future__ import annotations

from typing import Protocol, Sequence

__all__ = ["SpelledFeature", "SpelledArch", "TRAIT_PREFIX", "EXTRA_SPELLINGS", "LINUX_VENDOR_FLAGS",
           "TRAIT_FEATURES", "fold", "trait_feature", "feature_traits", "alias_table"]


class SpelledFeature(Protocol):
    """What `alias_table` reads of a map's feature (`cpumap.Feature` is one)."""

    @property
    def name(self) -> str: ...
    @property
    def aliases(self) -> tuple[tuple[str, str], ...]: ...


class SpelledArch(Protocol):
    """What `alias_table` reads of one arch of a map (`cpumap.ArchMap` is one):
    names never import the map, the map imports the names."""

    @property
    def name(self) -> str: ...
    @property
    def features(self) -> Sequence[SpelledFeature]: ...


TRAIT_PREFIX = "HW_CPU_X86_"

# Spellings that differ from libvirt's by more than separators and case.
# Sources: QEMU's target/i386 names (libvirt's <alias source='qemu'>),
# Linux arch/x86/include/asm/cpufeatures.h, libvirt cpu_map notes.
EXTRA_SPELLINGS: dict[str, str] = {
    # QEMU
    "pclmulqdq": "pclmuldq",
    "sse3": "pni",
    "ffxsr": "fxsr_opt",
    "i64": "lm",
    "xd": "nx",
    "vmx-invept-single-context-noglobals": "vmx-invvpid-single-context-noglobals",
    "kvm-pv-unhalt": "kvm_pv_unhalt",
    # Linux /proc/cpuinfo (constant_tsc is set by family/model even without
    # an invariant TSC: only nonstop_tsc follows CPUID 0x80000007 EDX[8])
    "nonstop_tsc": "invtsc",
    "cqm": "cmt",
    "cqm_llc": "cmt",
    "cqm_occup_llc": "cmt",
    "cqm_mbm_total": "mbm_total",
    "cqm_mbm_local": "mbm_local",
    "dts": "ds",
    "tsc_deadline_timer": "tsc-deadline",
    "intel_stibp": "stibp",
    "core_capabilities": "core-capability",
    "sha_ni": "sha-ni",
    "fxsr_opt": "fxsr_opt",
    "misalignsse": "misalignsse",
    "amd_ibpb": "ibpb",
    "arch_perfmon": "arch-perfmon",
}

# Linux synthesises these /proc/cpuinfo flags from a different CPUID bit
# on each vendor (arch/x86/kernel/cpu/common.c, init_speculation_control):
# on Intel from leaf 7 EDX (libvirt's spec-ctrl, stibp, ssbd), on AMD and
# Hygon from leaf 0x80000008 EBX (libvirt's ibrs, ibpb, amd-stibp, amd-ssbd).
LINUX_VENDOR_FLAGS: dict[str, dict[str, str]] = {
    "Intel": {"ibrs": "spec-ctrl", "ibpb": "spec-ctrl", "stibp": "stibp", "ssbd": "ssbd"},
    "AMD": {"ibrs": "ibrs", "ibpb": "ibpb", "stibp": "amd-stibp", "ssbd": "amd-ssbd"},
}
LINUX_VENDOR_FLAGS["Hygon"] = LINUX_VENDOR_FLAGS["AMD"]

# os-traits HW_CPU_X86_* names → libvirt feature.  Nova's own table
# (nova/virt/libvirt/utils.py CPU_TRAITS_MAPPING) covers 46 traits; the
# rest of os-traits' 63 are added where libvirt has a matching feature.
TRAIT_FEATURES: dict[str, str | None] = {
    "3DNOW": "3dnow", "ABM": "abm", "AESNI": "aes", "AVX": "avx", "AVX2": "avx2",
    "AVX512BW": "avx512bw", "AVX512CD": "avx512cd", "AVX512DQ": "avx512dq",
    "AVX512ER": "avx512er", "AVX512F": "avx512f", "AVX512PF": "avx512pf",
    "AVX512VL": "avx512vl", "AVX512VNNI": "avx512vnni", "AVX512VBMI": "avx512vbmi",
    "AVX512IFMA": "avx512ifma", "AVX512VBMI2": "avx512vbmi2",
    "AVX512BITALG": "avx512bitalg", "AVX512VAES": "vaes", "AVX512GFNI": "gfni",
    "AVX512VPCLMULQDQ": "vpclmulqdq", "AVX512VPOPCNTDQ": "avx512-vpopcntdq",
    "BMI": "bmi1", "BMI2": "bmi2", "CLMUL": "pclmuldq", "F16C": "f16c",
    "FMA3": "fma", "FMA4": "fma4", "MMX": "mmx", "MPX": "mpx", "SHA": "sha-ni",
    "SSE": "sse", "SSE2": "sse2", "SSE3": "pni", "SSE41": "sse4.1",
    "SSE42": "sse4.2", "SSE4A": "sse4a", "SSSE3": "ssse3", "SVM": "svm",
    "AMD_SVM": "svm", "TBM": "tbm", "VMX": "vmx", "INTEL_VMX": "vmx", "XOP": "xop",
    "AMD_IBPB": "ibpb", "AMD_NO_SSB": "amd-no-ssb", "AMD_SSBD": "amd-ssbd",
    "AMD_VIRT_SSBD": "virt-ssbd", "INTEL_MD_CLEAR": "md-clear",
    "INTEL_PCID": "pcid", "INTEL_SPEC_CTRL": "spec-ctrl", "INTEL_SSBD": "ssbd",
    "PDPE1GB": "pdpe1gb", "STIBP": "stibp", "TSX": "rtm", "SGX": "sgx",
    # Not CPUID features in libvirt's map: SEV/TDX are launch-security
    # domain features, ASF has no libvirt name.
    "AMD_SEV": None, "AMD_SEV_ES": None, "AMD_SEV_SNP": None,
    "INTEL_TDX": None, "ASF": None,
    "AMXBF16": "amx-bf16", "AMXINT8": "amx-int8", "AMXTILE": "amx-tile",
}


def fold(name: str) -> str:
    """Case- and separator-insensitive key: 'SSE4_2' and 'sse4.2' agree."""
    return name.lower().replace("-", "").replace("_", "").replace(".", "")


def trait_feature(trait: str) -> str | None:
    """The libvirt feature an os-traits ``HW_CPU_X86_*`` trait stands for."""
    key = trait.upper()
    if key.startswith(TRAIT_PREFIX):
        key = key[len(TRAIT_PREFIX):]
    return TRAIT_FEATURES.get(key)


def feature_traits(feature: str) -> list[str]:
    """Every ``HW_CPU_X86_*`` trait naming this libvirt feature."""
    return [TRAIT_PREFIX + t for t, f in TRAIT_FEATURES.items() if f == feature]


def alias_table(archmap: SpelledArch) -> dict[str, str]:
    """Folded spelling → libvirt name for one arch of a map."""
    candidates: dict[str, set[str]] = {}

    def offer(spelling: str, target: str) -> None:
        candidates.setdefault(fold(spelling), set()).add(target)

    known = {f.name for f in archmap.features}
    for feature in archmap.features:
        offer(feature.name, feature.name)
        for alias, _source in feature.aliases:
            if alias:
                offer(alias, feature.name)
    for spelling, target in EXTRA_SPELLINGS.items():
        if target in known:
            offer(spelling, target)
    if archmap.name == "x86":
        for trait, feature_name in TRAIT_FEATURES.items():
            if feature_name is not None and feature_name in known:
                offer(TRAIT_PREFIX + trait, feature_name)
    table = {}
    for key, targets in candidates.items():
        if len(targets) == 1:
            table[key] = next(iter(targets))
        elif key in {fold(t) for t in targets}:
            # an exact libvirt name wins over an alias of another feature
            table[key] = next(t for t in targets if fold(t) == key and t in known)
    return table
