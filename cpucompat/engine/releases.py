"""libvirt's rules that change between releases, in one table keyed by the
libvirt version of the map in use.

The map says which models and features exist; these rules say what libvirt's
code does with them, and that code changes too.  Each row cites the libvirt
change it follows and was measured against the real release
(tests/differential/, docs/research/libvirt-releases.md).  A map of a version not in the table
is read with the nearest older known version's rules (`rules_for`).
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .cpumap import ArchMap

__all__ = ["ARCH_CAPABILITIES_MSR", "DEFAULT_VERSION", "KNOWN_VERSIONS", "QEMU_FILTERED_ANY", "Rules", "RULES",
           "QEMU_CHECKS_USABILITY_SINCE", "host_msrs", "rules_for", "version_key", "version_in"]

# The embedded maps (data/cpu_maps/<version>/), oldest first.  The default is
# the newest: a fleet's 2023-26 CPUs are named only by it, and its answers
# are those of today's libvirt.
KNOWN_VERSIONS = ("9.0.0", "11.3.0", "12.8.0")
DEFAULT_VERSION = "12.8.0"


@dataclass(frozen=True, slots=True)
class Rules:
    """What one libvirt release does beyond its map."""

    version: str
    # virQEMUCapsCPUFilterFeatures: the QEMU driver drops these from baselines,
    # expansions (virConnectBaselineCPU) and host-model CPUs, so from Nova's
    # cpu_info too.
    qemu_filtered: frozenset[str]
    # which MSRs virCPUx86GetHost reads on a live host: "arch-capabilities"
    # (IA32_ARCH_CAPABILITIES only, when the CPU has it) or "map" (every MSR
    # index the map names, virCPUx86ListMSRs).
    host_msrs: str

    @property
    def hypervisor_compare(self) -> str:
        """How virConnectCompareHypervisorCPU judges a guest CPU (hypervisor.py):
        "host-model" (virCPUCompareXML against domcaps' host-model CPU) or, from
        QEMU_CHECKS_USABILITY_SINCE, "usability" (qemuDomainCheckCPU: QEMU's
        usable models and blockers first)."""
        since = version_key(QEMU_CHECKS_USABILITY_SINCE)
        return "usability" if version_key(self.version) >= since else "host-model"


def version_key(version: str) -> tuple[int, ...]:
    return tuple(int(part) for part in version.split("."))


# libvirt 9.0.0 qemu_capabilities.c: osxsave/ospke mirror CR4, cmt/mbm_* are
# RDT monitoring QEMU never had.
_QEMU_9_0 = frozenset({"cmt", "mbm_total", "mbm_local", "osxsave", "ospke"})
# libvirt 11.3.0 ignoredFeatures[] adds the vmx controls QEMU cannot set
# (vmx-* features joined the map in 9.10, this list with them).
_QEMU_11_3 = _QEMU_9_0 | {"vmx-ept-uc", "vmx-ept-wb", "vmx-invvpid-single-context"}
# libvirt 12.8.0's QEMU driver also drops ht and cmp_legacy (measured by
# calling virQEMUCapsCPUFilterFeatures of 12.8.0's libvirt_driver_qemu.so for
# every feature; absent from 11.3.0's ignoredFeatures[]).
_QEMU_12_8 = _QEMU_11_3 | {"ht", "cmp_legacy"}

# qemuConnectCompareHypervisorCPU calls qemuDomainCheckCPU (qemu_domain.c)
# with virCPUCompareUnusable (cpu.c) from libvirt 10.9.0 on: NEWS 10.9.0
# "Report CPU model blockers in domain capabilities" (the blockers it
# reads), NEWS 11.1.0 "Fix crash when starting a domain on a host with
# unknown host CPU ... introduced in libvirt-10.9.0" (its NULL host-model
# guard).  Absent from 9.0.0's source, present in 11.3.0's.
QEMU_CHECKS_USABILITY_SINCE = "10.9.0"


RULES: dict[str, Rules] = {
    "9.0.0": Rules("9.0.0", _QEMU_9_0, host_msrs="arch-capabilities"),
    # cpu_x86.c virCPUx86GetHost reads virCPUx86ListMSRs() (diff 9.0.0 -> 11.3.0)
    "11.3.0": Rules("11.3.0", _QEMU_11_3, host_msrs="map"),
    "12.8.0": Rules("12.8.0", _QEMU_12_8, host_msrs="map"),
}

# Every name some release's QEMU driver drops: a host's cpu_info lists them or
# not depending on its libvirt, never on its silicon, so classes ignore them.
QEMU_FILTERED_ANY = frozenset().union(*(rules.qemu_filtered for rules in RULES.values()))

ARCH_CAPABILITIES_MSR = 0x10A  # IA32_ARCH_CAPABILITIES


def host_msrs(rules: Rules, archmap: "ArchMap", cpuid_features: int) -> tuple[int, ...]:
    """The MSR indexes libvirt's virCPUx86GetHost reads on a live host whose
    CPUID leaves decode to `cpuid_features` (a bitmask over `archmap`).

    "map" (11.3.0, 12.8.0: virCPUx86ListMSRs): every index a feature of the
    map lives in, once each, in the map's feature order; "arch-capabilities"
    (9.0.0): IA32_ARCH_CAPABILITIES alone, and only when CPUID lists
    ``arch-capabilities`` (9.0.0's map also names 0xcf, which 9.0.0 never
    reads).
    """
    if rules.host_msrs == "map":
        return tuple(dict.fromkeys(d.leaf for f in archmap.features for d in f.data if d.kind == "msr"))
    listed = archmap.feature_by_name.get("arch-capabilities")
    return (ARCH_CAPABILITIES_MSR,) if listed is not None and cpuid_features & listed.mask else ()


_VERSION = re.compile(r"\b(\d{1,4})\.(\d{1,4})\.(\d{1,4})\b")


def version_in(text: str | None) -> str | None:
    """The first x.y.z version named in `text` (a map's SOURCE line), or None."""
    found = _VERSION.search(text or "")
    return ".".join(str(int(part)) for part in found.groups()) if found else None


def rules_for(version: str | None) -> tuple[Rules, str | None]:
    """The rules for a libvirt version and, when they are another release's,
    a note saying which and why (None when the version is known)."""
    if version in RULES:
        return RULES[version], None
    if version is None:
        oldest = RULES[KNOWN_VERSIONS[0]]
        return oldest, f"the map names no libvirt version; read with libvirt {oldest.version}'s rules"
    older = [known for known in KNOWN_VERSIONS if version_key(known) <= version_key(version)]
    if older:
        chosen = RULES[older[-1]]
        return chosen, (f"libvirt {version} is not known to cpucompat; read with the nearest older known "
                        f"release's rules, libvirt {chosen.version}")
    oldest = RULES[KNOWN_VERSIONS[0]]
    return oldest, (f"libvirt {version} is older than every release cpucompat knows; read with "
                    f"libvirt {oldest.version}'s rules")
