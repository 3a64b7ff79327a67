"""What changes when hosts join or leave a fleet: `Fleet.what_if`'s computation.

Split out of fleet.py (issue 11: no module over 400 lines).  `Fleet.what_if`
calls `what_if(fleet, ...)`; this module imports fleet.py only for type
annotations, never at run time, so there is no import circle.
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Iterable, Mapping

from ..engine.cpu import Cpu
from .classes import ClassKey
from .results import CpuClass, WhatIf

if TYPE_CHECKING:
    from .fleet import Fleet

__all__ = ["what_if"]


def what_if(fleet: Fleet, add: Mapping[str, Cpu] | None = None, retire: Iterable[str] = (),
            max_domains: int | None = None, max_loss: int | None = None) -> WhatIf:
    """Which domains, targets and common models of `fleet` change; hosts of
    `add` the fleet cannot take (no CPU model, an unknown vendor, no
    host-model CPU) are left out, with why, in `not_added`.

    Targets are compared per class, not per host: O(H + C²) compares
    and set steps, plus the size of the answer.
    """
    retire = tuple(retire)
    after = fleet.without(retire).with_hosts(dict(add or {}))
    # with_hosts takes no name of fleet.failures: every other failure is a host of `add`
    not_added = {h: reason for h, reason in sorted(after.failures.items()) if h not in fleet.failures}
    before_by_key = {(c.vendor, c.features): c for c in fleet.classes}
    after_by_key = {(c.vendor, c.features): c for c in after.classes}
    # hosts only one side has, by class: a host on both sides keeps its CPU, so its class's key
    added: dict[ClassKey, list[str]] = {}
    for host in after.hosts:
        if host not in fleet.class_of:
            cls = after.class_of[host]
            added.setdefault((cls.vendor, cls.features), []).append(host)
    gone: dict[ClassKey, list[str]] = {}
    for host in fleet.hosts:
        if host not in after.class_of:
            cls = fleet.class_of[host]
            gone.setdefault((cls.vendor, cls.features), []).append(host)

    # by the class before: a host keeps its CPU, so its class after follows
    changes: dict[int, list[tuple[tuple[str, ...], bool]]] = {}
    gained: dict[str, tuple[str, ...]] = {}
    lost: dict[str, tuple[str, ...]] = {}
    for host in after.hosts:
        source_before = fleet.class_of.get(host)
        if source_before is None:
            continue
        change = changes.get(source_before.index)
        if change is None:
            reach_before, reach_after = _reached(fleet, source_before), _reached(after, after.class_of[host])
            own = (source_before.vendor, source_before.features)
            # a host never targets itself: it is in a list only when its own
            # class is reached on that side alone
            change = changes[source_before.index] = [
                (tuple(_difference(reach_after, reach_before, after_by_key, added)),
                 own in reach_after and own not in reach_before),
                (tuple(_difference(reach_before, reach_after, before_by_key, gone)),
                 own in reach_before and own not in reach_after)]
        for out, (hosts, has_own) in zip((gained, lost), change):
            if has_own:
                hosts = tuple(h for h in hosts if h != host)
            if hosts:
                out[host] = hosts
    return WhatIf(tuple(h for h in sorted(add or {}) if h in after.class_of), tuple(sorted(retire)), not_added,
                  fleet.domains(max_domains, max_loss), after.domains(max_domains, max_loss),
                  gained, lost, fleet._vendor_commons(), after._vendor_commons())


def _reached(fleet: Fleet, source: CpuClass) -> set[ClassKey]:
    """The keys of the classes a host-model guest of `source` can move to."""
    guest = source.host_model.as_cpu()
    return {(c.vendor, c.features) for c in fleet.classes if fleet.runs(guest, c.index).compatible}


def _difference(reach: set[ClassKey], other: set[ClassKey], classes: Mapping[ClassKey, CpuClass],
                only: Mapping[ClassKey, list[str]]) -> list[str]:
    """Hosts of `reach` outside `other`: a class `other` reaches too
    contributes only the hosts the other side lacks."""
    hosts: list[str] = []
    for key in reach:
        hosts.extend(only.get(key, ()) if key in other else classes[key].hosts)
    return sorted(hosts)
