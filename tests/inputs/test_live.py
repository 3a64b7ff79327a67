"""This machine's CPU, read from the CPU itself, equals libvirt's answer.

libvirt's capabilities take seconds (it probes QEMU); reading the CPUID
leaves and IA32_ARCH_CAPABILITIES as libvirt's virCPUx86GetHost does takes
milliseconds and must give the very same host CPU.
"""
from __future__ import annotations

import os
import struct

import pytest

from cpucompat.engine.maps import map_rules, resolve_map_spec
from cpucompat.engine.releases import ARCH_CAPABILITIES_MSR, KNOWN_VERSIONS, host_msrs
from cpucompat.inputs import live


def _readable_cpuid() -> bool:
    return os.access(live.CPUID_DEVICE, os.R_OK)


def test_host_cpu_read_from_cpuid_equals_libvirt_capabilities():
    if not _readable_cpuid():
        pytest.skip(f"{live.CPUID_DEVICE} is not readable (needs root and the cpuid module)")
    if live.libvirt_module() is None:
        pytest.skip("libvirt-python is not installed: nothing to compare the CPUID reading with")
    release = resolve_map_spec("9.0.0")  # this machine's libvirt is 9.0.0: read with its map
    ours = live.local_host_cpu(release)
    theirs = live.host_cpu_from_libvirt(None, release)
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


def test_cpuid_dump_reads_each_leaf_once_and_asks_for_the_msr_only_when_cpuid_lists_it(monkeypatch, tmp_path):
    """A fake cpuid device: highest basic leaf 0xd, leaf 7 with subleaf 1,
    IA32_ARCH_CAPABILITIES listed in CPUID.7.0:EDX[29]."""
    device = tmp_path / "cpuid"
    device.write_bytes(b"")
    reads = []
    real_pread = os.pread

    def pread(fd, size, offset):
        if os.fstat(fd).st_ino != device.stat().st_ino:
            return real_pread(fd, size, offset)
        leaf, subleaf = offset & 0xFFFFFFFF, offset >> 32
        reads.append((leaf, subleaf))
        registers = {(0, 0): (0xD, 0, 0, 0), (0x80000000, 0): (0x80000008, 0, 0, 0),
                     (7, 0): (1, 0, 0, 1 << 29)}.get((leaf, subleaf), (0, 0, 0, 0))
        return struct.pack("<4I", *registers)

    monkeypatch.setattr(live, "CPUID_DEVICE", str(device))
    monkeypatch.setattr(live.os, "pread", pread)
    monkeypatch.setattr(live, "_feature_msr", lambda index: 0x6B)
    release_9_0 = resolve_map_spec("9.0.0")  # libvirt 9.0.0 reads IA32_ARCH_CAPABILITIES only
    dump = live.local_cpuid_dump(release_9_0)
    assert sorted(reads) == sorted(set(reads)) and (7, 0) in reads and (7, 1) in reads
    assert all(subleaf <= 1 for leaf, subleaf in reads if leaf == 7)
    assert dump.msrs == ((ARCH_CAPABILITIES_MSR, (0x6B, 0)),)
    without = {(7, 0): (1, 0, 0, 0)}
    monkeypatch.setattr(live.os, "pread", lambda fd, size, offset: struct.pack(
        "<4I", *without.get((offset & 0xFFFFFFFF, offset >> 32), (0xD, 0, 0, 0))))
    assert live.local_cpuid_dump(release_9_0).msrs == ()
    # libvirt 11.3.0 on reads every MSR its map names, whatever CPUID says
    release_12_8 = resolve_map_spec("12.8.0")
    assert [index for index, _ in live.local_cpuid_dump(release_12_8).msrs] == list(
        host_msrs(map_rules(release_12_8), release_12_8.x86, 0))


def _msr_indexes(cpumap) -> set[int]:
    return {d.leaf for f in cpumap.x86.features for d in f.data if d.kind == "msr"}


@pytest.mark.parametrize("version", KNOWN_VERSIONS)
def test_each_release_reads_the_msrs_its_libvirt_reads(version):
    """R6 (docs/research/libvirt-releases.md): virCPUx86GetHost of 9.0.0 reads
    IA32_ARCH_CAPABILITIES when CPUID lists it; 11.3.0's reads every MSR of
    its map (virCPUx86ListMSRs), 0xcf and the VMX capability MSRs included."""
    cpumap = resolve_map_spec(version)
    archmap, rules = cpumap.x86, map_rules(cpumap)
    listed = archmap.feature_by_name["arch-capabilities"].mask
    with_listed, without = host_msrs(rules, archmap, listed), host_msrs(rules, archmap, 0)
    if version == "9.0.0":
        assert 0xCF in _msr_indexes(cpumap)  # named by the map, never read by 9.0.0
        assert (with_listed, without) == ((ARCH_CAPABILITIES_MSR,), ())
    else:
        assert with_listed == without and len(set(without)) == len(without)
        assert set(without) == _msr_indexes(cpumap)
        assert {ARCH_CAPABILITIES_MSR, 0xCF, 0x480, 0x48B, 0x491} <= set(without)


def test_this_machine_answers_the_msrs_its_release_reads():
    """As root, every MSR index the newest rules name is asked of this
    machine (msr device, else KVM): those that answer are in the dump, and
    decoding them names MSR features (vmx-* on a VMX host)."""
    if not _readable_cpuid():
        pytest.skip(f"{live.CPUID_DEVICE} is not readable (needs root and the cpuid module)")
    cpumap = resolve_map_spec("12.8.0")
    dump = live.local_cpuid_dump(cpumap)
    answered = [index for index, _ in dump.msrs]
    if not answered:
        pytest.skip("neither the msr device nor KVM answers any feature MSR on this machine")
    assert set(answered) <= set(host_msrs(map_rules(cpumap), cpumap.x86, 0))
    msr_features = {f.name for f in cpumap.x86.features if f.data and f.data[0].kind == "msr"}
    host = live.local_host_cpu(cpumap)
    assert msr_features & set(host.feature_names()) or all(eax == edx == 0 for _, (eax, edx) in dump.msrs)


def test_an_msr_the_msr_device_refuses_with_eio_is_not_asked_of_kvm(monkeypatch, tmp_path):
    """virHostCPUGetMSR: EIO from the msr device means the CPU lacks the MSR
    (no KVM fallback); any other failure falls back to KVM."""
    import errno

    msr, kvm = tmp_path / "msr", tmp_path / "kvm"
    msr.write_bytes(b"")
    opened = []
    real_open = os.open

    def fake_open(path, flags, *args):
        opened.append(str(path))
        return real_open(path, flags, *args)

    def pread(fd, size, offset):
        raise OSError(failure, os.strerror(failure))

    monkeypatch.setattr(live, "MSR_DEVICE", str(msr))
    monkeypatch.setattr(live, "KVM_DEVICE", str(kvm))  # absent: KVM answers nothing
    monkeypatch.setattr(live.os, "open", fake_open)
    monkeypatch.setattr(live.os, "pread", pread)
    failure = errno.EIO
    assert live._feature_msr(0x10A) is None and opened == [str(msr)]
    opened.clear()
    failure = errno.EPERM
    assert live._feature_msr(0x10A) is None and opened == [str(msr), str(kvm)]
