"""Differential tests: cpucompat against the real libvirt, same inputs.

libvirt 9.x runs in-process (qemu:///embed); hypothesis draws CPU
definitions from the embedded map and every answer must agree:

* ``baselineCPU(xmls, flags)`` vs `baseline` / `expand` for groups of host
  CPUs (libvirt's API parses baseline inputs as host CPUs, so they carry no
  feature policies);
* ``compareCPU(xml)`` vs `compare(guest, local_host)`, where local_host is
  this machine's CPU as libvirt's capabilities report it — guests with
  random policies, match modes and vendors.

An error must be an error on both sides.
"""
from __future__ import annotations

import os

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import cpucompat
from cpucompat.parse import parse_cpus

libvirt = pytest.importorskip("libvirt", reason="libvirt-python is not installed: differential tests skipped")

MAP = cpucompat.embedded_cpu_map()
X86 = MAP.x86
MODELS = [m for m in X86.models]
FEATURES = [f.name for f in X86.features]
# CI runs 150 examples per law; CPUCOMPAT_DIFF_EXAMPLES=5000 for a long run.
SETTINGS = settings(max_examples=int(os.environ.get("CPUCOMPAT_DIFF_EXAMPLES", "150")), deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])

EXPAND = libvirt.VIR_CONNECT_BASELINE_CPU_EXPAND_FEATURES
MIGRATABLE = libvirt.VIR_CONNECT_BASELINE_CPU_MIGRATABLE


@st.composite
def host_cpus(draw, vendor=None):
    model = draw(st.sampled_from(MODELS))
    cpu_vendor = model.vendor or vendor or draw(st.sampled_from([None, "Intel", "AMD"]))
    extra = draw(st.lists(st.sampled_from(FEATURES), max_size=8, unique=True))
    lines = ["<cpu>", "  <arch>x86_64</arch>", f"  <model>{model.name}</model>"]
    if cpu_vendor:
        lines.append(f"  <vendor>{cpu_vendor}</vendor>")
    lines += [f"  <feature name='{name}'/>" for name in extra] + ["</cpu>"]
    return "\n".join(lines)


# Old, small models fit most hosts, so drawing them often exercises the
# superset/identical/strict paths, not only "incompatible".
SMALL_MODELS = [m for m in MODELS if m.features.bit_count() <= 40]
COMMON_FEATURES = ["sse4.1", "sse4.2", "ssse3", "popcnt", "aes", "avx", "avx2", "x2apic", "hypervisor",
                   "svm", "vmx", "lm", "nx", "invtsc", "pdpe1gb", "rdtscp", "xsave", "osxsave", "abm"]


@st.composite
def guest_cpus(draw):
    model = draw(st.one_of(st.sampled_from(MODELS), st.sampled_from(SMALL_MODELS)))
    match = draw(st.sampled_from([None, "minimum", "exact", "strict"]))
    vendor = draw(st.sampled_from([None, None, "Intel", "AMD"]))
    features = draw(st.lists(st.tuples(st.one_of(st.sampled_from(FEATURES), st.sampled_from(COMMON_FEATURES)),
                                       st.sampled_from(["force", "require", "optional", "disable", "forbid"])),
                             max_size=6, unique_by=lambda f: f[0]))
    attrs = " match='%s'" % match if match else ""
    lines = [f"<cpu mode='custom'{attrs}>", f"  <model>{model.name}</model>"]
    if vendor:
        lines.append(f"  <vendor>{vendor}</vendor>")
    lines += [f"  <feature policy='{p}' name='{n}'/>" for n, p in features] + ["</cpu>"]
    return "\n".join(lines)


def _libvirt_baseline(conn, xmls, flags):
    try:
        return conn.baselineCPU(xmls, flags)
    except libvirt.libvirtError as exc:
        return exc


def _ours(xmls, flags):
    cpus = [parse_cpus(x, "drawn", MAP)[0] for x in xmls]
    try:
        return cpucompat.baseline(cpus, MAP, migratable=bool(flags & MIGRATABLE))
    except cpucompat.CpuCompatError as exc:
        return exc


@SETTINGS
@given(group=st.lists(host_cpus(), min_size=1, max_size=5),
       flags=st.sampled_from([0, EXPAND, MIGRATABLE, EXPAND | MIGRATABLE]))
def test_baseline_agrees_with_libvirt(libvirt_conn, group, flags):
    theirs = _libvirt_baseline(libvirt_conn, group, flags)
    ours = _ours(group, flags)
    if isinstance(theirs, Exception) or isinstance(ours, Exception):
        assert isinstance(theirs, Exception) and isinstance(ours, Exception), (theirs, ours)
        return
    want = parse_cpus(theirs, "libvirt", MAP)[0]
    required = {n for n, p in want.features if p == "require"}
    disabled = {n for n, p in want.features if p == "disable"}
    assert ours.model == want.model
    assert ours.vendor == want.vendor
    if flags & EXPAND:
        assert set(ours.expanded) == required
    else:
        assert set(ours.features) == required
    assert set(ours.disabled) == disabled
    assert (ours.fallback == "forbid") == (want.fallback == "forbid")


@SETTINGS
@given(cpu=host_cpus(), migratable=st.booleans())
def test_expand_agrees_with_libvirt(libvirt_conn, cpu, migratable):
    flags = EXPAND | (MIGRATABLE if migratable else 0)
    theirs = _libvirt_baseline(libvirt_conn, [cpu], flags)
    try:
        ours = cpucompat.expand(parse_cpus(cpu, "drawn", MAP)[0], MAP, migratable=migratable)
    except cpucompat.CpuCompatError as exc:
        ours = exc
    if isinstance(theirs, Exception) or isinstance(ours, Exception):
        assert isinstance(theirs, Exception) and isinstance(ours, Exception), (theirs, ours)
        return
    want = parse_cpus(theirs, "libvirt", MAP)[0]
    assert ours.model == want.model
    assert set(ours.expanded) == {n for n, p in want.features if p == "require"}
    assert set(ours.disabled) == {n for n, p in want.features if p == "disable"}


@pytest.fixture(scope="module")
def local_host(libvirt_conn):
    return parse_cpus(libvirt_conn.getCapabilities(), "libvirt capabilities", MAP)[0]


RESULTS = {0: "incompatible", 1: "identical", 2: "superset"}


@SETTINGS
@given(guest=st.one_of(guest_cpus(), host_cpus()))
def test_compare_agrees_with_libvirt(libvirt_conn, local_host, guest):
    try:
        theirs = RESULTS[libvirt_conn.compareCPU(guest, 0)]
    except libvirt.libvirtError as exc:
        theirs = exc
    try:
        ours = cpucompat.compare(parse_cpus(guest, "drawn", MAP)[0], local_host, MAP).result
    except cpucompat.CpuCompatError as exc:
        ours = exc
    if isinstance(theirs, Exception) or isinstance(ours, Exception):
        assert isinstance(theirs, Exception) and isinstance(ours, Exception), (theirs, ours)
        return
    assert ours == theirs


@pytest.mark.parametrize("model", [m.name for m in MODELS])
def test_every_model_expands_as_libvirt_does(libvirt_conn, model):
    vendor = X86.model(model).vendor
    xml = f"<cpu><arch>x86_64</arch><model>{model}</model>" + (f"<vendor>{vendor}</vendor>" if vendor else "") + "</cpu>"
    theirs = _libvirt_baseline(libvirt_conn, [xml], EXPAND)
    try:
        ours = cpucompat.expand(parse_cpus(xml, "model", MAP)[0], MAP)
    except cpucompat.CpuCompatError as exc:
        assert isinstance(theirs, Exception), exc
        return
    want = parse_cpus(theirs, "libvirt", MAP)[0]
    assert (ours.model, set(ours.expanded), set(ours.disabled)) == (
        want.model, {n for n, p in want.features if p == "require"}, {n for n, p in want.features if p == "disable"})


def test_local_host_is_identical_to_itself_in_both(libvirt_conn, local_host):
    caps_cpu = libvirt_conn.getCapabilities()
    start = caps_cpu.index("<cpu>")
    xml = caps_cpu[start:caps_cpu.index("</cpu>", start) + len("</cpu>")]
    assert RESULTS[libvirt_conn.compareCPU(xml, 0)] == "identical"
    assert cpucompat.compare(parse_cpus(xml, "caps", MAP)[0], local_host, MAP).result == "identical"
