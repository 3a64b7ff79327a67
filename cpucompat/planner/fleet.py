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
"""
from __future__ import annotations

import itertools
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Iterable, Mapping, Sequence

from ..engine.baseline import baseline
from ..engine.compare import Comparison, compare, features_of
from ..engine.decode import host_model
from ..engine.cpu import Cpu, cpu_bits
from ..engine.cpumap import CpuMap, resolve_map
from ..engine.hostcpu import readable_host
from ..engine.releases import QEMU_FILTERED_ANY
from ..errors import CpuCompatError, InvalidInventory, TooFewDomains
from .inventory import Inventory, load_inventory
from ..engine.levels import level_of
from .partition import EXACT_CLASSES, Part, fewest_groups, merge_greedily
from .results import (ClassLoss, Common, CpuClass, Domain, Guest, Refusal, Stranded, StrandedGuests, Targets, Unchecked,
                      WhatIf, plural)

if TYPE_CHECKING:
    import networkx as nx

__all__ = ["DEFAULT_MAX_LOSS", "Fleet"]

DEFAULT_MAX_LOSS = 10

ClassKey = tuple[str | None, int]  # (vendor, full feature set): what makes hosts one class


class Fleet:
    """Hosts grouped into CPU classes, with the planner's questions."""

    def __init__(self, hosts: Mapping[str, Cpu], cpumap: CpuMap | None = None,
                 failures: Mapping[str, str] | None = None, source: str = "") -> None:
        self.cpumap = resolve_map(cpumap)
        self.archmap = self.cpumap.x86
        self._release_filtered = self.archmap.bits(
            [name for name in QEMU_FILTERED_ANY if self.archmap.canonical_feature(name) is not None])
        self.failures = dict(failures or {})
        self.source = source
        # a fleet repeats a few CPUs: one dict step per host, then each
        # question below once per distinct CPU
        by_cpu: dict[Cpu, list[str]] = {}
        unknown: dict[str, int] = {}
        for name, cpu in hosts.items():
            names = by_cpu.get(cpu)
            if names is None:
                by_cpu[cpu] = [name]
            else:
                names.append(name)
            for feature in cpu.unknown_features:
                unknown[feature] = unknown.get(feature, 0) + 1
        # feature name → hosts reporting it, for names the map cannot tell
        # apart: hosts differing only in them fall into one class
        self.unknown_features: dict[str, int] = dict(sorted(unknown.items()))
        by_key: dict[tuple[str | None, int], list[str]] = {}
        first_cpu: dict[tuple[str | None, int], Cpu] = {}
        for cpu, names in by_cpu.items():
            try:
                key = self._class_key(cpu)
            except CpuCompatError as exc:  # the problem, not the source: that names one host of many
                self.failures.update(dict.fromkeys(names, exc.problem))
                continue
            by_key.setdefault(key, []).extend(names)
            first_cpu.setdefault(key, cpu)
        classes: list[CpuClass] = []
        for key, names in sorted(by_key.items(), key=lambda kv: (kv[0][0] or "", kv[0][1])):
            cpu = first_cpu[key]
            try:
                guest = host_model(cpu, self.cpumap)
            except CpuCompatError as exc:
                self.failures.update(dict.fromkeys(names, f"no host-model CPU: {exc.problem}"))
                continue
            # the class's features are its first CPU's, filtered names included (the key ignores them)
            classes.append(CpuClass(len(classes), key[0], features_of(cpu, self.cpumap), cpu, tuple(sorted(names)),
                                    guest, features_of(guest.as_cpu(), self.cpumap)))
        self.classes: tuple[CpuClass, ...] = tuple(classes)
        self.class_of: dict[str, CpuClass] = {h: c for c in classes for h in c.hosts}
        self._verdicts: dict[tuple[Cpu, int], Comparison] = {}
        self._sorted_hosts: tuple[str, ...] | None = None

    def _class_key(self, cpu: Cpu) -> tuple[str | None, int]:
        """(vendor, full feature set) of a host CPU, or InvalidInventory
        saying why the planner cannot take it.

        The set leaves out what some libvirt release's QEMU driver filters
        (rules.QEMU_FILTERED_ANY: ``ht`` is in a 9.0.0 compute's cpu_info,
        never in a 12.8.0 one's, for the same silicon), so hosts of one CPU
        on different libvirt releases, named by any alias, are one class.
        Features an older libvirt cannot expose at all (its map lacks them)
        still part them: a guest cannot get them there."""
        if cpu.model is None:
            raise InvalidInventory(f"describes no CPU model (a {cpu.mode} guest CPU is not a host CPU)")
        if cpu.vendor is not None and cpu.vendor not in self.archmap.vendors:
            raise InvalidInventory(f"unknown CPU vendor {cpu.vendor!r} (cpu_map {self.cpumap.source} knows "
                                   f"{', '.join(self.archmap.vendors)})")
        model = self.archmap.model_by_name.get(cpu.model)
        if model is not None and cpu.vendor and model.vendor and model.vendor != cpu.vendor:
            # libvirt's baseline refuses such a CPU among others
            raise InvalidInventory(f"CPU vendor {model.vendor} of model {model.name} differs from vendor {cpu.vendor}")
        # what is left unknown here lists only extras beyond its model (XML): refused, naming a newer map
        cpu = readable_host(cpu, self.cpumap, lists_all_features=False)
        return cpu.vendor, features_of(cpu, self.cpumap) & ~self._release_filtered

    @classmethod
    def load(cls, sources: str | Path | Iterable[str | Path], cpumap: CpuMap | None = None,
             **options: Any) -> "Fleet":
        """Load an inventory (see `cpucompat.planner.inventory`) into a Fleet."""
        inventory = load_inventory(sources, cpumap, **options)
        return cls.from_inventory(inventory, cpumap)

    @classmethod
    def from_inventory(cls, inventory: Inventory, cpumap: CpuMap | None = None) -> "Fleet":
        return cls(inventory.hosts, cpumap, inventory.failures, inventory.source)

    @property
    def hosts(self) -> list[str]:
        """Every host of the fleet, sorted (computed once)."""
        if self._sorted_hosts is None:
            self._sorted_hosts = _sorted_hosts(self.classes)
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

    def _runs(self, guest: Cpu, cls_index: int) -> Comparison:
        key = (guest, cls_index)
        verdict = self._verdicts.get(key)
        if verdict is None:
            verdict = self._verdicts[key] = compare(guest, self.classes[cls_index].cpu, self.cpumap)
        return verdict

    def targets(self, host: str) -> Targets:
        """Hosts a host-model guest started on `host` can live-migrate to."""
        source = self._class(host)
        guest = source.host_model.as_cpu()
        targets: list[str] = []
        refused: list[Refusal] = []
        for cls in self.classes:
            verdict = self._runs(guest, cls.index)
            for name in cls.hosts:
                if name == host:
                    continue
                if verdict.compatible:
                    targets.append(name)
                else:
                    refused.append(Refusal(name, verdict.reason, verdict.missing))
        return Targets(host, source.host_model, tuple(sorted(targets)), tuple(sorted(refused, key=lambda r: r.host)))

    def domain(self, guest: Cpu) -> tuple[tuple[str, ...], tuple[Refusal, ...]]:
        """Every host that can run `guest`, and why the others cannot."""
        hosts: list[str] = []
        refused: list[Refusal] = []
        for cls in self.classes:
            verdict = self._runs(guest, cls.index)
            if verdict.compatible:
                hosts.extend(cls.hosts)
            else:
                refused.extend(Refusal(h, verdict.reason, verdict.missing) for h in cls.hosts)
        return tuple(sorted(hosts)), tuple(sorted(refused, key=lambda r: r.host))

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
                if a is not b and self._runs(guest, b.index).compatible:
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
        hosts = _sorted_hosts(classes)
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

        Answered once per distinct guest CPU on classes: O(G + D·C) for G
        guests with D distinct CPUs.
        """
        out = []
        unchecked: list[Unchecked] = []
        checked = 0
        host_models: dict[int, Cpu] = {}
        reach: dict[Cpu, _Reach | str] = {}  # str: why that CPU cannot be compared
        for index, guest in enumerate(guests):
            try:
                source = self._class(guest.host)
            except InvalidInventory as exc:
                unchecked.append(Unchecked(index, guest, str(exc)))
                continue
            cpu = guest.cpu
            if cpu is None:
                cpu = host_models.get(source.index)
                if cpu is None:
                    cpu = host_models[source.index] = source.host_model.as_cpu()
            where = reach.get(cpu)
            if where is None:
                try:
                    where = self._reach(cpu)
                except CpuCompatError as exc:
                    where = str(exc)
                reach[cpu] = where
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

    def _reach(self, cpu: Cpu) -> "_Reach":
        """Which classes run `cpu`, and the refused host missing the fewest
        features (first by name among equals)."""
        pinning = tuple(self._non_migratable(cpu))
        if pinning:
            return _Reach(frozenset(), 0, None, pinning)
        classes: set[int] = set()
        hosts = 0
        nearest: tuple[int, str, Comparison] | None = None
        for cls in self.classes:
            verdict = self._runs(cpu, cls.index)
            if verdict.compatible:
                classes.add(cls.index)
                hosts += len(cls.hosts)
            elif nearest is None or (len(verdict.missing), cls.hosts[0]) < nearest[:2]:
                nearest = (len(verdict.missing), cls.hosts[0], verdict)
        refusal = None
        if nearest is not None:
            refusal = Refusal(nearest[1], nearest[2].reason, nearest[2].missing)
        return _Reach(frozenset(classes), hosts, refusal, ())

    def _non_migratable(self, cpu: Cpu) -> list[str]:
        bits = cpu_bits(cpu, self.archmap)
        wanted = (bits.require | bits.force) & ~bits.disable
        return self.archmap.names(wanted & self.archmap.non_migratable)

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
        retire = tuple(retire)
        after = self.without(retire).with_hosts(dict(add or {}))
        # with_hosts takes no name of self.failures: every other failure is a host of `add`
        not_added = {h: reason for h, reason in sorted(after.failures.items()) if h not in self.failures}
        before_by_key = {(c.vendor, c.features): c for c in self.classes}
        after_by_key = {(c.vendor, c.features): c for c in after.classes}
        # hosts only one side has, by class: a host on both sides keeps its CPU, so its class's key
        added: dict[tuple[str | None, int], list[str]] = {}
        for host in after.hosts:
            if host not in self.class_of:
                cls = after.class_of[host]
                added.setdefault((cls.vendor, cls.features), []).append(host)
        gone: dict[tuple[str | None, int], list[str]] = {}
        for host in self.hosts:
            if host not in after.class_of:
                cls = self.class_of[host]
                gone.setdefault((cls.vendor, cls.features), []).append(host)

        def reached(fleet: Fleet, source: CpuClass) -> set[tuple[str | None, int]]:
            guest = source.host_model.as_cpu()
            return {(c.vendor, c.features) for c in fleet.classes if fleet._runs(guest, c.index).compatible}

        def difference(reach: set[ClassKey], other: set[ClassKey], classes: Mapping[ClassKey, CpuClass],
                       only: Mapping[ClassKey, list[str]]) -> list[str]:
            # hosts of `reach` outside `other`: a class `other` reaches too
            # contributes only the hosts the other side lacks
            hosts: list[str] = []
            for key in reach:
                hosts.extend(only.get(key, ()) if key in other else classes[key].hosts)
            return sorted(hosts)

        # by the class before: a host keeps its CPU, so its class after follows
        changes: dict[int, list[tuple[tuple[str, ...], bool]]] = {}
        gained: dict[str, tuple[str, ...]] = {}
        lost: dict[str, tuple[str, ...]] = {}
        for host in after.hosts:
            source_before = self.class_of.get(host)
            if source_before is None:
                continue
            change = changes.get(source_before.index)
            if change is None:
                reach_before, reach_after = reached(self, source_before), reached(after, after.class_of[host])
                own = (source_before.vendor, source_before.features)
                # a host never targets itself: it is in a list only when its own
                # class is reached on that side alone
                change = changes[source_before.index] = [
                    (tuple(difference(reach_after, reach_before, after_by_key, added)),
                     own in reach_after and own not in reach_before),
                    (tuple(difference(reach_before, reach_after, before_by_key, gone)),
                     own in reach_before and own not in reach_after)]
            for out, (hosts, has_own) in zip((gained, lost), change):
                if has_own:
                    hosts = tuple(h for h in hosts if h != host)
                if hosts:
                    out[host] = hosts
        return WhatIf(tuple(h for h in sorted(add or {}) if h in after.class_of), tuple(sorted(retire)), not_added,
                      self.domains(max_domains, max_loss), after.domains(max_domains, max_loss),
                      gained, lost, self._vendor_commons(), after._vendor_commons())


@dataclass(frozen=True, slots=True)
class _Reach:
    """Where one guest CPU runs, for `Fleet.stranded`."""

    classes: frozenset[int]
    hosts: int  # hosts in those classes
    nearest: Refusal | None
    pinning: tuple[str, ...]  # non-migratable features it requires


def _sorted_hosts(classes: Sequence[CpuClass]) -> tuple[str, ...]:
    """The hosts of `classes`, sorted: runs of sorted names, merged."""
    if len(classes) == 1:
        return classes[0].hosts
    return tuple(sorted(itertools.chain.from_iterable(c.hosts for c in classes)))


