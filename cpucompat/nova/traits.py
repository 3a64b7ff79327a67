"""Placement traits (os-traits ``HW_CPU_X86_*``) of guest CPUs.

The traits a guest CPU *requires* can be pushed down to Placement as a
pre-filter: any host lacking one cannot run the guest.  Unlike Nova's
reporting, a feature the guest disables (``-avx2``) is not required.
"""
from __future__ import annotations

from typing import Iterable, Mapping

from ..engine.compare import features_of
from ..engine.cpu import Cpu
from ..engine.cpumap import CpuMap, embedded_cpu_map
from ..engine.names import TRAIT_FEATURES, TRAIT_PREFIX, feature_traits, trait_feature

__all__ = ["traits_of_features", "required_traits", "trait_requirements", "ALL_X86_TRAITS"]


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


def trait_requirements(extra_specs: Mapping[str, str]) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """(required, forbidden) libvirt features from ``trait[group]:HW_CPU_X86_*``
    flavor extra specs; traits with no CPUID feature (SEV, TDX) are skipped."""
    required, forbidden = [], []
    for key, value in extra_specs.items():
        if not key.startswith("trait") or ":" not in key:
            continue
        trait = key.split(":", 1)[1]
        if not trait.startswith(TRAIT_PREFIX):
            continue
        feature = trait_feature(trait)
        if feature is None:
            continue
        if value == "required" and feature not in required:
            required.append(feature)
        elif value == "forbidden" and feature not in forbidden:
            forbidden.append(feature)
    return tuple(required), tuple(forbidden)


ALL_X86_TRAITS = frozenset(TRAIT_PREFIX + t for t in TRAIT_FEATURES)
