"""Linux ``/proc/cpuinfo`` read into a host `Cpu`.

Only the first processor block counts; its ``flags`` line is mapped to
libvirt's feature names and decoded as libvirt would decode the CPUID bits.
`cpucompat.inputs.parse` detects the format and calls `parse_proc_cpuinfo`.
"""
from __future__ import annotations

import re
from dataclasses import replace

from ..engine.cpu import Cpu
from ..engine.cpumap import CpuMap, resolve_map
from ..engine.decode import decode_features
from ..engine.names import LINUX_VENDOR_FLAGS
from ..errors import UnknownInputFormat

__all__ = ["parse_proc_cpuinfo"]


def parse_proc_cpuinfo(text: str, source: str = "/proc/cpuinfo", cpumap: CpuMap | None = None) -> Cpu:
    """The first processor of a Linux ``/proc/cpuinfo`` as a host CPU.

    Linux flag names are normalised to libvirt's (the speculation-control
    flags by vendor); flags libvirt has no CPUID bit for are ignored.  The
    model is the one libvirt would decode from those features and the
    signature.
    """
    cpumap = resolve_map(cpumap)
    fields = _first_processor(text)
    flags = fields.get("flags")
    if flags is None:
        raise UnknownInputFormat("/proc/cpuinfo has no x86 'flags' line", source=source)
    archmap = cpumap.x86
    vendor = archmap.vendor_by_string.get(fields.get("vendor_id", ""))
    by_vendor = LINUX_VENDOR_FLAGS.get(vendor.name, {}) if vendor else {}
    bits = 0
    for flag in flags.split():
        canonical = archmap.canonical_feature(by_vendor.get(flag, flag))
        if canonical is not None:
            bits |= archmap.feature_by_name[canonical].mask
    result = decode_features(bits, vendor.name if vendor else None, _signature(fields), cpumap, source=source)
    return replace(result.as_cpu(host=True), source=source)


def _first_processor(text: str) -> dict[str, str]:
    """The ``key: value`` fields of the first blank-line-separated block (first of a repeated key wins)."""
    block = re.split(r"\n\s*\n", text.strip(), maxsplit=1)[0]
    fields: dict[str, str] = {}
    for line in block.splitlines():
        if ":" in line:
            key, _, val = line.partition(":")
            fields.setdefault(key.strip(), val.strip())
    return fields


def _signature(fields: dict[str, str]) -> tuple[int, int, int] | None:
    """(family, model, stepping), or None when one of them is not a decimal number."""
    try:
        return (int(fields.get("cpu family", "0")), int(fields.get("model", "0")),
                int(fields.get("stepping", "0")))
    except ValueError:
        return None
