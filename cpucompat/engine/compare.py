"""Can a guest CPU run on a host?  libvirt's virCPUCompare on values.

The answer is a `Comparison`: the result (identical, superset,
incompatible) with the features missing or forbidden and the reason in
words, as libvirt's error message gives it.  The host's arch picks the
rules (`drivers`): x86's feature bits, or the model names of other arches.
"""
from __future__ import annotations

from typing import Callable

from .comparison import IDENTICAL, INCOMPATIBLE, SUPERSET, Comparison
from .cpu import Cpu, cpu_bits, resolve_arch
from .cpumap import CpuMap, resolve_map
from .drivers import driver_for

__all__ = ["IDENTICAL", "SUPERSET", "INCOMPATIBLE", "Comparison", "compare", "features_of"]


def compare(guest: Cpu, host: Cpu, cpumap: CpuMap | None = None) -> Comparison:
    """Can `guest` run on `host`?  libvirt's virCPUCompare.

    Unknown model or feature names raise (libvirt: VIR_CPU_COMPARE_ERROR).
    """
    cpumap = resolve_map(cpumap)
    cached: Callable[[Cpu, Cpu, CpuMap], Comparison] = (cpumap.caches.get(_compare)
                                                        or cpumap.cached(_compare, 65536))
    return cached(guest, host, cpumap)


def _compare(guest: Cpu, host: Cpu, cpumap: CpuMap) -> Comparison:
    if host.model is None:
        return Comparison(INCOMPATIBLE, reason="unknown host CPU (it has no model)")
    return driver_for(host.arch).compare(guest, host, cpumap)


def features_of(cpu: Cpu, cpumap: CpuMap | None = None) -> int:
    """Bitmask of everything `cpu` provides (model + required − disabled)."""
    archmap = resolve_arch(resolve_map(cpumap), cpu)
    return cpu_bits(cpu, archmap).full
