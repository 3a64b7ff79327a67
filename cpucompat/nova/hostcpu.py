"""A compute host's CPU as its ``cpu_info`` gives it (`HostCpu`), and the
limits on reading that untrusted text.

Parsed once per distinct text by `scheduling.CpuPlacement` (which caches
and bounds it): a model newer than the map is replaced by the one the map
decodes from the listed features, and feature names the map does not know
are kept by name; a cpu_info over MAX_CPU_INFO characters is refused
before it is parsed.
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field, replace
from typing import Any

from ..engine.compare import features_of
from ..engine.cpu import Cpu
from ..engine.cpumap import CpuMap
from ..inputs.parse import parse_cpu_info

__all__ = ["MAX_CPU_INFO", "HostCpu", "keepable", "dict_key"]

MAX_CPU_INFO = 64 * 1024  # characters; Nova's libvirt driver writes about 1,000


@dataclass(frozen=True, slots=True)
class HostCpu:
    """A compute host's CPU as its ``cpu_info`` gives it.

    ``cpu`` is what the loaded map can describe.  ``reported_model`` is the
    model cpu_info names, which a newer libvirt may know and the map not;
    ``unknown`` the feature names the map does not know.  Both count for
    exactness decisions: nothing the host reports is silently lost.
    """

    cpu: Cpu
    reported_model: str
    unknown: frozenset[str] = frozenset()
    size: int = field(default=0, compare=False)  # characters of the cpu_info it was read from


def _host_cpu(cpu_info: str | dict[str, Any], cpumap: CpuMap) -> HostCpu:
    """Parse a cpu_info.  Nova's x86 features are libvirt's full expanded
    list, so a model the map does not know (a newer libvirt's) adds nothing:
    parse_cpu_info gives the host the model the map decodes from those
    features (engine.hostcpu.readable_host, the planner's path too).

    The Cpu it holds carries nothing of unbounded size: it becomes a key of
    the library's CPU caches (cpu_bits, compare, host_model), which are
    bounded in entries only; the names the map does not know stay in the
    HostCpu, whose cache is bounded in characters."""
    cpu = parse_cpu_info(cpu_info, "cpu_info", cpumap)  # names past 200 characters are refused there
    unknown = cpu.unknown_features
    cpu = replace(cpu, unknown_features=frozenset())
    reported = cpu.model or ""
    features_of(cpu, cpumap)  # an unknown model of another arch: fail here, once
    return HostCpu(cpu, reported, unknown)


def keepable(cpu_info: Any) -> bool:
    """False for a cpu_info too large to be used, hence to be kept."""
    return not (isinstance(cpu_info, str) and len(cpu_info) > MAX_CPU_INFO)


def dict_key(value: Any) -> str:
    """The text a cpu_info given as a dict is cached under."""
    try:
        return json.dumps(value, sort_keys=True, default=str)
    except (TypeError, ValueError):
        return repr(value)
