"""Migration domains for capacity planners: who can move where, and at what cost.

A `Fleet` groups hosts into *classes* of identical CPUs (same vendor, same
full feature set) first, and answers every question on classes: cost grows
with the number of distinct CPUs, not with the number of hosts.  All
answers are frozen values carrying their explanations, with ``to_dict()``
for JSON.

* ``targets(host)``: where a host-model guest started on `host` can
  live-migrate (destination ⊇ the guest's CPU: asymmetric);
* ``domain(cpu)``: every host that can run a guest CPU;
* ``domains(max_domains=K | max_loss=N)``: a partition of the fleet, each
  part with its best common CPU (libvirt's baseline), the features each host
  gives up, and the psABI level it guarantees;
* ``common(hosts)``, ``what_if(add, retire)``, ``stranded(guests)``,
  ``graph()``.

Reading hosts into classes lives in classes.py, the what-if and the
stranded-guests computations in whatif.py and stranded.py: each takes the
fleet as an argument and imports this module only for annotations.
"""
from __future__ import annotations

import functools
from pathlib import Path
from typing import TYPE_CHECKING, Any, Iterable, Mapping, Sequence

from ..engine.baseline import baseline
from ..engine.compare import Comparison, compare, features_of
from ..engine.cpu import Cpu
from ..engine.cpumap import CpuMap, resolve_map
from ..errors import CpuCompatError, InvalidInventory, TooFewDomains
from .inventory import Inventory, load_inventory
from ..engine.levels import level_of
from .classes import read_classes, sorted_hosts
from .partition import EXACT_CLASSES, Part, fewest_groups, merge_greedily
from .results import (ClassLoss, ClassRefusal, Common, CpuClass, Domain, Guest, StrandedGuests, Targets, WhatIf,
                      plural)
from .results import Unchecked as Unchecked  # re-exported: callers import it from here
from .stranded import stranded as _stranded
from .whatif import what_if as _what_if

if TYPE_CHECKING:
    import networkx as nx

__all__ = ["DEFAULT_MAX_LOSS", "Fleet"]

DEFAULT_MAX_LOSS = 10


class Fleet:
    """Hosts grouped into CPU classes, with the planner's questions."""

    def __init__(self, hosts: Mapping[str, Cpu], cpumap: CpuMap | None = None,
                 failures: Mapping[str, str] | None = None, source: str = "") -> None:
        self.cpumap = resolve_map(cpumap)
        self.archmap = self.cpumap.x86
        self.failures = dict(failures or {})
        self.source = source
        # classes.py: hosts of one (vendor, feature set) are one class; the
        # hosts it cannot take go into self.failures, with why
        classes, unknown = read_classes(hosts, self.cpumap, self.failures)
        # feature name → hosts reporting it, for names the map cannot tell
        # apart: hosts differing only in them fall into one class
        self.unknown_features: dict[str, int] = unknown
        self.classes: tuple[CpuClass, ...] = classes
        self._verdicts: dict[tuple[Cpu, int], Comparison] = {}
        self._sorted_hosts: tuple[str, ...] | None = None

    @classmethod
    def load(cls, sources: str | Path | Iterable[str | Path], cpumap: CpuMap | None = None,
             **options: Any) -> "Fleet":
        """Load an inventory (see `cpucompat.planner.inventory`) into a Fleet."""
        inventory = load_inventory(sources, cpumap, **options)
        return cls.from_inventory(inventory, cpumap)

    @classmethod
    def from_inventory(cls, inventory: Inventory, cpumap: CpuMap | None = None) -> "Fleet":
        return cls(inventory.hosts, cpumap, inventory.failures, inventory.source)

    @functools.cached_property
    def class_of(self) -> dict[str, CpuClass]:
        """Host → its class: built when a question names a host (a million
        entries that `domains` never needs)."""
        return {h: c for c in self.classes for h in c.hosts}

    @property
    def hosts(self) -> list[str]:
        """Every host of the fleet, sorted (computed once)."""
        if self._sorted_hosts is None:
            self._sorted_hosts = sorted_hosts(self.classes)
        return list(self._sorted_hosts)

    def _class(self, host: str) -> CpuClass:
        if host not in self.class_of:
            reason = self.failures.get(host)
            raise InvalidInventory(f"host {host} is not in the fleet" + (f" ({reason})" if reason else ""),
                                   source=self.source or None)
        return self.class_of[host]

    # -- questions -------------------------------------------------------------
    def classes_table(self) -> list[CpuClass]:
        return list(self.classes)

    def runs(self, guest: Cpu, cls_index: int) -> Comparison:
        """Can `guest` run on the hosts of class `cls_index`?  Cached per (guest, class)."""
        key = (guest, cls_index)
        verdict = self._verdicts.get(key)
        if verdict is None:
            verdict = self._verdicts[key] = compare(guest, self.classes[cls_index].cpu, self.cpumap)
        return verdict

    def targets(self, host: str) -> Targets:
        """Hosts a host-model guest started on `host` can live-migrate to,
        and the classes whose hosts it cannot (each once, with its hosts)."""
        source = self._class(host)
        guest = source.host_model.as_cpu()
        targets: list[str] = []
        refused: list[ClassRefusal] = []
        for cls in self.classes:  # a class's hosts are sorted (classes.py)
            verdict = self.runs(guest, cls.index)
            others = [name for name in cls.hosts if name != host]
            if verdict.compatible:
                targets.extend(others)
            elif others:
                refused.append(ClassRefusal(cls, tuple(others), verdict.reason, verdict.missing))
        return Targets(host, source.host_model, tuple(sorted(targets)), tuple(refused))

    def domain(self, guest: Cpu) -> tuple[tuple[str, ...], tuple[ClassRefusal, ...]]:
        """Every host that can run `guest`, and the classes that cannot, with why."""
        hosts: list[str] = []
        refused: list[ClassRefusal] = []
        for cls in self.classes:
            verdict = self.runs(guest, cls.index)
            if verdict.compatible:
                hosts.extend(cls.hosts)
            else:
                refused.append(ClassRefusal(cls, cls.hosts, verdict.reason, verdict.missing))
        return tuple(sorted(hosts)), tuple(refused)

    def graph(self) -> "nx.DiGraph":
        """Graph over classes: edge A → B when A's host-model guests can move
        to B.  O(C²) compares."""
        import networkx as nx  # only the lattice questions need it

        graph = nx.DiGraph()
        for cls in self.classes:
            graph.add_node(cls.index, label=cls.label, model=cls.host_model.model, vendor=cls.vendor or "",
                           hosts=len(cls.hosts), host_names=" ".join(cls.hosts),
                           level=level_of(cls.features, self.archmap) or "")
        for a in self.classes:
            guest = a.host_model.as_cpu()
            for b in self.classes:
                if a is not b and self.runs(guest, b.index).compatible:
                    graph.add_edge(a.index, b.index)
        return graph

    def lattice(self) -> tuple["nx.DiGraph", "nx.DiGraph"]:
        """The condensation of `graph()` (classes that reach each other merged)
        and its Hasse diagram (transitive reduction)."""
        import networkx as nx

        condensed = nx.condensation(self.graph())
        reduced = nx.transitive_reduction(condensed)
        reduced.add_nodes_from(condensed.nodes(data=True))
        return condensed, reduced

    def _loss(self, classes: Sequence[CpuClass], common_bits: int,
              chosen: Iterable[str] | None = None) -> tuple[ClassLoss, ...]:
        """Each class with its hosts (those `chosen`, if given) and the
        features they give up under a common CPU of `common_bits`: once per
        class, never per host."""
        wanted = None if chosen is None else set(chosen)
        members = []
        for cls in classes:
            hosts = cls.hosts if wanted is None else tuple(h for h in cls.hosts if h in wanted)
            members.append(ClassLoss(cls, hosts, tuple(self.archmap.names(cls.guest_features & ~common_bits))))
        return tuple(members)

    def _domain_of(self, name: str, classes: Sequence[CpuClass]) -> Domain:
        common = baseline([c.cpu for c in classes], self.cpumap, migratable=True)
        bits = features_of(common.as_cpu(), self.cpumap)
        hosts = sorted_hosts(classes)
        return Domain(name, hosts, common, level_of(bits, self.archmap), self._loss(classes, bits))

    def domains(self, max_domains: int | None = None, max_loss: int | None = None) -> tuple[Domain, ...]:
        """Partition the fleet into migration domains (never across vendors).

        Without `max_domains`: the fewest domains in which no host gives up
        more than `max_loss` features (default DEFAULT_MAX_LOSS) of its own
        host-model CPU, the cheapest of them (fewest features given up,
        counted per host).  Exact when no vendor has more than
        EXACT_CLASSES classes (O(3^n) on a vendor's n classes); beyond,
        the greedy merging below, which may leave more domains.

        With `max_domains`: merge greedily, the cheapest pair of domains
        first, until at most K remain (within `max_loss` if given; when
        that stops short, the exact fewest are used if they fit).
        O(C² log C) on classes, each merge costing the features it takes.
        """
        if max_domains is not None and max_domains < 1:
            raise InvalidInventory("max_domains must be at least 1")
        limit = DEFAULT_MAX_LOSS if max_loss is None and max_domains is None else max_loss
        by_vendor: dict[str | None, list[Part]] = {}
        for cls in self.classes:
            by_vendor.setdefault(cls.vendor, []).append(cls.part)
        exact = limit is not None and all(len(members) <= EXACT_CLASSES for members in by_vendor.values())
        if max_domains is None and exact and limit is not None:
            found = [g for members in by_vendor.values() for g in fewest_groups(members, limit)]
        else:
            found = merge_greedily(by_vendor.values(), max_domains, limit)
        if max_domains is not None and len(found) > max_domains:
            # merging stopped short: at the vendors, or where the next merge costs over `limit`
            vendors = sorted({c.vendor or "-" for c in self.classes})
            if exact and limit is not None:  # the fewest there are, and no more than greedy merging leaves
                found = [g for members in by_vendor.values() for g in fewest_groups(members, limit)]
            if len(found) > max_domains:
                needed = len(found)
                why = f"the fleet needs {plural(needed, 'domain')}"
                if limit is not None:
                    how = "" if exact else "merging the cheapest first, "
                    why = f"{how}for no host to give up more than {limit} features {why}"
                if len(vendors) > max_domains:
                    why += f" (hosts of {len(vendors)} vendors, {', '.join(vendors)}, never share one)"
                elif limit is not None:
                    why += "; allow more domains or a larger loss"
                raise TooFewDomains(f"cannot fit the fleet into {plural(max_domains, 'domain')}: {why}",
                                    max_domains=max_domains, max_loss=limit, needed=needed)
        groups = [[self.classes[part.key] for part in group] for group in found]
        groups.sort(key=lambda g: (-sum(len(c.hosts) for c in g), g[0].index))
        return tuple(self._domain_of(f"D{n + 1}", g) for n, g in enumerate(groups))

    def common(self, hosts: Iterable[str]) -> Common:
        """The best common CPU of `hosts` (libvirt's baseline) and its cost."""
        names = tuple(dict.fromkeys(hosts))
        if not names:
            raise InvalidInventory("no hosts given")
        classes = sorted({self._class(h).index: self._class(h) for h in names}.values(), key=lambda c: c.index)
        common = baseline([c.cpu for c in classes], self.cpumap, migratable=True)
        bits = features_of(common.as_cpu(), self.cpumap)
        return Common(names, common, level_of(bits, self.archmap), self._loss(classes, bits, names))

    def levels(self) -> dict[str, str | None]:
        """psABI level per host."""
        level = {c.index: level_of(c.features, self.archmap) for c in self.classes}
        return {h: level[self.class_of[h].index] for h in self.hosts}

    def stranded(self, guests: Iterable[Guest]) -> StrandedGuests:
        """Guests that cannot move anywhere but their current host, and
        (`unchecked`) each guest that cannot be answered for, with why: its
        host is not in the fleet, or its CPU is one the map cannot compare.

        Answered once per distinct guest CPU on classes (stranded.py):
        O(G + D·C) for G guests with D distinct CPUs.
        """
        return _stranded(self, guests)

    def without(self, retire: Iterable[str]) -> "Fleet":
        gone = set(retire)
        unknown = gone - set(self.class_of)
        if unknown:
            raise InvalidInventory(f"cannot retire hosts not in the fleet: {', '.join(sorted(unknown))}")
        hosts = {h: self.class_of[h].cpu for h in self.hosts if h not in gone}
        return Fleet(hosts, self.cpumap, self.failures, self.source)

    def with_hosts(self, add: Mapping[str, Cpu]) -> "Fleet":
        clash = [h + (f" (unreadable: {self.failures[h]})" if h in self.failures else "")
                 for h in sorted(add) if h in self.class_of or h in self.failures]
        if clash:
            raise InvalidInventory(f"hosts already in the fleet: {', '.join(clash)}")
        hosts = {h: self.class_of[h].cpu for h in self.hosts}
        hosts.update(add)
        return Fleet(hosts, self.cpumap, self.failures, self.source)

    def _vendor_commons(self) -> dict[str, str]:
        out = {}
        for vendor in sorted({c.vendor or "-" for c in self.classes}):
            members = [c.cpu for c in self.classes if (c.vendor or "-") == vendor]
            try:
                out[vendor] = baseline(members, self.cpumap, migratable=True).model or "-"
            except CpuCompatError as exc:
                out[vendor] = f"none ({exc})"
        return out

    def what_if(self, add: Mapping[str, Cpu] | None = None, retire: Iterable[str] = (),
                max_domains: int | None = None, max_loss: int | None = None) -> WhatIf:
        """Which domains, targets and common models change; hosts of `add` the
        fleet cannot take (no CPU model, an unknown vendor, no host-model
        CPU) are left out, with why, in `not_added`.

        Targets are compared per class, not per host: O(H + C²) compares
        and set steps, plus the size of the answer.
        """
        return _what_if(self, add, retire, max_domains, max_loss)
