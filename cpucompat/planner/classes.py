"""Reading hosts into CPU classes: what makes two hosts one class.

Split out of fleet.py (issue 11: no module over 400 lines).  `Fleet`
calls `read_classes` once, on construction; every question after works on
the classes it returns.  Imports no fleet: it takes the hosts and the map.
"""
from __future__ import annotations

import itertools
from typing import Mapping, Sequence

from ..engine.compare import features_of
from ..engine.cpu import Cpu
from ..engine.cpumap import CpuMap
from ..engine.decode import host_model
from ..engine.hostcpu import readable_host
from ..engine.releases import QEMU_FILTERED_ANY
from ..errors import CpuCompatError, InvalidInventory
from .results import CpuClass
from .twins import with_splits

__all__ = ["ClassKey", "class_key", "read_classes", "release_filtered", "sorted_hosts"]

ClassKey = tuple[str | None, int]  # (vendor, full feature set): what makes hosts one class


def release_filtered(cpumap: CpuMap) -> int:
    """The bits of the features some libvirt release's QEMU driver filters
    (rules.QEMU_FILTERED_ANY) that `cpumap` knows."""
    archmap = cpumap.x86
    return archmap.bits([name for name in QEMU_FILTERED_ANY if archmap.canonical_feature(name) is not None])


def class_key(cpu: Cpu, cpumap: CpuMap, filtered: int) -> ClassKey:
    """(vendor, full feature set) of a host CPU, or InvalidInventory
    saying why the planner cannot take it.

    The set leaves out `filtered` (`release_filtered`: what some libvirt
    release's QEMU driver filters: ``ht`` is in a 9.0.0 compute's cpu_info,
    never in a 12.8.0 one's, for the same silicon), so hosts of one CPU
    on different libvirt releases, named by any alias, are one class.
    Features an older libvirt cannot expose at all (its map lacks them)
    still part them: a guest cannot get them there."""
    archmap = cpumap.x86
    if cpu.model is None:
        raise InvalidInventory(f"describes no CPU model (a {cpu.mode} guest CPU is not a host CPU)")
    if cpu.vendor is not None and cpu.vendor not in archmap.vendors:
        raise InvalidInventory(f"unknown CPU vendor {cpu.vendor!r} (cpu_map {cpumap.source} knows "
                               f"{', '.join(archmap.vendors)})")
    model = archmap.model_by_name.get(cpu.model)
    if model is not None and cpu.vendor and model.vendor and model.vendor != cpu.vendor:
        # libvirt's baseline refuses such a CPU among others
        raise InvalidInventory(f"CPU vendor {model.vendor} of model {model.name} differs from vendor {cpu.vendor}")
    # what is left unknown here lists only extras beyond its model (XML): refused, naming a newer map
    cpu = readable_host(cpu, cpumap, lists_all_features=False)
    return cpu.vendor, features_of(cpu, cpumap) & ~filtered


def read_classes(hosts: Mapping[str, Cpu], cpumap: CpuMap,
                 failures: dict[str, str]) -> tuple[tuple[CpuClass, ...], dict[str, int]]:
    """The classes of `hosts`, sorted by (vendor, feature set), and the
    feature names the map cannot tell apart with how many hosts report
    each.  A host the planner cannot take goes into `failures` (updated in
    place) with why."""
    filtered = release_filtered(cpumap)
    # a fleet repeats a few CPUs, and an inventory's hosts of one CPU share
    # its Cpu value: one dict step per host on the value's identity (no
    # __hash__ call), then each question below once per distinct value
    by_value: dict[int, list[str]] = {}
    values: dict[int, Cpu] = {}  # keeps each value (and so its id) alive
    for name, cpu in hosts.items():
        names = by_value.get(id(cpu))
        if names is None:
            by_value[id(cpu)] = [name]
            values[id(cpu)] = cpu
        else:
            names.append(name)
    by_cpu: dict[Cpu, list[str]] = {}
    unknown: dict[str, int] = {}
    for identity, names in by_value.items():
        cpu = values[identity]
        by_cpu.setdefault(cpu, []).extend(names)
        for feature in cpu.unknown_features:  # not part of a Cpu's equality: counted per value
            unknown[feature] = unknown.get(feature, 0) + len(names)
    by_key: dict[ClassKey, list[str]] = {}
    first_cpu: dict[ClassKey, Cpu] = {}
    for cpu, names in by_cpu.items():
        try:
            key = class_key(cpu, cpumap, filtered)
        except CpuCompatError as exc:  # the problem, not the source: that names one host of many
            failures.update(dict.fromkeys(names, exc.problem))
            continue
        by_key.setdefault(key, []).extend(names)
        first_cpu.setdefault(key, cpu)
    classes: list[CpuClass] = []
    for key, names in sorted(by_key.items(), key=lambda kv: (kv[0][0] or "", kv[0][1])):
        cpu = first_cpu[key]
        try:
            guest = host_model(cpu, cpumap)
        except CpuCompatError as exc:
            failures.update(dict.fromkeys(names, f"no host-model CPU: {exc.problem}"))
            continue
        # the class's features are its first CPU's, filtered names included (the key ignores them)
        classes.append(CpuClass(len(classes), key[0], features_of(cpu, cpumap), cpu, tuple(sorted(names)),
                                guest, features_of(guest.as_cpu(), cpumap)))
    # feature name → hosts reporting it, for names the map cannot tell
    # apart: hosts differing only in them fall into one class
    return with_splits(classes, cpumap), dict(sorted(unknown.items()))


def sorted_hosts(classes: Sequence[CpuClass]) -> tuple[str, ...]:
    """The hosts of `classes`, sorted: runs of sorted names, merged."""
    if len(classes) == 1:
        return classes[0].hosts
    return tuple(sorted(itertools.chain.from_iterable(c.hosts for c in classes)))
