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

from dataclasses import dataclass
from typing import TYPE_CHECKING, Iterable, Mapping, Sequence

from .compat import Comparison, Expansion, baseline, compare, features_of, host_model
from .cpu import Cpu, cpu_bits
from .cpumap import CpuMap, embedded_cpu_map
from .errors import CpuCompatError, InvalidInventory
from .inventory import Inventory, load_inventory
from .levels import level_of

if TYPE_CHECKING:
    import networkx as nx

DEFAULT_MAX_LOSS = 10


@dataclass(frozen=True, slots=True, eq=False)
class CpuClass:
    """Hosts with an identical CPU, and the host-model guest CPU they give."""

    index: int
    vendor: str | None
    features: int  # the hosts' full feature bitmask
    cpu: Cpu  # one host's CPU definition, standing for all
    hosts: tuple[str, ...]
    host_model: Expansion  # migratable host-model guest CPU
    guest_features: int  # full bitmask of that guest CPU

    @property
    def label(self) -> str:
        return f"C{self.index} {self.host_model.model}"

    def to_dict(self, archmap) -> dict:
        return {"class": self.index, "vendor": self.vendor, "model": self.cpu.model,
                "host_model": self.host_model.model, "hosts": list(self.hosts),
                "features": archmap.names(self.features), "level": level_of(self.features, archmap)}


@dataclass(frozen=True, slots=True)
class Refusal:
    host: str
    reason: str
    missing: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class Targets:
    """Where a host-model guest started on `host` can live-migrate."""

    host: str
    guest: Expansion
    targets: tuple[str, ...]
    refused: tuple[Refusal, ...]

    def to_dict(self) -> dict:
        return {"host": self.host, "guest_model": self.guest.model, "targets": list(self.targets),
                "refused": [{"host": r.host, "reason": r.reason, "missing": list(r.missing)}
                            for r in self.refused]}


@dataclass(frozen=True, slots=True)
class Domain:
    """A set of hosts between which a guest of `common` moves freely."""

    name: str
    hosts: tuple[str, ...]
    common: Expansion
    level: str | None
    loss: Mapping[str, tuple[str, ...]]  # host → features it gives up vs its own host-model

    def to_dict(self) -> dict:
        return {"name": self.name, "hosts": list(self.hosts), "model": self.common.model,
                "vendor": self.common.vendor, "features": list(self.common.features),
                "disabled": list(self.common.disabled), "level": self.level,
                "loss": {h: list(f) for h, f in self.loss.items()},
                "max_loss": max((len(f) for f in self.loss.values()), default=0)}


@dataclass(frozen=True, slots=True)
class Common:
    """The best common CPU of chosen hosts and what it costs each."""

    hosts: tuple[str, ...]
    common: Expansion
    level: str | None
    loss: Mapping[str, tuple[str, ...]]

    def to_dict(self) -> dict:
        return {"hosts": list(self.hosts), "model": self.common.model, "vendor": self.common.vendor,
                "features": list(self.common.features), "disabled": list(self.common.disabled),
                "level": self.level, "loss": {h: list(f) for h, f in self.loss.items()}}


@dataclass(frozen=True, slots=True)
class Guest:
    """A running guest: its name, the host it runs on, and optionally its CPU
    (default: the host-model CPU of its host)."""

    name: str
    host: str
    cpu: Cpu | None = None


@dataclass(frozen=True, slots=True)
class Stranded:
    guest: str
    host: str
    targets: tuple[str, ...]
    reason: str

    def to_dict(self) -> dict:
        return {"guest": self.guest, "host": self.host, "targets": list(self.targets), "reason": self.reason}


@dataclass(frozen=True, slots=True)
class WhatIf:
    """What changes when hosts are added and/or retired."""

    added: tuple[str, ...]
    retired: tuple[str, ...]
    domains_before: tuple[Domain, ...]
    domains_after: tuple[Domain, ...]
    targets_gained: Mapping[str, tuple[str, ...]]
    targets_lost: Mapping[str, tuple[str, ...]]
    common_before: Mapping[str, str]  # vendor → model of the whole-fleet baseline
    common_after: Mapping[str, str]

    @property
    def changed(self) -> bool:
        return (self.targets_gained or self.targets_lost or self.common_before != self.common_after
                or [d.to_dict() for d in self.domains_before] != [d.to_dict() for d in self.domains_after])

    def to_dict(self) -> dict:
        return {"added": list(self.added), "retired": list(self.retired), "changed": bool(self.changed),
                "domains_before": [d.to_dict() for d in self.domains_before],
                "domains_after": [d.to_dict() for d in self.domains_after],
                "targets_gained": {h: list(t) for h, t in self.targets_gained.items()},
                "targets_lost": {h: list(t) for h, t in self.targets_lost.items()},
                "common_before": dict(self.common_before), "common_after": dict(self.common_after)}


class Fleet:
    """Hosts grouped into CPU classes, with the planner's questions."""

    def __init__(self, hosts: Mapping[str, Cpu], cpumap: CpuMap | None = None,
                 failures: Mapping[str, str] | None = None, source: str = "") -> None:
        self.cpumap = cpumap if cpumap is not None else embedded_cpu_map()
        self.archmap = self.cpumap.x86
        self.failures = dict(failures or {})
        self.source = source
        by_cpu: dict[tuple[str | None, int], list[str]] = {}
        first_cpu: dict[tuple[str | None, int], Cpu] = {}
        for name, cpu in hosts.items():
            if cpu.model is None:
                self.failures[name] = f"describes no CPU model (a {cpu.mode} guest CPU is not a host CPU)"
                continue
            if cpu.vendor is not None and cpu.vendor not in self.archmap.vendors:
                self.failures[name] = (f"unknown CPU vendor {cpu.vendor!r} (cpu_map {self.cpumap.source} knows "
                                       f"{', '.join(self.archmap.vendors)})")
                continue
            model = self.archmap.model_by_name.get(cpu.model)
            if model is not None and cpu.vendor and model.vendor and model.vendor != cpu.vendor:
                # libvirt's baseline refuses such a CPU among others
                self.failures[name] = f"CPU vendor {model.vendor} of model {model.name} differs from vendor {cpu.vendor}"
                continue
            try:
                key = (cpu.vendor, features_of(cpu, self.cpumap))
            except CpuCompatError as exc:
                self.failures[name] = str(exc)
                continue
            by_cpu.setdefault(key, []).append(name)
            first_cpu.setdefault(key, cpu)
        classes = []
        for index, (key, names) in enumerate(sorted(by_cpu.items(), key=lambda kv: (kv[0][0] or "", kv[0][1]))):
            cpu = first_cpu[key]
            try:
                guest = host_model(cpu, self.cpumap)
            except CpuCompatError as exc:
                for name in names:
                    self.failures[name] = f"no host-model CPU: {exc}"
                continue
            classes.append(CpuClass(len(classes), key[0], key[1], cpu, tuple(sorted(names)), guest,
                                    features_of(guest.as_cpu(), self.cpumap)))
        self.classes: tuple[CpuClass, ...] = tuple(classes)
        self.class_of: dict[str, CpuClass] = {h: c for c in classes for h in c.hosts}
        self._verdicts: dict[tuple[Cpu, int], Comparison] = {}

    @classmethod
    def load(cls, sources, cpumap: CpuMap | None = None, **options) -> "Fleet":
        """Load an inventory (see `cpucompat.inventory`) into a Fleet."""
        inventory = load_inventory(sources, cpumap, **options)
        return cls.from_inventory(inventory, cpumap)

    @classmethod
    def from_inventory(cls, inventory: Inventory, cpumap: CpuMap | None = None) -> "Fleet":
        return cls(inventory.hosts, cpumap, inventory.failures, inventory.source)

    @property
    def hosts(self) -> list[str]:
        return sorted(self.class_of)

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

    def _loss(self, classes: Sequence[CpuClass], common_bits: int) -> dict[str, tuple[str, ...]]:
        loss = {}
        for cls in classes:
            names = tuple(self.archmap.names(cls.guest_features & ~common_bits))
            for host in cls.hosts:
                loss[host] = names
        return loss

    def _domain_of(self, name: str, classes: Sequence[CpuClass]) -> Domain:
        common = baseline([c.cpu for c in classes], self.cpumap, migratable=True)
        bits = features_of(common.as_cpu(), self.cpumap)
        hosts = tuple(sorted(h for c in classes for h in c.hosts))
        return Domain(name, hosts, common, level_of(bits, self.archmap), self._loss(classes, bits))

    def domains(self, max_domains: int | None = None, max_loss: int | None = None) -> tuple[Domain, ...]:
        """Partition the fleet into migration domains.

        With `max_domains`, merge (greedily, cheapest first) until at most K
        domains remain (never across vendors); otherwise merge while no
        host gives up more than `max_loss` features (default
        DEFAULT_MAX_LOSS) of its own host-model CPU.  O(C³) on classes.
        """
        if max_domains is not None and max_domains < 1:
            raise InvalidInventory("max_domains must be at least 1")
        limit = DEFAULT_MAX_LOSS if max_loss is None and max_domains is None else max_loss
        groups: list[list[CpuClass]] = [[c] for c in self.classes]
        commons = [c.features for c in self.classes]
        while len(groups) > 1:
            best = None
            for i in range(len(groups)):
                for j in range(i + 1, len(groups)):
                    if groups[i][0].vendor != groups[j][0].vendor:
                        continue
                    common = commons[i] & commons[j]
                    members = groups[i] + groups[j]
                    worst = max((c.guest_features & ~common).bit_count() for c in members)
                    if limit is not None and worst > limit:
                        continue
                    cost = sum((c.guest_features & ~common).bit_count() * len(c.hosts) for c in members)
                    cost -= sum((c.guest_features & ~commons[k]).bit_count() * len(c.hosts)
                                for k in (i, j) for c in groups[k])
                    if best is None or (cost, worst) < best[0]:
                        best = ((cost, worst), i, j, common)
            if best is None or (max_domains is not None and len(groups) <= max_domains):
                break
            _, i, j, common = best
            groups[i] = groups[i] + groups[j]
            commons[i] = common
            del groups[j], commons[j]
        if max_domains is not None and len(groups) > max_domains:
            vendors = sorted({c.vendor or "-" for c in self.classes})
            why = (f"hosts of {len(vendors)} vendors ({', '.join(vendors)}) never share one"
                   if len(vendors) > max_domains else f"more would cost some host over {limit} features")
            raise InvalidInventory(f"cannot fit the fleet into {max_domains} domains: {why}")
        groups.sort(key=lambda g: (-sum(len(c.hosts) for c in g), g[0].index))
        return tuple(self._domain_of(f"D{n + 1}", g) for n, g in enumerate(groups))

    def common(self, hosts: Iterable[str]) -> Common:
        """The best common CPU of `hosts` (libvirt's baseline) and its cost."""
        names = tuple(dict.fromkeys(hosts))
        if not names:
            raise InvalidInventory("no hosts given")
        classes = list({self._class(h).index: self._class(h) for h in names}.values())
        common = baseline([c.cpu for c in classes], self.cpumap, migratable=True)
        bits = features_of(common.as_cpu(), self.cpumap)
        loss = {h: v for h, v in self._loss(classes, bits).items() if h in names}
        return Common(names, common, level_of(bits, self.archmap), loss)

    def levels(self) -> dict[str, str | None]:
        """psABI level per host."""
        return {h: level_of(self.class_of[h].features, self.archmap) for h in self.hosts}

    def stranded(self, guests: Iterable[Guest]) -> tuple[Stranded, ...]:
        """Guests that cannot move anywhere but their current host."""
        out = []
        for guest in guests:
            source = self._class(guest.host)
            cpu = guest.cpu if guest.cpu is not None else source.host_model.as_cpu()
            pinning = self._non_migratable(cpu)
            if pinning:
                out.append(Stranded(guest.name, guest.host, (), f"its CPU requires non-migratable "
                                    f"features ({', '.join(pinning)}): libvirt refuses to live-migrate it"))
                continue
            hosts, refused = self.domain(cpu)
            others = tuple(h for h in hosts if h != guest.host)
            if others:
                continue
            nearest = min(refused, key=lambda r: len(r.missing), default=None)
            reason = "no other host in the fleet"
            if nearest is not None:
                reason = f"no other host can run its CPU; nearest {nearest.host}: {nearest.reason}"
            out.append(Stranded(guest.name, guest.host, others, reason))
        return tuple(out)

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
        clash = set(add) & set(self.class_of)
        if clash:
            raise InvalidInventory(f"hosts already in the fleet: {', '.join(sorted(clash))}")
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
        """Which domains, targets and common models change."""
        retire = tuple(retire)
        after = self.without(retire).with_hosts(dict(add or {}))
        gained: dict[str, tuple[str, ...]] = {}
        lost: dict[str, tuple[str, ...]] = {}
        for host in after.hosts:
            if host not in self.class_of:
                continue
            before_t = set(self.targets(host).targets)
            after_t = set(after.targets(host).targets)
            if after_t - before_t:
                gained[host] = tuple(sorted(after_t - before_t))
            if before_t - after_t:
                lost[host] = tuple(sorted(before_t - after_t))
        return WhatIf(tuple(sorted(add or {})), tuple(sorted(retire)),
                      self.domains(max_domains, max_loss), after.domains(max_domains, max_loss),
                      gained, lost, self._vendor_commons(), after._vendor_commons())
