"""cpucompat: libvirt-exact CPU compatibility for scheduling and migration.

The public API, in the order one uses it:

* the map: `load_cpu_map` (a libvirt ``cpu_map`` directory or file),
  `embedded_cpu_map` (the newest of the maps shipped inside the package, libvirt 12.8.0's), `CpuMap`;
* reading CPUs, once, at the edge: `read_cpus` / `parse_cpus` (CPU XML,
  capabilities, domain capabilities, Nova's ``cpu_info``, ``/proc/cpuinfo``),
  `read_cpuid_dumps` / `parse_cpuid_dumps`, `parse_cpu_info`,
  `read_qemu_models`, `read_domcaps` (the host-model CPU and QEMU's models
  of domain capabilities); the values they give: `Cpu`, `CpuidDump`,
  `HypervisorModels`;
* libvirt's questions on those values: `compare` (a `Comparison`: one of
  `IDENTICAL`, `SUPERSET`, `INCOMPATIBLE`, with what is missing and why),
  `compare_hypervisor` (virConnectCompareHypervisorCPU, by the map's release),
  `baseline`, `expand`, `decode`, `host_model` (each an `Expansion`);
* the capacity planner: `Fleet`, and the `Guest` and `Domain` values it takes
  and answers with (loaded on first use: it needs networkx);
* errors: `CpuCompatError` and its subclasses, each also the built-in error it
  refines where one fits.

    >>> from cpucompat import load_cpu_map, parse_cpus, compare
    >>> host = parse_cpus("<cpu><arch>x86_64</arch><model>Haswell</model></cpu>")[0]
    >>> guest = parse_cpus("<cpu><model>Nehalem</model></cpu>")[0]
    >>> compare(guest, host).result
    'superset'

Everything else lives in the layers (``cpucompat.engine``, ``.inputs``,
``.nova``, ``.planner``, ``.cli``) and may change between releases.
"""
from __future__ import annotations

from typing import Any

from .engine.baseline import baseline, expand
from .engine.compare import IDENTICAL, INCOMPATIBLE, SUPERSET, Comparison, compare
from .engine.cpu import Cpu, Expansion, HypervisorModels
from .engine.cpuid import CpuidDump
from .engine.cpumap import CpuMap, embedded_cpu_map, load_cpu_map
from .engine.decode import decode, host_model
from .engine.hypervisor import compare_hypervisor
from .errors import (CpuCompatError, IncompatibleCpus, IncompatibleVendors, InvalidConfig, InvalidCpuMap,
                     InvalidCpuXml, InvalidInventory, NoSuitableModel, PackageDataMissing, TooFewDomains,
                     UnknownArch, UnknownFeature, UnknownInputFormat, UnknownModel, UnsafeXml)
from .inputs.parse import parse_cpu_info, parse_cpuid_dumps, parse_cpus, read_cpuid_dumps, read_cpus
from .inputs.domcaps import read_domcaps
from .inputs.qmp import read_qemu_models

# the planner's public types, loaded on first use (the planner pulls in networkx)
_PLANNER = {"Fleet": "fleet", "Guest": "results", "Domain": "results"}


def __getattr__(name: str) -> Any:
    if name in _PLANNER:
        import importlib

        return getattr(importlib.import_module(f"{__name__}.planner.{_PLANNER[name]}"), name)
    raise AttributeError(f"module 'cpucompat' has no attribute {name!r}")


__all__ = [
    # the map
    "CpuMap", "embedded_cpu_map", "load_cpu_map",
    # reading CPUs
    "Cpu", "CpuidDump", "HypervisorModels", "parse_cpu_info", "parse_cpuid_dumps", "parse_cpus",
    "read_cpuid_dumps", "read_cpus", "read_domcaps", "read_qemu_models",
    # libvirt's questions
    "IDENTICAL", "INCOMPATIBLE", "SUPERSET", "Comparison", "Expansion", "baseline", "compare",
    "compare_hypervisor", "decode",
    "expand", "host_model",
    # the planner
    "Domain", "Fleet", "Guest",
    # errors
    "CpuCompatError", "IncompatibleCpus", "IncompatibleVendors", "InvalidConfig", "InvalidCpuMap",
    "InvalidCpuXml", "InvalidInventory", "NoSuitableModel", "PackageDataMissing", "TooFewDomains",
    "UnknownArch", "UnknownFeature", "UnknownInputFormat", "UnknownModel", "UnsafeXml",
]
