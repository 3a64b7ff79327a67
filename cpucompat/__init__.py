"""cpucompat: libvirt-exact CPU compatibility for scheduling and migration.

The public API: load a map, read CPUs, and ask libvirt's questions.

    >>> from cpucompat import load_cpu_map, parse_cpus, compare
    >>> host = parse_cpus("<cpu><arch>x86_64</arch><model>Haswell</model></cpu>")[0]
    >>> guest = parse_cpus("<cpu><model>Nehalem</model></cpu>")[0]
    >>> compare(guest, host).result
    'superset'
"""
from .engine.baseline import baseline, expand
from .engine.compare import IDENTICAL, INCOMPATIBLE, SUPERSET, Comparison, compare, features_of
from .engine.cpu import Expansion
from .engine.decode import decode, decode_features, host_model
from .engine.cpu import Cpu, cpu_bits
from .engine.cpuid import CpuidDump
from .engine.cpumap import ArchMap, CpuMap, Feature, Model, default_cpu_map_path, embedded_cpu_map, load_cpu_map
from .errors import (CpuCompatError, IncompatibleCpus, IncompatibleVendors, InvalidConfig, InvalidCpuMap,
                     InvalidCpuXml, InvalidInventory, NoSuitableModel, UnknownArch, UnknownFeature,
                     UnknownInputFormat, UnknownModel, UnsafeXml)
from .inputs.parse import parse_cpu_info, parse_cpuid_dumps, parse_cpus, read_cpuid_dumps, read_cpus
from .inputs.qmp import HypervisorModels, read_qemu_models



def __getattr__(name: str):
    # the planner pulls in networkx: load it only when asked for
    if name == "Fleet":
        from .planner.fleet import Fleet

        return Fleet
    raise AttributeError(f"module 'cpucompat' has no attribute {name!r}")


__all__ = [
    "Fleet", "IDENTICAL", "INCOMPATIBLE", "SUPERSET", "Comparison", "Expansion", "baseline", "compare",
    "decode", "decode_features", "expand", "features_of", "host_model", "Cpu", "cpu_bits",
    "CpuidDump", "ArchMap", "CpuMap", "Feature", "Model", "default_cpu_map_path",
    "embedded_cpu_map", "load_cpu_map", "CpuCompatError", "IncompatibleCpus",
    "IncompatibleVendors", "InvalidConfig", "InvalidCpuMap", "InvalidCpuXml", "InvalidInventory",
    "NoSuitableModel", "UnknownArch", "UnknownFeature", "UnknownInputFormat", "UnknownModel",
    "UnsafeXml", "parse_cpu_info", "parse_cpuid_dumps", "parse_cpus", "read_cpuid_dumps",
    "read_cpus", "HypervisorModels", "read_qemu_models",
]
