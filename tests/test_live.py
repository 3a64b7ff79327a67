"""This machine's CPU, read from the CPU itself, equals libvirt's answer.

libvirt's capabilities take seconds (it probes QEMU); reading the CPUID
leaves and IA32_ARCH_CAPABILITIES as libvirt's virCPUx86GetHost does takes
milliseconds and must give the very same host CPU.
"""
from __future__ import annotations

import os

import pytest

from cpucompat import live


def _readable_cpuid() -> bool:
    return os.access(live.CPUID_DEVICE, os.R_OK)


def test_host_cpu_read_from_cpuid_equals_libvirt_capabilities():
    if not _readable_cpuid():
        pytest.skip(f"{live.CPUID_DEVICE} is not readable (needs root and the cpuid module)")
    if live.libvirt_module() is None:
        pytest.skip("libvirt-python is not installed: nothing to compare the CPUID reading with")
    ours = live.local_host_cpu()
    theirs = live.host_cpu_from_libvirt(None)
    assert (ours.model, ours.vendor, ours.signature) == (theirs.model, theirs.vendor, theirs.signature)
    assert sorted(ours.features) == sorted(theirs.features)


def test_cpuid_dump_holds_the_vendor_and_signature_leaves():
    if not _readable_cpuid():
        pytest.skip(f"{live.CPUID_DEVICE} is not readable (needs root and the cpuid module)")
    dump = live.local_cpuid_dump()
    assert dump.leaf(0) is not None and dump.leaf(1) is not None
    maximum = dump.leaf(0)[0]
    assert all(leaf <= maximum for (leaf, _), _ in dump.leaves if leaf < 0x80000000)


def test_without_the_cpuid_device_the_local_cpu_comes_from_elsewhere(monkeypatch, tmp_path):
    monkeypatch.setattr(live, "CPUID_DEVICE", str(tmp_path / "no-such-device"))
    assert live.local_cpuid_dump() is None
    monkeypatch.setattr(live, "libvirt_module", lambda: None)
    host = live.local_host_cpu()  # /proc/cpuinfo
    assert host.is_host and host.source == "/proc/cpuinfo"
