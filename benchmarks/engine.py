"""The CPU driver operations: compare, baseline, expand, decode, map loading."""
from __future__ import annotations

import os
import random
import tempfile
from pathlib import Path

import cpucompat
from cpucompat.engine.cpumap import loader as cpumap_loader
from cpucompat.engine import graph
from cpucompat.engine.cpuid import encode_dump
from cpucompat.engine.maps import resolve_map_spec
from cpucompat.engine.releases import DEFAULT_VERSION, KNOWN_VERSIONS

from . import Row, per_batch, per_call

LEGACY_MAP = Path(__file__).resolve().parent.parent / "tests" / "data" / "legacy" / "cpu_map.xml"


def host_xml(model: str, vendor: str | None, features: list[str]) -> str:
    vendor_xml = f"<vendor>{vendor}</vendor>" if vendor else ""
    return (f"<cpu><arch>x86_64</arch><model>{model}</model>{vendor_xml}"
            + "".join(f"<feature name='{f}'/>" for f in features) + "</cpu>")


def release_map(conn) -> cpucompat.CpuMap:
    """The embedded map of this machine's libvirt release (cpucompat is timed
    beside that libvirt, on inputs it knows), else the default map."""
    if conn is not None:
        version = conn.getLibVersion()
        name = f"{version // 1000000}.{version // 1000 % 1000}.{version % 1000}"
        if name in KNOWN_VERSIONS:
            return resolve_map_spec(name)
    return cpucompat.embedded_cpu_map()


def random_hosts(count: int, seed: int, x86) -> list[str]:
    """Distinct Intel host CPUs: a model plus a few random features."""
    rng = random.Random(seed)
    models = [m for m in x86.models if m.vendor == "Intel"]
    names = [f.name for f in x86.features]
    return [host_xml(rng.choice(models).name, "Intel", rng.sample(names, 4)) for _ in range(count)]


def random_guests(count: int, seed: int, x86) -> list[str]:
    rng = random.Random(seed)
    names = [f.name for f in x86.features]
    out = []
    for _ in range(count):
        model = rng.choice(x86.models).name
        flags = "".join(f"<feature policy='{rng.choice(['require', 'disable', 'optional'])}' name='{n}'/>"
                        for n in rng.sample(names, 3))
        out.append(f"<cpu match='exact'><model>{model}</model>{flags}</cpu>")
    return out


def run(conn, libvirt, quick: bool) -> list[Row]:
    rows: list[Row] = []
    cmap = release_map(conn)
    _clear_caches = cmap.clear_caches  # "cold" rows forget the answers cached on the map they time
    repeat = 3 if quick else 7
    expand_flags = libvirt.VIR_CONNECT_BASELINE_CPU_EXPAND_FEATURES if libvirt else 0
    migratable_flag = libvirt.VIR_CONNECT_BASELINE_CPU_MIGRATABLE if libvirt else 0

    # -- compare against this machine's CPU (libvirt's compareCPU can do no other)
    local = cpucompat.parse_cpus(conn.getCapabilities(), "capabilities", cmap)[0] if conn else None
    if local is None:
        local = cpucompat.parse_cpus(host_xml("Haswell-noTSX", "Intel", ["vmx"]), "host", cmap)[0]
    distinct = 300 if quick else 2000
    guest_xml = random_guests(distinct, 1, cmap.x86)
    guests = [cpucompat.parse_cpus(g, "guest", cmap)[0] for g in guest_xml]
    ours_cold = per_batch(lambda: [cpucompat.compare(g, local, cmap) for g in guests], distinct, repeat, _clear_caches)
    theirs = None
    if conn:
        theirs = per_batch(lambda: [conn.compareCPU(x, 0) for x in guest_xml], distinct, repeat)
    rows.append(Row("compare, distinct guests (cold)", f"{distinct} guest CPUs vs this host", ours_cold, theirs,
                    "every guest seen for the first time"))
    batch = [guests[i % 100] for i in range(distinct * 5)]
    batch_xml = [guest_xml[i % 100] for i in range(distinct * 5)]
    ours_batch = per_batch(lambda: [cpucompat.compare(g, local, cmap) for g in batch], len(batch), repeat)
    theirs_batch = per_batch(lambda: [conn.compareCPU(x, 0) for x in batch_xml], len(batch), repeat) if conn else None
    rows.append(Row("compare, batch (100 distinct CPUs)", f"{len(batch)} decisions", ours_batch, theirs_batch,
                    "as a scheduler sees them: CPUs repeat"))

    def single_cold() -> None:
        _clear_caches()
        cpucompat.compare(guests[0], local, cmap)

    ours_single = per_call(single_cold, 1, 50)
    theirs_single = per_call(lambda: conn.compareCPU(guest_xml[0], 0), 1, 50) if conn else None
    rows.append(Row("compare, one cold call", "1 guest, caches cleared", ours_single, theirs_single))

    # -- baseline of 2 and 100 hosts: each repetition a batch of new groups
    # (one call of ~50 µs alone is at the mercy of the machine's noise)
    for size, per_rep in ((2, 40), (100, 4)):
        batches_xml = [[random_hosts(size, 1000 * r + g, cmap.x86) for g in range(per_rep)] for r in range(repeat)]
        batches = [[[cpucompat.parse_cpus(x, "h", cmap)[0] for x in group] for group in batch]
                   for batch in batches_xml]
        for flags_name, flags, migratable in (("", 0, False), (" EXPAND", expand_flags, False),
                                              (" MIGRATABLE", migratable_flag, True)):
            it = iter(batches)
            ours = per_batch(lambda: [_baseline_or_none(g, cmap, migratable) for g in next(it)], per_rep, repeat,
                             _clear_caches)
            it_x = iter(batches_xml)
            theirs = per_batch(lambda: [_libvirt_baseline(conn, g, flags) for g in next(it_x)], per_rep,
                               repeat) if conn else None
            rows.append(Row(f"baseline{flags_name}", f"{size} hosts", ours, theirs))

    # -- expansion of one CPU
    singles_xml = random_hosts(200, 7, cmap.x86)
    singles = [cpucompat.parse_cpus(x, "h", cmap)[0] for x in singles_xml]
    for migratable in (False, True):
        flags = expand_flags | (migratable_flag if migratable else 0)
        ours = per_batch(lambda: [cpucompat.expand(c, cmap, migratable=migratable) for c in singles], len(singles),
                         repeat, _clear_caches)
        theirs = per_batch(lambda: [conn.baselineCPU([x], flags) for x in singles_xml], len(singles),
                           repeat) if conn else None
        rows.append(Row("expand" + (" migratable" if migratable else ""), "1 host CPU", ours, theirs))

    # -- decode raw CPUID
    x86 = cmap.x86
    dumps = [encode_dump(x86, x86.model(m.name).features | x86.bits(["vmx", "invtsc"]), "Intel", (6, 85, 4))
             for m in x86.models if m.vendor == "Intel"]
    for guest in (False, True):
        ours = per_batch(lambda: [cpucompat.decode(d, cmap, guest=guest) for d in dumps], len(dumps), repeat,
                         _clear_caches)
        rows.append(Row("decode " + ("host-model (guest)" if guest else "host"), "1 raw CPUID dump", ours, None,
                        "libvirt decodes only its own host's CPUID"))

    # -- maps and graphs
    def load_cold(path, cache: str = ""):
        """As a new process loads it: from its XML (no cache), or compiled (`cache`)."""
        saved = os.environ.get("CPUCOMPAT_CACHE_DIR")
        os.environ["CPUCOMPAT_CACHE_DIR"] = cache
        try:
            cpumap_loader._cache.clear()
            return cpucompat.load_cpu_map(path)
        finally:
            if saved is None:
                del os.environ["CPUCOMPAT_CACHE_DIR"]
            else:
                os.environ["CPUCOMPAT_CACHE_DIR"] = saved

    x86_models = f"libvirt {DEFAULT_VERSION}, {len(cpucompat.embedded_cpu_map().x86.models)} x86 models"
    with tempfile.TemporaryDirectory() as cache:
        for layout, path, inputs in (("split", None, x86_models), ("legacy", LEGACY_MAP, "libvirt 9.0.0, single file")):
            if path is None or path.exists():
                rows.append(Row(f"load cpu_map {layout}, XML (cold)", inputs,
                                per_call(lambda: load_cold(path), 1, repeat), None))  # noqa: B023
                load_cold(path, cache)  # compiled for the next process
                rows.append(Row(f"load cpu_map {layout}, compiled (cold)", inputs,
                                per_call(lambda: load_cold(path, cache), 1, repeat), None,  # noqa: B023
                                "as a new process: from the compiled-map cache"))
    rows.append(Row("load cpu_map (cached)", "same path again", per_call(lambda: cpucompat.load_cpu_map(None), 100,
                                                                        repeat), None))
    fresh = load_cold(None)

    def build_graphs():
        fresh.clear_caches()
        graph.hasse(fresh.x86)
        graph.feature_graph(fresh.x86)

    rows.append(Row("graph: features, subset order, Hasse", "58 models", per_call(build_graphs, 1, repeat), None))
    return rows


def _baseline_or_none(cpus, cmap, migratable):
    try:
        return cpucompat.baseline(cpus, cmap, migratable=migratable)
    except cpucompat.CpuCompatError:
        return None


def _libvirt_baseline(conn, xmls, flags):
    try:
        return conn.baselineCPU(xmls, flags)
    except Exception:
        return None
