"""Differential tests: cpucompat against the real libvirt, same inputs.

libvirt 9.x runs in-process (qemu:///embed); hypothesis draws CPU
definitions from the embedded map and every answer must agree:

* ``baselineCPU(xmls, flags)`` vs `baseline` / `expand` for groups of host
  CPUs of every vendor (Intel, AMD, Hygon, none, or one that contradicts
  the model); libvirt's API parses baseline inputs as host CPUs, so they
  carry no feature policies;
* ``compareCPU(xml)`` vs `compare(guest, local_host)`, where local_host is
  this machine's CPU as libvirt's capabilities report it — guests of every
  mode (custom, host-model, host-passthrough, maximum; with and without a
  model), match, check, fallback and migratable value, features of every
  policy, and host-type CPUs of x86_64, i686 and aarch64; and guests made
  from the local host's own CPU, for the identical and strict paths.

An error must be an error on both sides.  Where cpucompat answers
differently on purpose, a test below says so and why.
"""
from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

import cpucompat
from cpucompat.engine.maps import resolve_map_spec
from cpucompat.inputs.parse import parse_cpus

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "differential"))
from laws import POLICIES, Draw  # noqa: E402

libvirt = pytest.importorskip("libvirt", reason="libvirt-python is not installed: differential tests skipped")

MAP = resolve_map_spec("9.0.0")  # libvirt 9.0.0's map: its facts (and this machine's libvirt)
X86 = MAP.x86
DRAW = Draw(MAP)  # the strategies the release laws draw with, over this map
# CI runs 400 examples per law (the file takes about 15 s, half of it
# libvirt probing the host once); CPUCOMPAT_DIFF_EXAMPLES=20000 for a long run.
SETTINGS = settings(max_examples=int(os.environ.get("CPUCOMPAT_DIFF_EXAMPLES", "400")), deadline=None,
                    suppress_health_check=[HealthCheck.function_scoped_fixture])

EXPAND = libvirt.VIR_CONNECT_BASELINE_CPU_EXPAND_FEATURES
MIGRATABLE = libvirt.VIR_CONNECT_BASELINE_CPU_MIGRATABLE


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
@given(group=st.lists(DRAW.host_cpu(), min_size=1, max_size=5),
       flags=st.sampled_from([0, EXPAND, MIGRATABLE, EXPAND | MIGRATABLE]))
def test_baseline_agrees_with_libvirt(libvirt_conn, group, flags):
    theirs = _libvirt_baseline(libvirt_conn, group, flags)
    ours = _ours(group, flags)
    event(f"baseline: {'error' if isinstance(theirs, Exception) else 'answer'}")
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
@given(cpu=DRAW.host_cpu(), migratable=st.booleans())
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
def capabilities(libvirt_conn):
    return libvirt_conn.getCapabilities()  # seconds: libvirt probes the host each time


@pytest.fixture(scope="module")
def local_host(capabilities):
    return parse_cpus(capabilities, "libvirt capabilities", MAP)[0]


RESULTS = {0: "incompatible", 1: "identical", 2: "superset"}


@SETTINGS
@given(guest=st.one_of(DRAW.guest_cpu(), DRAW.host_cpu(arches=("x86_64", "x86_64", "i686", "aarch64"))))
def test_compare_agrees_with_libvirt(libvirt_conn, local_host, guest):
    try:
        theirs = RESULTS[libvirt_conn.compareCPU(guest, 0)]
    except libvirt.libvirtError as exc:
        theirs = exc
    try:
        ours = cpucompat.compare(parse_cpus(guest, "drawn", MAP)[0], local_host, MAP).result
    except cpucompat.CpuCompatError as exc:
        ours = exc
    event(f"compare: {'error' if isinstance(theirs, Exception) else theirs}")
    if isinstance(theirs, Exception) or isinstance(ours, Exception):
        assert isinstance(theirs, Exception) and isinstance(ours, Exception), (theirs, ours)
        return
    assert ours == theirs


@SETTINGS
@given(data=st.data())
def test_compare_near_the_local_host_agrees_with_libvirt(libvirt_conn, local_host, data):
    """Guests made from the local host's own CPU, a few features dropped or
    given other policies: the identical and strict paths, rare otherwise."""
    features = [name for name, _ in local_host.features]
    kept = data.draw(st.lists(st.sampled_from(features), unique=True, min_size=len(features) - 3))
    changed = dict(data.draw(st.lists(st.tuples(st.sampled_from(features + DRAW.common), st.sampled_from(POLICIES)),
                                      max_size=3, unique_by=lambda f: f[0])))
    match = data.draw(st.sampled_from(["minimum", "exact", "strict"]))
    vendor = f"<vendor>{local_host.vendor}</vendor>" if local_host.vendor and data.draw(st.booleans()) else ""
    lines = [f"<cpu mode='custom' match='{match}'>", f"<model>{local_host.model}</model>{vendor}"]
    policies = {name: "require" for name in kept} | changed
    lines += [f"<feature policy='{policy}' name='{name}'/>" for name, policy in policies.items()] + ["</cpu>"]
    guest = "\n".join(lines)
    theirs = RESULTS[libvirt_conn.compareCPU(guest, 0)]
    event(f"compare near host: {theirs}")
    assert cpucompat.compare(parse_cpus(guest, "drawn", MAP)[0], local_host, MAP).result == theirs


@pytest.mark.parametrize("model", [m.name for m in DRAW.models])
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


def test_local_host_is_identical_to_itself_in_both(libvirt_conn, local_host, capabilities):
    caps_cpu = capabilities
    start = caps_cpu.index("<cpu>")
    xml = caps_cpu[start:caps_cpu.index("</cpu>", start) + len("</cpu>")]
    assert RESULTS[libvirt_conn.compareCPU(xml, 0)] == "identical"
    assert cpucompat.compare(parse_cpus(xml, "caps", MAP)[0], local_host, MAP).result == "identical"


@pytest.mark.parametrize("xmls", [
    ["<cpu><arch>aarch64</arch><model>cortex-a53</model></cpu>"],
    ["<cpu><arch>aarch64</arch><model>no-such-model</model></cpu>"],
])
def test_non_x86_baseline_is_refused_where_libvirt_echoes_the_first_model(libvirt_conn, xmls):
    # libvirt's arm driver answers the first CPU's model unchecked, even a
    # name no map defines; cpucompat decides x86 only and says so
    theirs = parse_cpus(libvirt_conn.baselineCPU(xmls, 0), "libvirt", MAP)[0]
    assert theirs.model == parse_cpus(xmls[0], "drawn", MAP)[0].model and not theirs.features
    with pytest.raises(cpucompat.UnknownArch, match="arch aarch64"):
        cpucompat.baseline([parse_cpus(x, "drawn", MAP)[0] for x in xmls], MAP)


@pytest.mark.parametrize("mode", ["host-model", "host-passthrough", "maximum"])
def test_vendor_without_model_is_refused_in_every_mode(libvirt_conn, mode):
    xml = f"<cpu mode='{mode}'><vendor>Intel</vendor></cpu>"
    with pytest.raises(libvirt.libvirtError, match="vendor specified without CPU model"):
        libvirt_conn.compareCPU(xml, 0)
    with pytest.raises(cpucompat.InvalidCpuXml):
        parse_cpus(xml, "drawn", MAP)
