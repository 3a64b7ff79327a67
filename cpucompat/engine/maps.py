"""Which map an answer uses: the embedded maps by version name, a path, and
the libvirt version (and so the rules) of a loaded map.

`resolve_map_spec` is the one reader of a user's map choice (the CLI's
``--cpu-map``, Nova's ``[cpucompat] cpu_map``); `map_version` says what every
answer reports about its map.
"""
from __future__ import annotations

import functools
import os
from dataclasses import dataclass
from typing import TYPE_CHECKING

from .cpumap import CpuMap, embedded_cpu_map, load_cpu_map
from .cpumap.loader import embedded_map_directory
from .releases import DEFAULT_VERSION, KNOWN_VERSIONS, Rules, rules_for, version_in, version_key

if TYPE_CHECKING:
    from pathlib import Path

__all__ = ["MapVersion", "embedded_map_path", "map_version", "map_rules", "qemu_filtered",
           "resolve_map_spec"]


def embedded_map_path(version: str = DEFAULT_VERSION) -> Path:
    """The directory of the embedded map of a libvirt version (KNOWN_VERSIONS)."""
    from pathlib import Path

    return Path(embedded_map_directory(version))


def resolve_map_spec(spec: str | os.PathLike[str] | None) -> CpuMap:
    """The map a user names: None (the embedded default), the version name of
    an embedded map (``"12.8.0"``), or a path (a cpu_map directory, its
    index.xml or a legacy cpu_map.xml).  Raises InvalidCpuMap as
    `load_cpu_map` does."""
    if spec is None:
        return embedded_cpu_map()
    if isinstance(spec, str) and spec in KNOWN_VERSIONS:
        return load_cpu_map(embedded_map_path(spec))
    return load_cpu_map(spec)


@dataclass(frozen=True, slots=True)
class MapVersion:
    """What a loaded map is: the libvirt version it says it comes from (its
    SOURCE file; None if it says none), whether it is an embedded one, and
    the release whose rules read it, with a note when that is another."""

    source: str
    version: str | None
    embedded: bool
    rules: Rules
    note: str | None

    def to_dict(self) -> dict[str, object]:
        value: dict[str, object] = {"version": self.version, "embedded": self.embedded,
                                    "rules": self.rules.version}
        if not self.embedded:
            value["path"] = self.source
        if self.note:
            value["note"] = self.note
        return value

    def describe(self) -> str:
        """One line: ``cpu_map: libvirt 12.8.0 (embedded)``."""
        where = "embedded" if self.embedded else self.source
        line = f"cpu_map: libvirt {self.version or 'version unknown'} ({where})"
        return line + (f"; {self.note}" if self.note else "")


def map_version(cpumap: CpuMap) -> MapVersion:
    """The version, embedded-ness and rules of a loaded map (cached per map)."""
    return _map_version(cpumap)


def map_rules(cpumap: CpuMap) -> Rules:
    return _map_version(cpumap).rules


def qemu_filtered(cpumap: CpuMap) -> frozenset[str]:
    """The features the QEMU driver of the map's libvirt drops from
    baselines, expansions and host-model CPUs."""
    return _map_version(cpumap).rules.qemu_filtered


@functools.lru_cache(maxsize=64)
def _map_version(cpumap: CpuMap) -> MapVersion:
    version = version_in(cpumap.version)
    embedded = _embedded_version(cpumap.source)
    if embedded is not None:
        rules, note = rules_for(embedded)
        return MapVersion(cpumap.source, embedded, True, rules, note)
    if version is None:
        inferred = _inferred_version(cpumap)
        if inferred is not None:
            rules, _ = rules_for(inferred)
            return MapVersion(cpumap.source, None, False, rules,
                              f"the map names no libvirt version (no SOURCE file); it defines every x86 "
                              f"model of libvirt {inferred}'s map: read with libvirt {inferred}'s rules")
    rules, note = rules_for(version)
    return MapVersion(cpumap.source, version, False, rules, note)


def _embedded_version(source: str) -> str | None:
    try:
        where = os.path.realpath(source)  # strings: pathlib is not imported for a compiled map
        for version in KNOWN_VERSIONS:
            if os.path.realpath(embedded_map_directory(version)) == where:
                return version
    except (OSError, ValueError):
        return None
    return None


def _inferred_version(cpumap: CpuMap) -> str | None:
    """The newest known release all of whose x86 models the map defines (an
    operator's /usr/share/libvirt/cpu_map has no SOURCE file)."""
    x86 = cpumap.arches.get("x86")
    if x86 is None:
        return None
    names = set(x86.model_by_name)
    for version in sorted(KNOWN_VERSIONS, key=version_key, reverse=True):
        known = load_cpu_map(embedded_map_path(version)).arches.get("x86")
        if known is not None and set(known.model_by_name) <= names:
            return version
    return None
