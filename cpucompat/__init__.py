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
  and answers with;
* errors: `CpuCompatError` and its subclasses, each also the built-in error it
  refines where one fits.

    >>> from cpucompat import load_cpu_map, parse_cpus, compare
    >>> host = parse_cpus("<cpu><arch>x86_64</arch><model>Haswell</model></cpu>")[0]
    >>> guest = parse_cpus("<cpu><model>Nehalem</model></cpu>")[0]
    >>> compare(guest, host).result
    'superset'

Each name is imported on its first use, so ``import cpucompat`` is quick.
Everything else lives in the layers (``cpucompat.engine``, ``.inputs``,
``.nova``, ``.planner``, ``.cli``) and may change between releases.
"""
TYPE_CHECKING = False  # not typing's: importing typing alone costs a few milliseconds

# Every public name is loaded on first use (PEP 562): `import cpucompat` costs
# next to nothing, and a command pays only for what it touches (the map
# without lxml, the planner without networkx).  name -> module under cpucompat
_LAZY = {
    **dict.fromkeys(("baseline", "expand"), "engine.baseline"),
    **dict.fromkeys(("IDENTICAL", "INCOMPATIBLE", "SUPERSET", "Comparison", "compare"), "engine.compare"),
    **dict.fromkeys(("Cpu", "Expansion", "HypervisorModels"), "engine.cpu"),
    "CpuidDump": "engine.cpuid",
    **dict.fromkeys(("CpuMap", "embedded_cpu_map", "load_cpu_map"), "engine.cpumap"),
    **dict.fromkeys(("decode", "host_model"), "engine.decode"),
    **dict.fromkeys(("CpuCompatError", "IncompatibleCpus", "IncompatibleVendors", "InvalidConfig", "InvalidCpuMap",
                     "InvalidCpuXml", "InvalidInventory", "NoSuitableModel", "PackageDataMissing", "TooFewDomains",
                     "UnknownArch", "UnknownFeature", "UnknownInputFormat", "UnknownModel", "UnsafeXml"), "errors"),
    **dict.fromkeys(("parse_cpu_info", "parse_cpuid_dumps", "parse_cpus", "read_cpuid_dumps", "read_cpus"),
                    "inputs.parse"),
    "read_qemu_models": "inputs.qmp",
    "read_domcaps": "inputs.domcaps",
    "compare_hypervisor": "engine.hypervisor",
    "Fleet": "planner.fleet",  # the planner's lattice questions pull in networkx, on their first use
    **dict.fromkeys(("Guest", "Domain"), "planner.results"),
}


def __getattr__(name: str) -> "Any":
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'cpucompat' has no attribute {name!r}")
    import importlib

    value = getattr(importlib.import_module(f"{__name__}.{module}"), name)
    globals()[name] = value  # looked up once
    return value


if TYPE_CHECKING:  # what type checkers see: the same names, imported
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
    from .planner.fleet import Fleet
    from .planner.results import Domain, Guest


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_LAZY))


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
