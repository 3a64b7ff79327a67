"""libvirt's x86 CPU driver (src/cpu/cpu_x86.c) as a `CpuDriver`: CPUs are
compared on the map's feature bits, and baseline, expansion and host-model
(`baseline`, `decode`) compute on the map's x86 bitmasks."""
from __future__ import annotations

from typing import Sequence

from .comparison import IDENTICAL, INCOMPATIBLE, SUPERSET, Comparison
from .cpu import Cpu, cpu_bits, resolve_arch
from .cpumap import ArchMap, CpuMap, arch_family
from .rules import Match

__all__ = ["X86Driver"]


class X86Driver:
    """x86_64, i686, amd64, ...: every rule on the map's feature bits."""

    family = "x86"

    def compare(self, guest: Cpu, host: Cpu, cpumap: CpuMap) -> Comparison:
        """Can `guest` run on the x86 `host`?  virCPUx86Compare / x86Compute."""
        if arch_family(guest.arch) != self.family:
            return Comparison(INCOMPATIBLE, reason=f"CPU arch {guest.arch} does not match host arch")
        if guest.vendor and (not host.vendor or guest.vendor != host.vendor):
            return Comparison(INCOMPATIBLE,
                              reason=f"host CPU vendor does not match required CPU vendor {guest.vendor}")
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
            return Comparison(INCOMPATIBLE, reason="Host CPU does not strictly match guest CPU: Extra features: "
                              + ", ".join(archmap.names(diff)))
        return Comparison(SUPERSET, reason=f"host CPU provides every required feature and {diff.bit_count()} more")

    def feature_map(self, cpumap: CpuMap, cpus: Sequence[Cpu], operation: str) -> ArchMap:
        """The map's x86 arch: baseline, expansion and host-model compute on its bits."""
        return cpumap.x86
