"""CPU definitions as frozen, hashable values.

A `Cpu` is what libvirt's ``virCPUDef`` is: either a *host* CPU (it has an
``arch``; features have no policy) or a *guest* CPU (mode, match, check,
feature policies).  Feature names are already libvirt's canonical names;
bitmasks are computed per map by `cpu_bits`, once per distinct CPU.
"""
from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any, Callable, Iterable, NamedTuple

from .cpumap import ArchMap, CpuMap
from .cpuxml import cpu_element, serialize
from ..errors import InvalidCpuXml
from .rules import MODELESS_MODES, POLICIES, PROVIDED, REMOVED, Fallback, Match, Mode, Policy

__all__ = ["Cpu", "CpuBits", "resolve_arch",
           "cpu_bits", "HypervisorModels", "Expansion"]

@dataclass(frozen=True, slots=True)
class Cpu:
    """One CPU definition, as libvirt would hold it after parsing.

    ``features`` is a tuple of (name, policy) pairs in document order; a
    host CPU's features all have policy ``require``.
    """

    model: str | None = None
    vendor: str | None = None
    features: tuple[tuple[str, str], ...] = ()
    arch: str | None = None  # set ⇔ host CPU (libvirt's VIR_CPU_TYPE_AUTO rule)
    mode: str = Mode.CUSTOM
    match: str | None = Match.EXACT
    check: str | None = None
    fallback: str = Fallback.ALLOW
    signature: tuple[int, int, int] | None = None  # family, model, stepping
    migratable: bool | None = None  # host-passthrough/maximum only
    source: str | None = field(default=None, compare=False, hash=False)
    # names a host reported that the map cannot name (a newer libvirt's):
    # kept to be said, never part of the CPU's identity or feature sets
    unknown_features: frozenset[str] = field(default=frozenset(), compare=False, hash=False)
    _hash: int = field(default=0, init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        # CPUs are dict keys on every hot path (decision caches): hash once
        object.__setattr__(self, "_hash", hash((self.model, self.vendor, self.features, self.arch, self.mode,
                                                self.match, self.check, self.fallback, self.signature,
                                                self.migratable)))

    def __hash__(self) -> int:
        return self._hash

    @property
    def is_host(self) -> bool:
        return self.arch is not None

    def feature_names(self, *policies: str) -> list[str]:
        wanted = policies or POLICIES
        return [n for n, p in self.features if p in wanted]

    def with_features(self, extra: Iterable[tuple[str, str]]) -> "Cpu":
        """A copy with features added or their policy changed (libvirt's
        virCPUDefUpdateFeature, applied in order)."""
        merged = dict(self.features)
        for name, policy in extra:
            merged[name] = policy
        return replace(self, features=tuple(merged.items()))

    def to_xml(self, *, mode_attributes: bool = True) -> str:
        """This CPU as libvirt XML (see `cpuxml.cpu_element`), names escaped."""
        return serialize(cpu_element(self, mode_attributes=mode_attributes))

    def describe(self) -> str:
        """Short human label: 'Haswell-noTSX (Intel) +3 -1'."""
        if self.mode in MODELESS_MODES:
            return self.mode
        label = self.model or self.mode
        if self.vendor:
            label += f" ({self.vendor})"
        plus = sum(1 for _, p in self.features if p in PROVIDED)
        minus = sum(1 for _, p in self.features if p in REMOVED)
        if plus:
            label += f" +{plus}"
        if minus:
            label += f" -{minus}"
        return label


class CpuBits(NamedTuple):
    """A CPU's feature sets as bitmasks over one ArchMap.

    ``model`` is the model's data; ``force``/``require``/... the bits of
    features with that policy (``require`` excludes the model).  ``full``
    is libvirt's x86ModelFromCPU(cpu, -1): model + force + require −
    disable − forbid.
    """

    archmap: ArchMap
    model: int
    force: int
    require: int
    optional: int
    disable: int
    forbid: int
    removed: int
    full: int


def resolve_arch(cpumap: CpuMap, cpu: Cpu) -> ArchMap:
    """The ArchMap describing `cpu` (x86 when the CPU names no arch)."""
    return cpumap.arch(cpu.arch or "x86")


def cpu_bits(cpu: Cpu, archmap: ArchMap) -> CpuBits:
    """Bitmasks of `cpu` over `archmap`, computed once per distinct CPU.

    Raises UnknownModel / UnknownFeature naming the CPU's source, as
    libvirt reports an unknown name as an error, never as "incompatible".
    """
    cached: Callable[[Cpu, ArchMap], CpuBits] = archmap.caches.get(_cpu_bits) or archmap.cached(_cpu_bits, 65536)
    return cached(cpu, archmap)


def _cpu_bits(cpu: Cpu, archmap: ArchMap) -> CpuBits:
    model_bits = removed = 0
    if cpu.model is not None:
        model = archmap.model(cpu.model, source=cpu.source)
        model_bits, removed = model.features, model.removed
    force = require = optional = disable = forbid = 0
    masks = archmap.mask_by_name
    for name, policy in cpu.features:
        mask = masks.get(name) or archmap.feature(name, source=cpu.source).mask
        if policy == Policy.REQUIRE:
            require |= mask
        elif policy == Policy.DISABLE:
            disable |= mask
        elif policy == Policy.FORCE:
            force |= mask
        elif policy == Policy.OPTIONAL:
            optional |= mask
        elif policy == Policy.FORBID:
            forbid |= mask
        else:
            raise InvalidCpuXml(f"invalid feature policy {policy!r} for {name}", source=cpu.source)
    full = (model_bits | force | require) & ~disable & ~forbid
    return CpuBits(archmap, model_bits, force, require, optional, disable, forbid, removed, full)


@dataclass(frozen=True, slots=True)
class HypervisorModels:
    """Each CPU model a hypervisor offers, with its blockers in QEMU's
    spelling (libvirt's virDomainCapsCPUModels)."""

    blockers: tuple[tuple[str, tuple[str, ...]], ...]  # (model, unavailable features), QEMU's order
    source: str | None = field(default=None, compare=False, hash=False)
    # models not usable whose blockers are not known (a domcaps before
    # libvirt 10.9.0, a QMP reply without unavailable-features): libvirt
    # calls them unusable with no blockers
    unusable: frozenset[str] = frozenset()

    @property
    def names(self) -> frozenset[str]:
        return frozenset(name for name, _ in self.blockers)

    def usable(self, model: str) -> bool:
        """Does the hypervisor run `model` as it is (libvirt's usable='yes')?"""
        return model not in self.unusable and any(name == model and not blockers
                                                  for name, blockers in self.blockers)

    def blockers_of(self, model: str) -> tuple[str, ...] | None:
        """The blockers of `model` (QEMU's spelling), None when not offered."""
        return next((blockers for name, blockers in self.blockers if name == model), None)


@dataclass(frozen=True, slots=True)
class Expansion:
    """A CPU as model + extra features, and its full feature list."""

    arch: str | None
    vendor: str | None
    model: str | None
    features: tuple[str, ...]  # required beyond the model (libvirt order)
    disabled: tuple[str, ...]  # model features turned off
    expanded: tuple[str, ...]  # every required feature, sorted by name
    fallback: str = Fallback.ALLOW
    signature: tuple[int, int, int] | None = None

    def as_cpu(self, *, host: bool = False) -> Cpu:
        """This result as a CPU definition (guest: match exact).

        A host CPU cannot disable model features, so ``host=True`` needs a
        result without disabled features (a host decode, not a baseline).
        """
        if host and self.disabled:
            raise InvalidCpuXml(f"{self.model} with disabled features "
                                f"({', '.join(self.disabled)}) cannot be written as a host CPU")
        if host:
            return Cpu(model=self.model, vendor=self.vendor, arch=self.arch or "x86_64",
                       features=tuple((n, Policy.REQUIRE) for n in self.features),
                       signature=self.signature, match=None)
        return Cpu(model=self.model, vendor=self.vendor, match=Match.EXACT, fallback=self.fallback,
                   features=tuple([(n, Policy.REQUIRE) for n in self.features]
                                  + [(n, Policy.DISABLE) for n in self.disabled]),
                   signature=self.signature)

    def to_xml(self, *, expanded: bool = False, host: bool = False) -> str:
        """This result as libvirt XML: the guest CPU of `as_cpu` (with
        ``expanded=True`` every feature required by name, as
        EXPAND_FEATURES), or with ``host=True`` the host CPU."""
        cpu = self.as_cpu(host=host)
        if expanded:
            cpu = replace(cpu, features=tuple([(n, Policy.REQUIRE) for n in self.expanded]
                                              + [(n, Policy.DISABLE) for n in self.disabled]))
        return cpu.to_xml()

    def to_dict(self) -> dict[str, Any]:
        return {"arch": self.arch, "vendor": self.vendor, "model": self.model,
                "features": list(self.features), "disabled": list(self.disabled),
                "expanded": list(self.expanded)}
