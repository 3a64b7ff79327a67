"""A CPU driver per architecture family, as libvirt's cpuArchDriver table.

The algorithms (`compare`, `baseline`, `expand`, `host_model`) ask the
driver of a CPU's arch instead of branching on the arch: x86 follows
libvirt's cpu_x86.c on feature bits (`x86.X86Driver`); arm, ppc64 and
s390 maps describe models by name (and PVR) only, so their driver answers
what can be known from names: the same model on the same arch is
identical, anything else incompatible, and a baseline, expansion or
host-model is refused rather than guessed (libvirt's arm driver echoes
the first CPU's model, ppc64 needs identical models, s390 has none).
"""
from __future__ import annotations

from typing import Protocol, Sequence

from .comparison import IDENTICAL, INCOMPATIBLE, Comparison
from .cpu import Cpu
from .cpumap import ArchMap, CpuMap, arch_family
from .x86 import X86Driver
from ..errors import UnknownArch

__all__ = ["CpuDriver", "ByNameDriver", "DRIVERS", "driver_for", "is_x86", "feature_map"]


class CpuDriver(Protocol):
    """What an architecture's rules answer."""

    @property
    def family(self) -> str:
        """The cpu_map arch it serves (x86, arm, ppc64, s390)."""
        ...

    def compare(self, guest: Cpu, host: Cpu, cpumap: CpuMap) -> Comparison:
        """Can `guest` run on `host`, a CPU of this family with a model?"""
        ...

    def feature_map(self, cpumap: CpuMap, cpus: Sequence[Cpu], operation: str) -> ArchMap:
        """The arch map `operation` (baseline, expand, host-model) computes
        on for `cpus` of this family, or UnknownArch when it cannot."""
        ...


class ByNameDriver:
    """An arch whose map describes models by name only (arm, ppc64, s390)."""

    def __init__(self, family: str) -> None:
        self.family = family

    def compare(self, guest: Cpu, host: Cpu, cpumap: CpuMap) -> Comparison:
        if guest.arch and guest.arch != host.arch:
            return Comparison(INCOMPATIBLE, reason=f"CPU arch {guest.arch} does not match host arch {host.arch}")
        # only the same model on the same arch is known to be compatible
        if guest.model is None or guest.model == host.model:
            return Comparison(IDENTICAL, reason=f"same CPU model {host.model}")
        return Comparison(INCOMPATIBLE,
                          reason=f"guest CPU model {guest.model} differs from host CPU model {host.model}")

    def feature_map(self, cpumap: CpuMap, cpus: Sequence[Cpu], operation: str) -> ArchMap:
        cpu = cpus[0]
        raise UnknownArch(f"cannot {operation} a CPU of arch {cpu.arch}: cpucompat decides "
                          "only x86 CPUs (libvirt's x86 CPU driver)", source=cpu.source)


DRIVERS: dict[str, CpuDriver] = {driver.family: driver for driver in (
    X86Driver(), ByNameDriver("arm"), ByNameDriver("ppc64"), ByNameDriver("s390"))}


def driver_for(arch: str | None) -> CpuDriver:
    """The driver of `arch` (a CPU naming no arch is x86); an arch no map
    family knows is compared by name."""
    family = arch_family(arch)
    return DRIVERS.get(family) or ByNameDriver(family)


def is_x86(arch: str | None) -> bool:
    """Whether libvirt's x86 driver handles `arch` (x86_64, i686, amd64, ...)."""
    return arch_family(arch) == X86Driver.family


def feature_map(cpumap: CpuMap, cpus: Sequence[Cpu], operation: str) -> ArchMap:
    """The arch map `operation` computes on for `cpus` (not empty): each
    CPU's driver must have one (x86's), else UnknownArch names the first
    CPU whose driver has none."""
    return [driver_for(cpu.arch).feature_map(cpumap, (cpu,), operation) for cpu in cpus][0]
