"""One arch of a loaded map (`ArchMap`) and the whole map (`CpuMap`),
indexed for speed: names to bits and back, models by name."""
from __future__ import annotations

import functools
from typing import Any, Iterable, Iterator, Sequence

from .. import names as _names
from ...display import MAX_SHOWN, shown
from ...errors import UnknownArch, UnknownFeature, UnknownModel, suggest
from .caches import MapCaches
from .values import Feature, Model, Vendor, arch_family

__all__ = ["ArchMap", "CpuMap"]


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
        self.feature_aliases = _names.alias_table(self)
        # decode table: (kind, leaf, subleaf, register) -> [(mask, bit)]
        words: dict[tuple[str, int, int, str], list[tuple[int, int]]] = {}
        for f in features:
            if len(f.data) == 1:
                d = f.data[0]
                words.setdefault((d.kind, d.leaf, d.subleaf, d.register), []).append((d.mask, f.bit))
        self.decode_words = {k: tuple(v) for k, v in words.items()}

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
    # and their ranks in name order, for `sorted_names`: 256 short tuples
    # per 8 features, memory linear in the feature count; built on first
    # use (a few milliseconds a one-shot command that names nothing skips)
    @functools.cached_property
    def _byte_names(self) -> tuple[tuple[tuple[str, ...], ...], ...]:
        return _byte_table([f.name for f in self.features])

    @functools.cached_property
    def _by_name(self) -> tuple[str, ...]:
        return tuple(sorted(f.name for f in self.features))

    @functools.cached_property
    def _byte_ranks(self) -> tuple[tuple[tuple[int, ...], ...], ...]:
        rank = {name: r for r, name in enumerate(self._by_name)}
        return _byte_table([rank[f.name] for f in self.features])

    def bits(self, feature_names: Iterable[str], *, source: str | None = None) -> int:
        mask = 0
        for n in feature_names:
            mask |= self.feature(n, source=source).mask
        return mask

    def names(self, bits: int) -> list[str]:
        """Feature names of a bitmask, in feature-file order."""
        return _table_values(self._byte_names, bits & self.all_features)

    def sorted_names(self, bits: int) -> list[str]:
        """Feature names of a bitmask sorted by name (libvirt's expanded
        lists), sorting small ints (their ranks) instead of strings."""
        ranks = _table_values(self._byte_ranks, bits & self.all_features)
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


def _byte_table(values: Sequence[Any]) -> tuple[tuple[tuple[Any, ...], ...], ...]:
    """For each byte position of a bitmask over `values` (bit i ↔ values[i])
    and each byte value, the values of the bits it sets, in bit order;
    built by doubling (bit b's half extends the half below it)."""
    count = len(values)
    rows = []
    for i in range((count + 7) // 8 or 1):
        row: list[tuple[Any, ...]] = [()]
        for index in range(8 * i, 8 * i + 8):
            if index < count:
                value = values[index]
                row += [rest + (value,) for rest in row]
            else:
                row += row
        rows.append(tuple(row))
    return tuple(rows)


def _table_values(table: tuple[tuple[tuple[Any, ...], ...], ...], bits: int) -> list[Any]:
    out: list[Any] = []
    for index, byte in enumerate(bits.to_bytes(len(table), "little")):
        if byte:
            out.extend(table[index][byte])
    return out


class CpuMap(MapCaches):
    """A loaded cpu_map: one ArchMap per ``<arch>`` it describes."""

    def __init__(self, source: str, arches: dict[str, ArchMap], layout: str,
                 version: str | None) -> None:
        super().__init__()
        self.source = source
        self.arches = arches
        self.layout = layout  # "split" or "legacy"
        self.version = version

    def __repr__(self) -> str:
        return f"<CpuMap {self.source} ({self.layout}, {', '.join(self.arches)})>"

    def arch(self, arch: str | None = "x86") -> ArchMap:
        """The ArchMap for a libvirt arch name (x86_64, aarch64, ...)."""
        key = arch_family(arch)
        if key not in self.arches:
            raise UnknownArch(f"cpu_map {self.source} describes no arch '{arch}'"
                              f" (it has: {', '.join(self.arches)})")
        return self.arches[key]

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
        for archmap in self.arches.values():
            archmap.clear_caches()

    @property
    def x86(self) -> ArchMap:
        return self.arch("x86")
