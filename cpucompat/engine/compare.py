"""Can a guest CPU run on a host?  libvirt's virCPUx86Compare on values.

The answer is a `Comparison`: the result (identical, superset,
incompatible) with the features missing or forbidden and the reason in
words, as libvirt's error message gives it.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

from .cpu import Cpu, cpu_bits, is_x86, resolve_arch
from .cpumap import CpuMap, resolve_map
from .rules import Match, Result

__all__ = ["IDENTICAL", "SUPERSET", "INCOMPATIBLE", "Comparison", "compare", "features_of"]

IDENTICAL = Result.IDENTICAL
SUPERSET = Result.SUPERSET
INCOMPATIBLE = Result.INCOMPATIBLE


@dataclass(frozen=True, slots=True)
class Comparison:
    """libvirt's virCPUCompareResult plus why."""

    result: str  # identical | superset | incompatible
    missing: tuple[str, ...] = ()
    forbidden: tuple[str, ...] = ()
    reason: str = ""

    @property
    def compatible(self) -> bool:
        return self.result != INCOMPATIBLE

    def to_dict(self) -> dict[str, Any]:
        return {"result": self.result, "missing": list(self.missing),
                "forbidden": list(self.forbidden), "reason": self.reason}


def compare(guest: Cpu, host: Cpu, cpumap: CpuMap | None = None) -> Comparison:
    """Can `guest` run on `host`?  libvirt's virCPUx86Compare / x86Compute.

    Unknown model or feature names raise (libvirt: VIR_CPU_COMPARE_ERROR).
    """
    cpumap = resolve_map(cpumap)
    cached: Callable[[Cpu, Cpu, CpuMap], Comparison] = (cpumap.caches.get(_compare)
                                                        or cpumap.cached(_compare, 65536))
    return cached(guest, host, cpumap)


def _compare(guest: Cpu, host: Cpu, cpumap: CpuMap) -> Comparison:
    if host.model is None:
        return Comparison(INCOMPATIBLE, reason="unknown host CPU (it has no model)")
    if not is_x86(host.arch):
        if guest.arch and guest.arch != host.arch:
            return Comparison(INCOMPATIBLE, reason=f"CPU arch {guest.arch} does not match host arch {host.arch}")
        return _compare_by_name(guest, host)
    if not is_x86(guest.arch):
        return Comparison(INCOMPATIBLE, reason=f"CPU arch {guest.arch} does not match host arch")
    if guest.vendor and (not host.vendor or guest.vendor != host.vendor):
        return Comparison(INCOMPATIBLE, reason=f"host CPU vendor does not match required CPU vendor {guest.vendor}")
    archmap = resolve_arch(cpumap, host)
    h = cpu_bits(host, archmap).full
    g = cpu_bits(guest, archmap)
    forbidden = g.forbid & h
    if forbidden:
        return Comparison(INCOMPATIBLE, forbidden=tuple(archmap.names(forbidden)),
                          reason="Host CPU provides forbidden features: " + ", ".join(archmap.names(forbidden)))
    required = (g.model | g.require) & ~g.force & ~g.optional & ~g.disable
    missing = required & ~h
    if missing:
        names = archmap.names(missing)
        return Comparison(INCOMPATIBLE, missing=tuple(names),
                          reason="Host CPU does not provide required features: " + ", ".join(names))
    diff = h & ~g.optional & ~required & ~g.disable & ~g.force
    if not diff:
        return Comparison(IDENTICAL, reason="host CPU provides exactly the guest CPU")
    if not guest.is_host and guest.match == Match.STRICT:
        names = archmap.names(diff)
        return Comparison(INCOMPATIBLE, reason="Host CPU does not strictly match guest CPU: Extra features: "
                          + ", ".join(names))
    return Comparison(SUPERSET, reason="host CPU provides every required feature and "
                      f"{diff.bit_count()} more")


def _compare_by_name(guest: Cpu, host: Cpu) -> Comparison:
    # Non-x86 maps describe models by PVR, not feature bits: only the same
    # model on the same arch is known to be compatible.
    if guest.model is None or guest.model == host.model:
        return Comparison(IDENTICAL, reason=f"same CPU model {host.model}")
    return Comparison(INCOMPATIBLE, reason=f"guest CPU model {guest.model} differs from host CPU model {host.model}")


def features_of(cpu: Cpu, cpumap: CpuMap | None = None) -> int:
    """Bitmask of everything `cpu` provides (model + required − disabled)."""
    archmap = resolve_arch(resolve_map(cpumap), cpu)
    return cpu_bits(cpu, archmap).full
