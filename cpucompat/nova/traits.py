"""Placement traits (os-traits ``HW_CPU_X86_*``) of guest CPUs.

The traits a guest CPU *requires* can be pushed down to Placement as a
pre-filter: any host lacking one cannot run the guest.  Unlike Nova's
reporting, a feature the guest disables (``-avx2``) is not required.

A request's ``HW_CPU_X86_*`` traits (flavor ``trait[group]:NAME=required|
forbidden``, image ``trait:NAME=required``) fall in three kinds:

* a CPUID feature (``HW_CPU_X86_AVX2`` is libvirt's ``avx2``): checked on
  the host's CPU;
* known to os-traits but no CPUID feature (``HW_CPU_X86_AMD_SEV``,
  ``HW_CPU_X86_INTEL_TDX``, or a trait of an os-traits newer than
  cpucompat's table): Placement's to check, not ours;
* known to nobody (``HW_CPU_X86_NOSUCH``): no host ever reports it, so
  requiring it fails every host and forbidding it excludes none.

cpucompat's own model traits (``CUSTOM_CPUCOMPAT_MODEL_*``, customtraits.py)
are collected too: the scheduling decisions check them as the custom model
they name.  Its domain traits are Placement's: a domain's CPU reaches the
filter through ``cpucompat:cpu_model`` / ``cpucompat:cpu_flags``.
"""
from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from typing import Iterable, Mapping, Sequence

from ..engine.compare import features_of
from ..engine.cpu import Cpu
from ..engine.cpumap import CpuMap, embedded_cpu_map
from ..engine.names import TRAIT_FEATURES, TRAIT_PREFIX, feature_traits, trait_feature
from .customtraits import MODEL_PREFIX

__all__ = ["traits_of_features", "required_traits", "trait_requirements", "ALL_X86_TRAITS", "NOVA_REPORTED_TRAITS"]


def traits_of_features(names: Iterable[str]) -> frozenset[str]:
    """Every ``HW_CPU_X86_*`` trait standing for one of these features."""
    out: set[str] = set()
    for name in names:
        out.update(feature_traits(name))
    return frozenset(out)


def required_traits(cpu: Cpu, cpumap: CpuMap | None = None) -> frozenset[str]:
    """Traits a host must have to run `cpu` (custom mode: model + required
    flags − disabled ones; other modes: their required flags)."""
    cpumap = cpumap if cpumap is not None else embedded_cpu_map()
    x86 = cpumap.x86
    if cpu.model is None:
        return traits_of_features(n for n, p in cpu.features if p in ("require", "force"))
    return traits_of_features(x86.names(features_of(cpu, cpumap)))


@dataclass(frozen=True, slots=True)
class TraitRequirements:
    """What a request's ``HW_CPU_X86_*`` traits ask of a host's CPU."""

    required: tuple[str, ...] = ()  # libvirt features the host must offer
    forbidden: tuple[str, ...] = ()  # libvirt features the host must not offer
    unknown_required: tuple[str, ...] = ()  # traits nobody knows: no host has them
    unknown_forbidden: tuple[str, ...] = ()  # traits nobody knows: forbidding them excludes no host
    model_required: tuple[str, ...] = ()  # CUSTOM_CPUCOMPAT_MODEL_* traits: the host runs each model
    model_forbidden: tuple[str, ...] = ()  # CUSTOM_CPUCOMPAT_MODEL_* traits: the host runs none


@cache
def _os_traits() -> frozenset[str]:
    """The ``HW_CPU_X86_*`` traits of the installed os-traits (Nova's
    dependency; none without it)."""
    try:
        import os_traits  # type: ignore[import-untyped,unused-ignore]
    except ImportError:
        return frozenset()
    return frozenset(os_traits.get_traits(TRAIT_PREFIX))


def is_known_trait(trait: str) -> bool:
    """True for a ``HW_CPU_X86_*`` trait cpucompat's table or the installed
    os-traits defines, whether or not it has a CPUID feature."""
    return trait[len(TRAIT_PREFIX):] in TRAIT_FEATURES or trait in _os_traits()


def trait_requirements(extra_specs: Mapping[str, str], image_traits: Sequence[str] = ()) -> TraitRequirements:
    """The CPU requirements of ``trait[group]:HW_CPU_X86_*`` flavor extra
    specs and of an image's required traits.  Traits with no CPUID feature
    (SEV, TDX) are left to Placement; other namespaces (``CUSTOM_*``,
    ``COMPUTE_*``) too, but cpucompat's model traits, returned by name."""
    wanted = [(key.split(":", 1)[1], value) for key, value in extra_specs.items()
              if key.startswith("trait") and ":" in key]
    wanted += [(trait, "required") for trait in image_traits]
    required: dict[str, None] = {}
    forbidden: dict[str, None] = {}
    unknown: dict[str, dict[str, None]] = {"required": {}, "forbidden": {}}
    models: dict[str, dict[str, None]] = {"required": {}, "forbidden": {}}
    for trait, value in wanted:
        if value not in ("required", "forbidden"):
            continue
        if trait.startswith(MODEL_PREFIX):
            models[value][trait] = None
            continue
        if not trait.startswith(TRAIT_PREFIX):
            continue
        feature = trait_feature(trait)
        if feature is not None:
            (required if value == "required" else forbidden)[feature] = None
        elif not is_known_trait(trait):
            unknown[value][trait] = None
    return TraitRequirements(tuple(required), tuple(forbidden), tuple(unknown["required"]),
                             tuple(unknown["forbidden"]), tuple(models["required"]), tuple(models["forbidden"]))


ALL_X86_TRAITS = frozenset(TRAIT_PREFIX + t for t in TRAIT_FEATURES)
# os-traits' HW_CPU_X86_* traits that Nova's libvirt driver never reports
# (nova/virt/libvirt/utils.py CPU_TRAITS_MAPPING lacks them, checked on Nova
# 34): requiring one on a flavor finds no host, whatever its CPU
NOT_REPORTED_BY_NOVA = frozenset(TRAIT_PREFIX + t for t in (
    "AMD_IBPB", "AMD_NO_SSB", "AMD_SEV", "AMD_SEV_ES", "AMD_SEV_SNP", "AMD_SSBD", "AMD_VIRT_SSBD", "ASF",
    "INTEL_MD_CLEAR", "INTEL_PCID", "INTEL_SPEC_CTRL", "INTEL_SSBD", "INTEL_TDX", "PDPE1GB", "SGX", "STIBP", "TSX"))
NOVA_REPORTED_TRAITS = ALL_X86_TRAITS - NOT_REPORTED_BY_NOVA
