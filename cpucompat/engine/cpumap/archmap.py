"""One arch of a loaded map (`ArchMap`) and the whole map (`CpuMap`),
indexed for speed: names to bits and back, models by name."""
from __future__ import annotations

import functools
from _thread import allocate_lock  # threading's Lock without importing threading (start-up)
from collections.abc import Mapping
from typing import Any, Callable, Iterable, Iterator, Sequence

from .. import names as _names
from ...display import MAX_SHOWN, shown
from ...errors import UnknownArch, UnknownFeature, UnknownModel, suggest
from .caches import MapCaches
from .values import Feature, Model, Vendor, arch_family

__all__ = ["ArchMap", "Arches", "CpuMap"]


class ArchMap(MapCaches):
    """Everything one ``<arch>`` of a cpu_map defines, indexed for speed."""

    def __init__(self, name: str, source: str, vendors: dict[str, Vendor],
                 features: tuple[Feature, ...], models: tuple[Model, ...]) -> None:
        super().__init__()
        self.name = name
        self.source = source
        self.vendors = vendors
        self.features = features
        self.models = models
        self.feature_by_name = {f.name: f for f in features}
        self.mask_by_name = {f.name: f.mask for f in features}
        self.model_by_name = {m.name: m for m in models}
        self._model_by_folded: dict[str, Model] = {}
        for m in models:
            self._model_by_folded.setdefault(m.name.lower(), m)
        self.all_features = (1 << len(features)) - 1
        self.non_migratable = 0
        for f in features:
            if not f.migratable:
                self.non_migratable |= f.mask
        self.vendor_by_string = {v.string: v for v in vendors.values() if v.string}

    # built on first use: a command that names no alias, or reads no CPUID, skips them
    @functools.cached_property
    def feature_aliases(self) -> dict[str, str]:
        """Folded spelling (`names.fold`) → libvirt's name of a feature."""
        return _names.alias_table(self)

    @functools.cached_property
    def decode_words(self) -> dict[tuple[str, int, int, str], tuple[tuple[int, int], ...]]:
        """Where CPUID data is decoded from: (kind, leaf, subleaf, register) →
        ((mask, bit), ...) of the features described by one word."""
        words: dict[tuple[str, int, int, str], list[tuple[int, int]]] = {}
        for f in self.features:
            if len(f.data) == 1:
                d = f.data[0]
                words.setdefault((d.kind, d.leaf, d.subleaf, d.register), []).append((d.mask, f.bit))
        return {k: tuple(v) for k, v in words.items()}

    def __repr__(self) -> str:
        return f"<ArchMap {self.name} from {self.source}: {len(self.models)} models, {len(self.features)} features>"

    # -- names -------------------------------------------------------------
    def feature(self, name: str, *, source: str | None = None) -> Feature:
        """The feature called `name` in any accepted spelling."""
        canonical = self.canonical_feature(name)
        if canonical is None:
            raise UnknownFeature(self._unknown("feature", name, self.feature_by_name), source=source)
        return self.feature_by_name[canonical]

    def canonical_feature(self, name: str) -> str | None:
        """libvirt's spelling of `name`, or None when the map lacks it."""
        if name in self.feature_by_name:
            return name
        return self.feature_aliases.get(_names.fold(name))

    def find_model(self, name: str) -> Model | None:
        """The model called `name` (exact, then case-insensitive; the first
        in map order), or None."""
        return self.model_by_name.get(name) or self._model_by_folded.get(name.lower())

    def model(self, name: str, *, source: str | None = None) -> Model:
        """The model called `name` (as `find_model`), or UnknownModel."""
        found = self.find_model(name)
        if found is None:
            raise UnknownModel(self._unknown("model", name, self.model_by_name), source=source)
        return found

    def _unknown(self, kind: str, name: str, known: Iterable[str]) -> str:
        """'unknown CPU model ...' with the nearest names, an untrusted
        `name` shown clipped and escaped (a 10 MB name gets no suggestion)."""
        near = suggest(name, (k for k in known if len(k) <= MAX_SHOWN)) if len(name) <= MAX_SHOWN else ""
        return f"unknown CPU {kind} '{shown(name)}' in cpu_map {self.source} ({self.name})" + shown(near, 1000)

    # -- bitmasks ----------------------------------------------------------
    # names of each (byte position, byte value) of a bitmask, for `names`,
    # and their ranks in name order, for `sorted_names` (`_ByteTable`)
    @functools.cached_property
    def _byte_names(self) -> _ByteTable:
        return _ByteTable([f.name for f in self.features])

    @functools.cached_property
    def _by_name(self) -> tuple[str, ...]:
        return tuple(sorted(f.name for f in self.features))

    @functools.cached_property
    def _byte_ranks(self) -> _ByteTable:
        rank = {name: r for r, name in enumerate(self._by_name)}
        return _ByteTable([rank[f.name] for f in self.features])

    def bits(self, feature_names: Iterable[str], *, source: str | None = None) -> int:
        mask = 0
        for n in feature_names:
            mask |= self.feature(n, source=source).mask
        return mask

    def names(self, bits: int) -> list[str]:
        """Feature names of a bitmask, in feature-file order."""
        return self._byte_names.values(bits & self.all_features)

    def sorted_names(self, bits: int) -> list[str]:
        """Feature names of a bitmask sorted by name (libvirt's expanded
        lists), sorting small ints (their ranks) instead of strings."""
        ranks = self._byte_ranks.values(bits & self.all_features)
        ranks.sort()
        return list(map(self._by_name.__getitem__, ranks))

    def known_mask(self, names: Iterable[str]) -> int:
        """Bitmask of those of `names` the map knows; the rest are ignored."""
        masks = self.mask_by_name
        mask = 0
        for name in names:
            mask |= masks.get(name, 0)
        return mask

    def iter_features(self, bits: int) -> Iterator[Feature]:
        features = self.features
        while bits:
            low = bits & -bits
            yield features[low.bit_length() - 1]
            bits ^= low


class _ByteTable:
    """The values of the bits of a bitmask over `values` (bit i ↔ values[i]),
    in bit order, a byte at a time: for each (byte position, byte value)
    met, the values of the bits it sets, kept.  At most 256 short tuples per
    8 values, memory linear in their count, and only those asked for: a
    one-shot answer computes a few dozen (microseconds each), not the whole
    table (~13,000 for x86's 400 features, milliseconds); two threads
    computing one at once compute equal tuples."""

    __slots__ = ("_values", "_rows")

    def __init__(self, values: Sequence[Any]) -> None:
        self._values = tuple(values)
        # per byte position, per byte value: its values once computed, else None
        self._rows: list[list[tuple[Any, ...] | None]] = [[None] * 256 for _ in range((len(values) + 7) // 8 or 1)]

    def values(self, bits: int) -> list[Any]:
        """The values of the bits of `bits` (within the table), in bit order."""
        out: list[Any] = []
        rows = self._rows
        for position, byte in enumerate(bits.to_bytes(len(rows), "little")):
            if byte:
                found = rows[position][byte]
                if found is None:
                    base = 8 * position
                    found = rows[position][byte] = tuple(self._values[base + i] for i in range(8) if byte >> i & 1)
                out.extend(found)
        return out


class Arches(Mapping[str, ArchMap]):
    """A map's arches by name, in map order, each built on first use (a
    compiled map's ppc64 and arm tables cost an x86 command nothing).

    Given built ArchMaps (the XML loader) or functions building one (the
    compiled form); each is built once, under a lock, so that every caller
    sees the same ArchMap and its caches."""

    __slots__ = ("_names", "_built", "_builders", "_lock")

    def __init__(self, arches: Mapping[str, ArchMap | Callable[[], ArchMap]]) -> None:
        self._names = dict.fromkeys(arches)  # map order
        self._built: dict[str, ArchMap] = {}
        self._builders: dict[str, Callable[[], ArchMap]] = {}
        for name, arch in arches.items():
            if isinstance(arch, ArchMap):
                self._built[name] = arch
            else:
                self._builders[name] = arch
        self._lock = allocate_lock()

    def __getitem__(self, name: str) -> ArchMap:
        found = self._built.get(name)
        if found is None:
            if name not in self._names:
                raise KeyError(name)
            with self._lock:
                found = self._built.get(name)
                if found is None:
                    found = self._built[name] = self._builders[name]()
                    del self._builders[name]  # its compiled values go with it
        return found

    def __contains__(self, name: object) -> bool:
        return name in self._names

    def __iter__(self) -> Iterator[str]:
        return iter(self._names)

    def __len__(self) -> int:
        return len(self._names)

    def __repr__(self) -> str:
        return f"<Arches {', '.join(self._names)} ({', '.join(self._built) or 'none'} built)>"

    def built(self) -> list[ArchMap]:
        """The arches built so far (the others have no caches to clear)."""
        with self._lock:
            return list(self._built.values())


class CpuMap(MapCaches):
    """A loaded cpu_map: one ArchMap per ``<arch>`` it describes (built
    when first used: `Arches`)."""

    def __init__(self, source: str, arches: Mapping[str, ArchMap | Callable[[], ArchMap]], layout: str,
                 version: str | None) -> None:
        super().__init__()
        self.source = source
        self.arches = Arches(arches)
        self.layout = layout  # "split" or "legacy"
        self.version = version

    def __repr__(self) -> str:
        return f"<CpuMap {self.source} ({self.layout}, {', '.join(self.arches)})>"

    def arch(self, arch: str | None = "x86") -> ArchMap:
        """The ArchMap for a libvirt arch name (x86_64, aarch64, ...)."""
        try:
            return self.arches[arch_family(arch)]
        except KeyError:
            raise UnknownArch(f"cpu_map {self.source} describes no arch '{arch}'"
                              f" (it has: {', '.join(self.arches)})") from None

    def find_model(self, name: str) -> Model | None:
        """The model called `name` in any arch: an exact name in any arch
        first, then a case-insensitive one; None when no arch has it."""
        for archmap in self.arches.values():
            if name in archmap.model_by_name:
                return archmap.model_by_name[name]
        for archmap in self.arches.values():
            found = archmap.find_model(name)
            if found is not None:
                return found
        return None

    def clear_caches(self) -> None:
        """Forget every answer cached on this map and its arches."""
        super().clear_caches()
        for archmap in self.arches.built():
            archmap.clear_caches()

    @property
    def x86(self) -> ArchMap:
        return self.arch("x86")
