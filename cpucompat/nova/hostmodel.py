"""The host-model CPU a guest really gets from libvirt's QEMU driver.

libvirt builds host-model from what QEMU/KVM can give a guest (QEMU's
``query-cpu-model-expansion`` of ``host``), not from the host's own CPU
(virQEMUCapsInitHostCPUModel).  KVM never passes some host features
through: ACPI thermal control, the debug store, SMX, Enhanced SpeedStep,
thermal monitors, xTPR, direct cache access, MONITOR/MWAIT, the HT bit
(QEMU sets the topology), Intel PT (KVM's default ``pt_mode=0``), and
AMD's IBS, LWP, SKINIT, watchdog, TCE, extended APIC and northbridge
counters.  Nova's ``cpu_info`` lists them (it is the host's expanded CPU),
so a host-model CPU predicted from it would require them of every
destination although no guest ever has them.

The rule: the guest's host-model CPU is the host's features minus
`NEVER_EXPOSED`, decoded as libvirt decodes host-model (`host_model`: a
guest decode, non-migratable features and the CR4 mirrors / RDT monitors
libvirt's QEMU driver filters dropped).  `NEVER_EXPOSED` is the part of
what libvirt's own test data never shows in QEMU's host-model of a host
that has it (51 real CPUs, ``tests/cputestdata/x86_64-cpuid-*-json.xml``
against ``-host.xml``, libvirt 9.0.0) that KVM withholds by design.  The
features that data leaves out only because that QEMU or kernel was older
(``fsrm``, ``waitpkg``, ``sgx``, ``topoext``, nested SVM controls) stay
required: a newer QEMU exposes them.  ``tests/nova/test_hostmodel.py``
checks the rule against that data.
"""
from __future__ import annotations

from dataclasses import replace

from ..engine.compare import features_of
from ..engine.cpu import Cpu, Expansion
from ..engine.cpumap import CpuMap
from ..engine.decode import host_model

__all__ = ["NEVER_EXPOSED", "guest_host_model"]

NEVER_EXPOSED = frozenset({
    # Intel: host power, thermal, debug-store and platform features
    "acpi", "dca", "ds", "ds_cpl", "dtes64", "est", "ht", "monitor", "pbe", "smx", "tm", "tm2", "xtpr",
    "intel-pt", "intel-pt-lip",
    # AMD: host-only profiling, platform and northbridge features
    "extapic", "ibs", "lwp", "nodeid_msr", "perfctr_nb", "skinit", "tce", "wdt",
})


def guest_host_model(host: Cpu, cpumap: CpuMap) -> Expansion:
    """The host-model CPU libvirt's QEMU driver gives guests on `host` (an
    x86 host CPU as Nova's cpu_info or ``virsh capabilities`` gives it)."""
    archmap = cpumap.x86
    bits = features_of(host, cpumap) & ~archmap.known_mask(NEVER_EXPOSED)
    exposed = replace(host, model=None, features=tuple((name, "require") for name in archmap.names(bits)),
                      unknown_features=frozenset())
    return host_model(exposed, cpumap)
