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

import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

import cpucompat
from cpucompat.engine.maps import resolve_map_spec
from cpucompat.inputs.parse import parse_cpus

libvirt = pytest.importorskip("libvirt", reason="libvirt-python is not installed: differential tests skipped")

MAP = resolve_map_spec("9.0.0")  # libvirt 9.0.0's map: its facts (and this machine's libvirt)
X86 = MAP.x86
MODELS = [m for m in X86.models]
FEATURES = [f.name for f in X86.features]
COMMON_FEATURES = ["sse4.1", "sse4.2", "ssse3", "popcnt", "aes", "avx", "avx2", "x2apic", "hypervisor",
                   "svm", "vmx", "lm", "nx", "invtsc", "pdpe1gb", "rdtscp", "xsave", "osxsave", "abm"]
# CI runs 400 examples per law (the file takes about 15 s, half of it
# libvirt probing the host once); CPUCOMPAT_DIFF_EXAMPLES=20000 for a long run.
SETTINGS = settings(max_examples=int(os.environ.get("CPUCOMPAT_DIFF_EXAMPLES", "400")), deadline=None,
                    suppress_health_check=[HealthCheck.function_scoped_fixture])

EXPAND = libvirt.VIR_CONNECT_BASELINE_CPU_EXPAND_FEATURES
MIGRATABLE = libvirt.VIR_CONNECT_BASELINE_CPU_MIGRATABLE
VENDORS = ["Intel", "AMD", "Hygon"]
POLICIES = ["force", "require", "optional", "disable", "forbid"]


@st.composite
def host_cpus(draw, arches=("x86_64",)):
    """Host-type CPUs (with <arch>): a model, a vendor that agrees with it,
    none, or any (which libvirt may refuse), and extra features."""
    model = draw(st.sampled_from(MODELS))
    vendor = draw(st.sampled_from(["model", "model", "none", "any"]))
    if vendor == "model":  # the model's own, or any vendor for a vendor-less model
        cpu_vendor = model.vendor or draw(st.sampled_from([None] + VENDORS))
    elif vendor == "none":
        cpu_vendor = None
    else:
        cpu_vendor = draw(st.sampled_from(VENDORS))
    extra = draw(st.lists(st.one_of(st.sampled_from(FEATURES), st.sampled_from(COMMON_FEATURES)),
                          max_size=8, unique=True))
    lines = ["<cpu>", f"  <arch>{draw(st.sampled_from(arches))}</arch>", f"  <model>{model.name}</model>"]
    if cpu_vendor:
        lines.append(f"  <vendor>{cpu_vendor}</vendor>")
    lines += [f"  <feature name='{name}'/>" for name in extra] + ["</cpu>"]
    return "\n".join(lines)


# Old, small models fit most hosts, so drawing them often exercises the
# superset/identical/strict paths, not only "incompatible".
SMALL_MODELS = [m for m in MODELS if m.features.bit_count() <= 40]


@st.composite
def guest_cpus(draw):
    """Guest CPUs of every mode, with or without a model, every match,
    check, fallback and migratable value, and features of every policy."""
    mode = draw(st.sampled_from([None, "custom", "custom", "host-model", "host-passthrough", "maximum"]))
    custom = mode in (None, "custom")
    # custom CPUs mostly name a model (without one they are topology-only);
    # the other modes mostly do not
    has_model = draw(st.integers(0, 9)) > (0 if custom else 6)
    model = draw(st.one_of(st.sampled_from(MODELS), st.sampled_from(SMALL_MODELS)))
    attrs = ""
    for name, values in (("mode", [mode]), ("match", [None, None, "minimum", "exact", "strict"]),
                         ("check", [None, None, "none", "partial", "full"]),
                         ("migratable", [None, None, None, "on", "off"])):
        value = draw(st.sampled_from(values))
        if value:
            attrs += f" {name}='{value}'"
    lines = [f"<cpu{attrs}>"]
    if has_model:
        fallback = draw(st.sampled_from([None, None, "allow", "forbid"]))
        model_attrs = f" fallback='{fallback}'" if fallback else ""
        lines.append(f"  <model{model_attrs}>{model.name}</model>")
        vendor = draw(st.sampled_from([None, None] + VENDORS))
        if vendor:
            lines.append(f"  <vendor>{vendor}</vendor>")
    # vendor without a model: both refuse it in custom mode; see
    # test_vendor_without_model_is_refused_in_every_mode for the others
    elif custom and draw(st.integers(0, 5)) == 0:
        lines.append(f"  <vendor>{draw(st.sampled_from(VENDORS))}</vendor>")
    features = draw(st.lists(st.tuples(st.one_of(st.sampled_from(FEATURES), st.sampled_from(COMMON_FEATURES)),
                                       st.sampled_from(POLICIES)),
                             max_size=6, unique_by=lambda f: f[0]))
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
def capabilities(libvirt_conn):
    return libvirt_conn.getCapabilities()  # seconds: libvirt probes the host each time


@pytest.fixture(scope="module")
def local_host(capabilities):
    return parse_cpus(capabilities, "libvirt capabilities", MAP)[0]


RESULTS = {0: "incompatible", 1: "identical", 2: "superset"}


@SETTINGS
@given(guest=st.one_of(guest_cpus(), host_cpus(arches=("x86_64", "x86_64", "i686", "aarch64"))))
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
    changed = dict(data.draw(st.lists(st.tuples(st.sampled_from(features + COMMON_FEATURES), st.sampled_from(POLICIES)),
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
