"""The hypervisor's CPU models in libvirt's domain capabilities, as a value.

``<mode name='custom'>`` lists every model QEMU offers with ``usable='yes'``
or ``'no'`` and, from libvirt 10.9.0 on, a ``<blockers model='...'>`` per
unusable model naming the features that block it (libvirt's spelling).
With the host-model CPU of the same XML this is all
virConnectCompareHypervisorCPU reads (`engine.hypervisor`).
"""
from __future__ import annotations

from pathlib import Path

from ..display import shown
from ..engine.cpu import Cpu, HypervisorModels
from ..engine.cpumap import CpuMap
from ..errors import InvalidCpuXml
from ..xmlsafe import parse_xml
from ..engine.cpumap import resolve_map
from .parse import domcaps_host_model, read_text

__all__ = ["read_domcaps", "parse_domcaps"]


def read_domcaps(path: str | Path, cpumap: CpuMap | None = None) -> tuple[Cpu, HypervisorModels]:
    """The host-model CPU and the CPU models of a domain capabilities file."""
    return parse_domcaps(read_text(path), str(path), cpumap)


def parse_domcaps(text: str, source: str = "<input>",
                  cpumap: CpuMap | None = None) -> tuple[Cpu, HypervisorModels]:
    root = parse_xml(text, source)
    if root.tag != "domainCapabilities":
        raise InvalidCpuXml(f"is <{shown(str(root.tag))}>, not libvirt's <domainCapabilities>", source=source)
    host_model = domcaps_host_model(root, source, resolve_map(cpumap))
    custom = root.find("cpu/mode[@name='custom']")
    if custom is None:
        raise InvalidCpuXml("domain capabilities list no custom CPU models", source=source)
    blockers = {element.get("model"): tuple(f.get("name") or "" for f in element.findall("feature"))
                for element in custom.findall("blockers")}
    offered, unusable = [], set()
    for model in custom.findall("model"):
        name = (model.text or "").strip()
        if not name:
            raise InvalidCpuXml("a custom CPU model has no name", source=source)
        usable = model.get("usable")
        listed = blockers.get(name, ())
        if usable != "yes" and not listed:
            unusable.add(name)  # not usable, blockers unknown (libvirt < 10.9.0, or usable='unknown')
        offered.append((name, () if usable == "yes" else listed))
    return host_model, HypervisorModels(tuple(offered), source=source, unusable=frozenset(unusable))
