"""Why two CPU classes of one silicon stay apart: what an older libvirt
cannot expose (issue 12, item 4).

Hosts of one CPU model on different libvirt releases report different
feature sets: 9.0.0's map names no ``vmx-*`` nor the newer bug-immunity
bits, 9.0.0 reads no MSR but IA32_ARCH_CAPABILITIES (R6), and a model the
newer map strips of a ``removed`` feature (``mpx`` in ``Cascadelake-Server``)
no longer brings it.  Such hosts rightly form a class of their own (a guest
cannot get those features there); this module finds each such pair and
says, feature by feature, why, and with which map the fleet was judged.
"""
from __future__ import annotations

from dataclasses import replace
from typing import Sequence

from ..engine.bits import set_bits
from ..engine.cpumap import CpuMap
from ..engine.maps import map_version, resolve_map_spec
from ..engine.releases import KNOWN_VERSIONS, RULES, host_msrs
from .results import CpuClass, Split

__all__ = ["with_splits"]


def with_splits(classes: Sequence[CpuClass], cpumap: CpuMap) -> tuple[CpuClass, ...]:
    """`classes` with each one's `splits` set.  A pair is twins when vendor
    (and signature, where both have one) agree, one's features are a strict
    subset of the other's, and one known release explains every feature
    between them.  Only classes equal outside the features some release
    may not show are paired: a dict step per class, then the pairs within
    each such group (a fleet has few)."""
    if not _subset_pairs(classes):  # no class of a vendor within another's features: no twins, no map loaded
        return tuple(classes)
    splits: dict[int, list[Split]] = {}
    reasons: dict[tuple[str, str | None], dict[int, str]] = {}

    def unexposable(release: str, model: str | None) -> dict[int, str]:
        """_unexposable, once per (release, model)."""
        key = (release, model)
        if key not in reasons:
            reasons[key] = _unexposable(cpumap, release, model)
        return reasons[key]

    shown = map_version(cpumap)
    where = f"libvirt {shown.version or 'version unknown'} ({'embedded' if shown.embedded else shown.source})"
    loose = 0  # every bit some release may not show, for some model
    for release in KNOWN_VERSIONS:
        loose |= sum(1 << bit for bit in unexposable(release, None))
    for model in cpumap.x86.models:
        loose |= model.removed
    groups: dict[tuple[str | None, int], list[CpuClass]] = {}
    for cpu_class in classes:
        groups.setdefault((cpu_class.vendor, cpu_class.features & ~loose), []).append(cpu_class)
    for group in groups.values():
        for fewer in group:
            for more in group:
                gap = more.features & ~fewer.features
                if (fewer is more or fewer.features & ~more.features or not gap
                        or (fewer.cpu.signature and more.cpu.signature
                            and fewer.cpu.signature != more.cpu.signature)):
                    continue
                gap_bits = list(set_bits(gap))
                for release in KNOWN_VERSIONS:
                    why = unexposable(release, fewer.cpu.model)
                    if all(bit in why for bit in gap_bits):
                        features = tuple((cpumap.x86.features[bit].name, why[bit]) for bit in gap_bits)
                        splits.setdefault(fewer.index, []).append(Split(more.index, release, True, features, where))
                        splits.setdefault(more.index, []).append(Split(fewer.index, release, False, features, where))
                        break
    return tuple(replace(c, splits=tuple(splits.get(c.index, ()))) for c in classes)


def _subset_pairs(classes: Sequence[CpuClass]) -> bool:
    """Whether some class's features lie strictly within another's of its vendor."""
    by_vendor: dict[str | None, list[int]] = {}
    for cpu_class in classes:
        by_vendor.setdefault(cpu_class.vendor, []).append(cpu_class.features)
    return any(a != b and a & ~b == 0 for group in by_vendor.values() if len(group) > 1
               for a in group for b in group)


def _unexposable(cpumap: CpuMap, release: str, model: str | None) -> dict[int, str]:
    """Bit (over `cpumap`) → why a host on libvirt `release` whose CPU is
    read as `model` cannot show that feature."""
    judged, theirs = cpumap.x86, resolve_map_spec(release).x86
    read = set(host_msrs(RULES[release], theirs, theirs.all_features))  # releases.py's rule (R6)
    why: dict[int, str] = {}
    for feature in judged.features:
        known = theirs.canonical_feature(feature.name)
        if known is None:
            why[feature.bit] = f"libvirt {release}'s cpu_map does not name it"
        elif any(d.kind == "msr" and d.leaf not in read for d in theirs.feature_by_name[known].data):
            why[feature.bit] = f"an MSR libvirt {release} does not read (only IA32_ARCH_CAPABILITIES)"
    ours, older = judged.find_model(model or ""), theirs.find_model(model or "")
    if ours is not None and older is not None:
        for bit in set_bits(ours.removed):
            known = theirs.canonical_feature(judged.features[bit].name)
            if known is not None and older.features & theirs.feature_by_name[known].mask:
                why.setdefault(bit, f"part of {ours.name} in libvirt {release}'s cpu_map, "
                                    f"'removed' from it in the map judged with")
    return why
