"""A host CPU whose model the map does not know (a newer libvirt's), made
readable the one way libvirt itself would: used by the planner's readers
and by the Nova filter alike.

A description that lists every feature of the host (Nova's ``cpu_info``,
libvirt's EXPAND_FEATURES list; /proc/cpuinfo; CPUID) is decoded from those
features with the map in use, as that map's libvirt would name the CPU; the
names the map cannot name stay in ``unknown_features``.  A description that
lists only the features beyond its model (``virsh capabilities``, a
``<cpu>`` XML) cannot be known without the model: it is refused, naming the
map and a newer one that defines the model.
"""
from __future__ import annotations

from dataclasses import replace

from ..display import shown
from ..errors import UnknownModel
from .compare import features_of
from .cpu import Cpu
from .drivers import is_x86
from .cpumap import CpuMap, load_cpu_map
from .decode import decode_features
from .maps import embedded_map_path, map_version
from .releases import KNOWN_VERSIONS, version_key

__all__ = ["readable_host"]


def readable_host(cpu: Cpu, cpumap: CpuMap, *, lists_all_features: bool) -> Cpu:
    """`cpu` if the map knows its model, else the CPU the map's libvirt
    would decode from its listed features (`lists_all_features`), else
    UnknownModel saying the model is newer than the map."""
    if cpu.model is None or not is_x86(cpu.arch) or "x86" not in cpumap.arches:
        return cpu
    archmap = cpumap.x86
    if cpu.model in archmap.model_by_name:
        return cpu
    used = map_version(cpumap)
    label = f"cpu_map libvirt {used.version or used.rules.version}"
    if lists_all_features:
        bits = features_of(replace(cpu, model=None), cpumap)
        if not bits:
            raise UnknownModel(f"unknown CPU model '{shown(cpu.model)}' in {label} and no known features to "
                               "decode one from", source=cpu.source)
        decoded = decode_features(bits, cpu.vendor, cpu.signature, cpumap, source=cpu.source)
        return replace(cpu, model=decoded.model)
    newer = _embedded_knowing(cpu.model, used.version or used.rules.version)
    hint = (f"read it with --cpu-map {newer} (or the computes' own cpu_map)" if newer
            else "read it with the computes' own cpu_map (--cpu-map /usr/share/libvirt/cpu_map of their libvirt)")
    raise UnknownModel(f"host-CPU model '{shown(cpu.model)}' is newer than {label}: this description lists only "
                       f"the features beyond its model, so its CPU cannot be known; {hint}", source=cpu.source)


def _embedded_knowing(model: str, version: str) -> str | None:
    """The oldest embedded map newer than `version` that defines `model`."""
    for known in KNOWN_VERSIONS:
        if version_key(known) > version_key(version):
            x86 = load_cpu_map(embedded_map_path(known)).arches.get("x86")
            if x86 is not None and model in x86.model_by_name:
                return known
    return None
