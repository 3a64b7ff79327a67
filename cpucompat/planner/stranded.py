"""Which running guests a fleet strands: `Fleet.stranded`'s computation.

Split out of fleet.py (issue 11: no module over 400 lines).  `Fleet.stranded`
calls `stranded(fleet, guests)`; this module imports fleet.py only for
type annotations, never at run time, so there is no import circle.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Iterable

from ..engine.compare import Comparison
from ..engine.cpu import Cpu, cpu_bits
from ..errors import CpuCompatError, InvalidInventory
from .results import Guest, Refusal, Stranded, StrandedGuests, Unchecked

if TYPE_CHECKING:
    from .fleet import Fleet

__all__ = ["non_migratable", "reach", "stranded"]


@dataclass(frozen=True, slots=True)
class _Reach:
    """Where one guest CPU runs, for `stranded`."""

    classes: frozenset[int]
    hosts: int  # hosts in those classes
    nearest: Refusal | None
    pinning: tuple[str, ...]  # non-migratable features it requires


def stranded(fleet: Fleet, guests: Iterable[Guest]) -> StrandedGuests:
    """Guests that cannot move anywhere but their current host, and
    (`unchecked`) each guest that cannot be answered for, with why: its
    host is not in the fleet, or its CPU is one the map cannot compare.

    Answered once per distinct guest CPU on classes: O(G + D·C) for G
    guests with D distinct CPUs.
    """
    out = []
    unchecked: list[Unchecked] = []
    checked = 0
    host_models: dict[int, Cpu] = {}
    reaches: dict[Cpu, _Reach | str] = {}  # str: why that CPU cannot be compared
    for index, guest in enumerate(guests):
        try:
            source = fleet._class(guest.host)
        except InvalidInventory as exc:
            unchecked.append(Unchecked(index, guest, str(exc)))
            continue
        cpu = guest.cpu
        if cpu is None:
            cpu = host_models.get(source.index)
            if cpu is None:
                cpu = host_models[source.index] = source.host_model.as_cpu()
        where = reaches.get(cpu)
        if where is None:
            try:
                where = reach(fleet, cpu)
            except CpuCompatError as exc:
                where = str(exc)
            reaches[cpu] = where
        if isinstance(where, str):
            unchecked.append(Unchecked(index, guest, where))
            continue
        checked += 1
        if where.pinning:
            out.append(Stranded(guest.name, guest.host, f"its CPU requires non-migratable "
                                f"features ({', '.join(where.pinning)}): libvirt refuses to live-migrate it"))
            continue
        others = where.hosts - (1 if source.index in where.classes else 0)
        if others:
            continue
        reason = "no other host in the fleet"
        if where.nearest is not None:
            reason = f"no other host can run its CPU; nearest {where.nearest.host}: {where.nearest.reason}"
        out.append(Stranded(guest.name, guest.host, reason))
    return StrandedGuests(out, unchecked, checked)


def reach(fleet: Fleet, cpu: Cpu) -> _Reach:
    """Which classes of `fleet` run `cpu`, and the refused host missing the
    fewest features (first by name among equals)."""
    pinning = tuple(non_migratable(fleet, cpu))
    if pinning:
        return _Reach(frozenset(), 0, None, pinning)
    classes: set[int] = set()
    hosts = 0
    nearest: tuple[int, str, Comparison] | None = None
    for cls in fleet.classes:
        verdict = fleet.runs(cpu, cls.index)
        if verdict.compatible:
            classes.add(cls.index)
            hosts += len(cls.hosts)
        elif nearest is None or (len(verdict.missing), cls.hosts[0]) < nearest[:2]:
            nearest = (len(verdict.missing), cls.hosts[0], verdict)
    refusal = None
    if nearest is not None:
        refusal = Refusal(nearest[1], nearest[2].reason, nearest[2].missing)
    return _Reach(frozenset(classes), hosts, refusal, ())


def non_migratable(fleet: Fleet, cpu: Cpu) -> list[str]:
    """The non-migratable features (libvirt refuses to live-migrate a guest
    requiring one) that `cpu` requires or forces."""
    archmap = fleet.archmap
    bits = cpu_bits(cpu, archmap)
    wanted = (bits.require | bits.force) & ~bits.disable
    return archmap.names(wanted & archmap.non_migratable)
