"""The planner's answers as frozen values, each with ``to_dict()`` for JSON.

`Fleet` (fleet.py) computes them; the CLI and the report format them.
"""
from __future__ import annotations

import bisect
from dataclasses import dataclass
from typing import Any, Iterable, Iterator, Mapping

from ..engine.cpu import Cpu, Expansion
from ..engine.cpumap import ArchMap
from ..engine.levels import level_of
from .partition import Part

__all__ = ["CpuClass", "Split", "ClassLoss", "HostLoss", "Refusal", "ClassRefusal", "Targets", "Domain", "Common",
           "Guest", "Stranded", "Unchecked", "StrandedGuests", "WhatIf", "domain_shape", "grouped", "plural"]


@dataclass(frozen=True, slots=True)
class Split:
    """One class's twin: the same CPU, apart by features hosts on one
    libvirt release do not show; `lacks` says which side this class is on."""

    twin: int  # the other class's number
    libvirt: str  # the release whose hosts do not show `features`
    lacks: bool  # this class lacks them (its hosts look like that release's)
    features: tuple[tuple[str, str], ...]  # (feature, why that release's hosts do not show it)
    cpu_map: str  # the map the fleet was judged with: "libvirt 12.8.0 (embedded)"

    def to_dict(self) -> dict[str, Any]:
        return {"twin": self.twin, "libvirt": self.libvirt, "lacks": self.lacks, "cpu_map": self.cpu_map,
                "features": [{"name": name, "why": why} for name, why in self.features]}

    def describe(self, index: int) -> str:
        """One line: which twin, which release, and each reason with its features."""
        by_reason: dict[str, list[str]] = {}
        for name, why in self.features:
            by_reason.setdefault(why, []).append(name)
        reasons = "; ".join(f"{', '.join(names)}: {why}" for why, names in by_reason.items())
        side = "lacks" if self.lacks else "has"
        return (f"C{index} is split from C{self.twin}, the same CPU: it {side} {len(self.features)} feature(s) "
                f"hosts on libvirt {self.libvirt} do not show ({reasons}); judged with cpu_map {self.cpu_map}")


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
    splits: tuple[Split, ...] = ()  # twins of the same CPU an older libvirt shows otherwise (twins.py)

    @property
    def label(self) -> str:
        return f"C{self.index} {self.host_model.model}"

    @property
    def part(self) -> Part:
        """This class as the partition search sees it."""
        return Part(self.index, self.features, self.guest_features, len(self.hosts))

    def to_dict(self, archmap: ArchMap) -> dict[str, Any]:
        return {"class": self.index, "vendor": self.vendor, "model": self.cpu.model,
                "host_model": self.host_model.model, "hosts": list(self.hosts),
                "features": archmap.names(self.features), "level": level_of(self.features, archmap),
                "split": [split.to_dict() for split in self.splits]}


def plural(count: int, noun: str) -> str:
    """"1 host", "2 hosts", "3 classes": a count in words."""
    if count == 1:
        return f"{count} {noun}"
    return f"{count} {noun}{'es' if noun.endswith(('s', 'x', 'ch', 'sh')) else 's'}"


@dataclass(frozen=True, slots=True)
class Refusal:
    host: str
    reason: str
    missing: tuple[str, ...]

    def to_dict(self) -> dict[str, Any]:
        return {"host": self.host, "reason": self.reason, "missing": list(self.missing)}


@dataclass(frozen=True, slots=True, eq=False)
class ClassRefusal:
    """A CPU class that cannot run a guest: those of its hosts in question
    (sorted) and why, the same for each (the guest is compared with the
    class's CPU)."""

    cpu_class: CpuClass
    hosts: tuple[str, ...]
    reason: str
    missing: tuple[str, ...]

    def to_dict(self) -> dict[str, Any]:
        return {"class": self.cpu_class.index, "model": self.cpu_class.cpu.model, "hosts": list(self.hosts),
                "reason": self.reason, "missing": list(self.missing)}


@dataclass(frozen=True, slots=True)
class Targets:
    """Where a host-model guest started on `host` can live-migrate, and the
    classes whose hosts it cannot."""

    host: str
    guest: Expansion
    targets: tuple[str, ...]
    refused: tuple[ClassRefusal, ...]

    def to_dict(self) -> dict[str, Any]:
        return {"host": self.host, "guest_model": self.guest.model, "targets": list(self.targets),
                "refused": [r.to_dict() for r in self.refused]}


@dataclass(frozen=True, slots=True, eq=False)
class ClassLoss:
    """A CPU class among the hosts of an answer: those of its hosts there,
    and the features each of them gives up (the same for every host of a
    class: its host-model guest CPU's features the common CPU lacks)."""

    cpu_class: CpuClass
    hosts: tuple[str, ...]  # sorted
    loss: tuple[str, ...]

    def to_dict(self) -> dict[str, Any]:
        return {"class": self.cpu_class.index, "model": self.cpu_class.cpu.model,
                "host_model": self.cpu_class.host_model.model, "hosts": list(self.hosts), "loss": list(self.loss)}

    def shape(self) -> tuple[Any, ...]:
        """What `to_dict` shows but the class number (a fleet renumbers its classes)."""
        return (self.cpu_class.cpu.model, self.cpu_class.host_model.model, self.hosts, self.loss)


class HostLoss(Mapping[str, tuple[str, ...]]):
    """host → the features it gives up, looked up through its class (no
    per-host copy: O(classes · log hosts) a lookup)."""

    __slots__ = ("_members",)

    def __init__(self, members: tuple[ClassLoss, ...]) -> None:
        self._members = members

    def __getitem__(self, host: str) -> tuple[str, ...]:
        for member in self._members:
            at = bisect.bisect_left(member.hosts, host)
            if at < len(member.hosts) and member.hosts[at] == host:
                return member.loss
        raise KeyError(host)

    def __iter__(self) -> Iterator[str]:
        for member in self._members:
            yield from member.hosts

    def __len__(self) -> int:
        return sum(len(member.hosts) for member in self._members)


def _members_dict(members: Iterable[ClassLoss]) -> list[dict[str, Any]]:
    return [m.to_dict() for m in members]


@dataclass(frozen=True, slots=True)
class Domain:
    """A set of hosts between which a guest of `common` moves freely."""

    name: str
    hosts: tuple[str, ...]
    common: Expansion
    level: str | None
    classes: tuple[ClassLoss, ...]  # its classes, each with its hosts and what they give up

    @property
    def loss(self) -> HostLoss:
        """host → features it gives up vs its own host-model (a lookup through its class)."""
        return HostLoss(self.classes)

    @property
    def max_loss(self) -> int:
        """The most features any of its hosts gives up."""
        return max((len(m.loss) for m in self.classes), default=0)

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "host_count": len(self.hosts), "model": self.common.model,
                "vendor": self.common.vendor, "features": list(self.common.features),
                "disabled": list(self.common.disabled), "level": self.level,
                "max_loss": self.max_loss, "classes": _members_dict(self.classes)}


@dataclass(frozen=True, slots=True)
class Common:
    """The best common CPU of chosen hosts and what it costs each."""

    hosts: tuple[str, ...]
    common: Expansion
    level: str | None
    classes: tuple[ClassLoss, ...]  # the classes of the chosen hosts, each with those hosts

    @property
    def loss(self) -> HostLoss:
        """host → features it gives up (a lookup through its class)."""
        return HostLoss(self.classes)

    def to_dict(self) -> dict[str, Any]:
        return {"model": self.common.model, "vendor": self.common.vendor,
                "features": list(self.common.features), "disabled": list(self.common.disabled),
                "level": self.level, "classes": _members_dict(self.classes)}


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
    reason: str

    def to_dict(self) -> dict[str, Any]:
        # "targets" is documented (always empty): a stranded guest has none
        return {"guest": self.guest, "host": self.host, "targets": [], "reason": self.reason}


@dataclass(frozen=True, slots=True)
class Unchecked:
    """A guest `Fleet.stranded` cannot answer for, and why."""

    index: int  # its place among the guests asked about
    guest: Guest
    reason: str


class StrandedGuests(tuple[Stranded, ...]):
    """`Fleet.stranded`'s answer: a tuple of the stranded guests, in the order
    asked, and `unchecked`, every guest it could not answer for (none is
    dropped)."""

    unchecked: tuple[Unchecked, ...]
    checked: int  # guests answered for

    def __new__(cls, stranded: Iterable[Stranded], unchecked: Iterable[Unchecked], checked: int) -> "StrandedGuests":
        value = super().__new__(cls, stranded)
        value.unchecked, value.checked = tuple(unchecked), checked
        return value


@dataclass(frozen=True, slots=True)
class WhatIf:
    """What changes when hosts are added and/or retired."""

    added: tuple[str, ...]
    retired: tuple[str, ...]
    not_added: Mapping[str, str]  # host to add → why the fleet cannot take it
    domains_before: tuple[Domain, ...]
    domains_after: tuple[Domain, ...]
    targets_gained: Mapping[str, tuple[str, ...]]
    targets_lost: Mapping[str, tuple[str, ...]]
    common_before: Mapping[str, str]  # vendor → model of the whole-fleet baseline
    common_after: Mapping[str, str]

    @property
    def changed(self) -> bool:
        return bool(self.targets_gained or self.targets_lost or self.common_before != self.common_after
                    or list(map(domain_shape, self.domains_before)) != list(map(domain_shape, self.domains_after)))

    def to_dict(self) -> dict[str, Any]:
        return {"added": list(self.added), "retired": list(self.retired), "not_added": dict(self.not_added),
                "changed": bool(self.changed),
                "domains_before": [d.to_dict() for d in self.domains_before],
                "domains_after": [d.to_dict() for d in self.domains_after],
                "targets_gained": [{"hosts": list(h), "targets": list(t)} for h, t in grouped(self.targets_gained)],
                "targets_lost": [{"hosts": list(h), "targets": list(t)} for h, t in grouped(self.targets_lost)],
                "common_before": dict(self.common_before), "common_after": dict(self.common_after)}


def grouped(targets: Mapping[str, tuple[str, ...]]) -> list[tuple[tuple[str, ...], tuple[str, ...]]]:
    """host → hosts, as (sources, their hosts) with each list of hosts once:
    the hosts of a class share one tuple (`Fleet.what_if`), so they are
    grouped by that tuple first (no hashing of long tuples per host), then
    equal tuples merged; in the order of the first source."""
    by_tuple: dict[int, tuple[tuple[str, ...], list[str]]] = {}
    for host, hosts in targets.items():
        by_tuple.setdefault(id(hosts), (hosts, []))[1].append(host)
    merged: dict[tuple[str, ...], list[str]] = {}
    for hosts, sources in by_tuple.values():
        merged.setdefault(hosts, []).extend(sources)
    return sorted(((tuple(sorted(sources)), hosts) for hosts, sources in merged.items()), key=lambda g: g[0][0])


def domain_shape(domain: Domain) -> tuple[Any, ...]:
    """What `Domain.to_dict` shows, without building it for every host; hashable."""
    common = domain.common
    return (domain.name, domain.hosts, common.model, common.vendor, common.features, common.disabled,
            domain.level, tuple(m.shape() for m in domain.classes))
