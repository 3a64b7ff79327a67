"""The scheduling rules on plain values, without Nova: a table of guest CPU
mode × kind of request × host, then each rule's corners.

The hosts are the cpu_info Nova's libvirt driver stores for real CPUs
(tests/data/nova).  Nothing here imports Nova (tests/nova_integration
drives the same rules through Nova's own objects).
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import NamedTuple

import pytest

import cpucompat
from cpucompat.engine.maps import resolve_map_spec
from cpucompat.errors import CpuCompatError
from cpucompat.nova import scheduling
from cpucompat.nova.config import CpuPolicy
from cpucompat.nova.cache import Lru
from cpucompat.nova.hostcpu import HostCpu
from cpucompat.nova.moves import MoveKind, move_kind
from cpucompat.nova.scheduling import NO_CPU_INFO, CpuPlacement, Decision, Request, RequestDecisions

NOVA_DATA = Path(__file__).resolve().parents[1] / "data" / "nova"
CPU_INFO = {p.stem: p.read_text().strip() for p in NOVA_DATA.glob("*.json")}
ALL = sorted(CPU_INFO)  # broadwell cascadelake epyc-rome haswell icelake sandybridge skylake
INTEL = [h for h in ALL if h != "epyc-rome"]


class Host(NamedTuple):  # what the filter remembers of Nova's HostState
    host: str
    cpu_info: str


def placement(mode: str, models=(), flags=(), *, match: str = "exact", strict: bool = True,
              cpumap=None) -> CpuPlacement:
    policy = CpuPolicy(mode, tuple(models), tuple(flags), cpumap or cpucompat.embedded_cpu_map(), match, strict)
    found = CpuPlacement(policy)
    found.remember(Host(name, info) for name, info in CPU_INFO.items())  # the scheduler saw every host
    return found


def passing(where: CpuPlacement, move: MoveKind = MoveKind.BOOT, source: str | None = None,
            specs: dict | None = None, **kwargs) -> list[str]:
    request = where.request(specs, move=move, source_host=source, **kwargs)
    return [host for host in ALL if host != source and where.decide(request, CPU_INFO[host]).passes]


COLD = (MoveKind.RESIZE, MoveKind.EVACUATION, MoveKind.UNSHELVE, MoveKind.OTHER)

# mode, kind, source host, the hosts that pass (the source excluded, as Nova excludes it)
TABLE = [
    # host-model: a live migration needs the guest's CPU (the source's host-model); the rest boot anew
    ("host-model", MoveKind.BOOT, None, ALL),
    ("host-model", MoveKind.LIVE_MIGRATION, "icelake", []),
    ("host-model", MoveKind.LIVE_MIGRATION, "skylake", ["cascadelake", "icelake"]),
    ("host-model", MoveKind.LIVE_MIGRATION, "haswell", ["broadwell", "cascadelake", "icelake", "skylake"]),
    ("host-model", MoveKind.LIVE_MIGRATION, "epyc-rome", []),
    *[("host-model", kind, "icelake", [h for h in ALL if h != "icelake"]) for kind in COLD],
    ("host-model", MoveKind.UNKNOWN, "icelake", []),  # cannot tell: the strict rule
    ("host-model", MoveKind.UNKNOWN, "haswell", ["broadwell", "cascadelake", "icelake", "skylake"]),
    ("host-model", MoveKind.REBUILD, None, ALL),
    # host-passthrough / maximum: live only to an identical CPU (none in this fleet); cold anywhere
    ("host-passthrough", MoveKind.BOOT, None, ALL),
    ("host-passthrough", MoveKind.LIVE_MIGRATION, "skylake", []),
    *[("host-passthrough", kind, "skylake", [h for h in ALL if h != "skylake"]) for kind in COLD],
    ("host-passthrough", MoveKind.UNKNOWN, "skylake", []),
    ("maximum", MoveKind.LIVE_MIGRATION, "haswell", []),
    ("maximum", MoveKind.EVACUATION, "haswell", [h for h in ALL if h != "haswell"]),
    # custom (Haswell-noTSX): the same CPU everywhere, so every kind is a boot where the model runs
    *[("custom", kind, "icelake", ["broadwell", "cascadelake", "haswell", "skylake"])
      for kind in (MoveKind.LIVE_MIGRATION, MoveKind.UNKNOWN, *COLD)],
    ("custom", MoveKind.BOOT, None, ["broadwell", "cascadelake", "haswell", "icelake", "skylake"]),
    # none: QEMU's default CPU, across vendors too
    ("none", MoveKind.LIVE_MIGRATION, "epyc-rome", [h for h in ALL if h != "epyc-rome"]),
    ("none", MoveKind.BOOT, None, ALL),
]


@pytest.mark.parametrize("mode, kind, source, expected", TABLE,
                         ids=[f"{m}-{k.name.lower()}-{s or 'new'}" for m, k, s, _ in TABLE])
def test_mode_by_kind_by_host(mode, kind, source, expected):
    models = ("Haswell-noTSX",) if mode == "custom" else ()
    assert passing(placement(mode, models), kind, source) == expected


def test_task_states_name_the_move_kinds_as_nova_34_sets_them():
    assert move_kind("migrating") is MoveKind.LIVE_MIGRATION and MoveKind.LIVE_MIGRATION.keeps_cpu
    assert [move_kind(s) for s in ("resize_prep", "rebuilding", "unshelving")] == [
        MoveKind.RESIZE, MoveKind.EVACUATION, MoveKind.UNSHELVE]
    assert move_kind(None) is MoveKind.OTHER and move_kind("resize_migrating") is MoveKind.OTHER
    assert MoveKind.UNKNOWN.keeps_cpu and not any(k.keeps_cpu for k in (*COLD, MoveKind.BOOT, MoveKind.REBUILD))


def test_only_a_move_judged_live_keeps_its_source():
    where = placement("host-model")
    assert where.request(move=MoveKind.EVACUATION, source_host="icelake").source_host is None
    live = where.request(move=MoveKind.LIVE_MIGRATION, source_host="icelake")
    assert live.is_live and live.source_cpu is not None and live.source_cpu.reported_model == "Icelake-Server"


def test_a_rebuild_passes_even_a_host_without_cpu_info():
    where = placement("custom", ["Icelake-Server"])
    assert where.decide(where.request(move=MoveKind.REBUILD), None).passes
    assert where.decide(where.request(), None) is NO_CPU_INFO


# -- host-model as QEMU builds it ----------------------------------------------------------------------

def test_an_ice_lake_host_model_guest_does_not_need_intel_pt():
    where = placement("host-model")
    without_pt = json.loads(CPU_INFO["icelake"])
    without_pt["features"].remove("intel-pt")
    request = where.request(move=MoveKind.LIVE_MIGRATION, source_host="icelake")
    assert where.decide(request, json.dumps(without_pt)).passes  # KVM never gives a guest Intel PT
    # a feature beyond the model (cpu_info's model carries its own): the guest has it, so must the host
    without_ifma = dict(without_pt, features=[f for f in without_pt["features"] if f != "avx512ifma"])
    decision = where.decide(request, json.dumps(without_ifma))
    assert not decision.passes and "avx512ifma" in decision.reason


def test_strict_host_model_off_lets_a_host_model_guest_go_anywhere_the_boot_rule_allows():
    assert passing(placement("host-model", strict=False), MoveKind.LIVE_MIGRATION, "icelake") == [
        h for h in ALL if h != "icelake"]


def test_a_live_migration_from_a_source_nobody_knows_uses_the_boot_rule_once_asked():
    where = placement("host-model")
    asked = []

    def lookup(host):
        asked.append(host)
        return CPU_INFO["skylake"] if host == "unseen-skylake" else None

    gone = where.request(move=MoveKind.LIVE_MIGRATION, source_host="gone", lookup_source=lookup)
    assert gone.source_unknown and where.decide(gone, CPU_INFO["haswell"]).reason.startswith("source host gone")
    unseen = where.request(move=MoveKind.LIVE_MIGRATION, source_host="unseen-skylake", lookup_source=lookup)
    assert not where.decide(unseen, CPU_INFO["haswell"]).passes
    where.request(move=MoveKind.LIVE_MIGRATION, source_host="unseen-skylake", lookup_source=lookup)
    assert asked == ["gone", "unseen-skylake"]  # remembered once found
    assert where.request(move=MoveKind.LIVE_MIGRATION, source_host="x" * 70_000, lookup_source=lambda h: "{" * 70_000
                         ).source_cpu is None


def renamed(name: str, model: str | None = None, add=(), arch: str | None = None) -> str:
    info = json.loads(CPU_INFO[name])
    info["model"] = model or info["model"]
    info["features"] = sorted(info["features"] + list(add))
    if arch:
        info["arch"] = arch
    return json.dumps(info)


def test_features_unknown_to_the_map_count_for_live_migrations():
    where = placement("host-model")
    where.remember([Host("skylake-fred", renamed("skylake", add=["fred"]))])
    request = where.request(move=MoveKind.LIVE_MIGRATION, source_host="skylake-fred")
    assert not where.decide(request, CPU_INFO["icelake"]).passes
    assert where.decide(request, renamed("icelake", add=["fred"])).passes


def test_passthrough_exact_needs_the_same_model_names_and_features_superset_needs_more():
    exact, superset = placement("host-passthrough"), placement("host-passthrough", match="superset")
    twin = renamed("skylake")
    for where in (exact, superset):
        where.remember([Host("twin", twin)])
    live = dict(move=MoveKind.LIVE_MIGRATION, source_host="skylake")
    assert exact.decide(exact.request(**live), twin).passes
    assert not exact.decide(exact.request(**live), renamed("skylake", add=["fred"])).passes
    assert not exact.decide(exact.request(**live), renamed("skylake", model="Skylake-Server-v1")).passes
    assert superset.decide(superset.request(**live), CPU_INFO["icelake"]).passes
    assert not superset.decide(superset.request(**live), CPU_INFO["haswell"]).passes
    assert "vendor" in exact.decide(exact.request(**live), CPU_INFO["epyc-rome"]).reason


def test_a_non_x86_host_model_source_goes_to_the_same_model():
    where = placement("host-model")
    arm = {name: json.dumps({"arch": "aarch64", "model": model, "vendor": "ARM", "features": ["fp"]})
           for name, model in (("n1", "Neoverse-N1"), ("n1-twin", "Neoverse-N1"), ("v1", "Neoverse-V1"))}
    where.remember(Host(name, info) for name, info in arm.items())
    request = where.request(move=MoveKind.LIVE_MIGRATION, source_host="n1")
    assert where.decide(request, arm["n1-twin"]).passes and not where.decide(request, arm["v1"]).passes


# -- custom: Nova's model choice ---------------------------------------------------------------------------

def test_custom_takes_the_first_model_with_the_required_traits_and_flags_a_compute_that_cannot_run_it():
    where = placement("custom", ["SandyBridge", "Haswell-noTSX"])
    assert passing(where) == INTEL
    avx2 = where.request({"trait:HW_CPU_X86_AVX2": "required"})
    assert avx2.models == ("Haswell-noTSX",)
    decision = where.decide(avx2, CPU_INFO["sandybridge"])
    assert not decision.passes and decision.misconfigured and decision.model == "Haswell-noTSX"
    first_unrunnable = placement("custom", ["Skylake-Client", "SandyBridge"])
    decision = first_unrunnable.decide(first_unrunnable.request(), CPU_INFO["haswell"])
    assert not decision.passes and decision.misconfigured  # Nova gives Skylake-Client there all the same


def test_custom_with_no_model_having_the_traits_refuses_every_host():
    where = placement("custom", ["SandyBridge"])
    request = where.request({"trait:HW_CPU_X86_AVX512F": "required"})
    assert request.refused and "SandyBridge lacks avx512f" in request.refused
    assert passing(where, specs={"trait:HW_CPU_X86_AVX512F": "required"}) == []


def test_an_aggregate_model_makes_its_hosts_custom():
    where = placement("host-model")
    request = where.request(aggregate_model="Skylake-Server")
    assert (request.mode, request.models) == ("custom", ("Skylake-Server",))
    with pytest.raises(CpuCompatError, match="aggregate cpucompat_cpu_model"):
        where.request(aggregate_model="Skylake-Servr")
    with pytest.raises(CpuCompatError, match="more than the 255"):
        where.request(aggregate_model="x" * 256)


def test_request_decisions_pin_aggregates_and_refuse_a_broken_request():
    where = placement("host-model")
    decisions = RequestDecisions(where, {}, (), where.request())
    assert decisions.decide(CPU_INFO["haswell"]).passes
    assert not decisions.decide(CPU_INFO["haswell"], "Skylake-Server").passes
    assert decisions.decide(CPU_INFO["icelake"], "Skylake-Server").passes
    bad = decisions.decide(CPU_INFO["icelake"], "NoSuchModel")
    assert not bad.passes and bad.error
    refused = RequestDecisions(where, {}, (), None, "bad extra spec")
    assert refused.decide(CPU_INFO["icelake"]) == Decision(False, "bad extra spec", error=True)


# -- flavor extra specs: requirements, never the guest CPU -------------------------------------------------

@pytest.mark.parametrize("mode", ["host-model", "host-passthrough", "custom", "none"])
def test_flavor_cpu_model_is_a_requirement_on_boots_and_every_move(mode):
    where = placement(mode, ("SandyBridge",) if mode == "custom" else ())
    icelake_model = {"cpucompat:cpu_model": "Icelake-Server"}
    assert passing(where, specs=icelake_model) == ["icelake"]
    for kind in COLD:
        assert passing(where, kind, "skylake", icelake_model) == ["icelake"]
    # live, the requirement adds to the mode's rule (passthrough: only an identical Skylake)
    assert passing(where, MoveKind.LIVE_MIGRATION, "skylake", icelake_model) == (
        [] if mode == "host-passthrough" else ["icelake"])
    request = where.request(icelake_model)
    assert request.mode == mode and request.models == (("SandyBridge",) if mode == "custom" else ())


def test_flavor_cpu_flags_alone_or_with_the_model():
    where = placement("host-model")
    assert passing(where, specs={"cpucompat:cpu_flags": "+avx512f,-avx2"}) == ["cascadelake", "icelake", "skylake"]
    with_model = {"cpucompat:cpu_model": "Haswell-noTSX", "cpucompat:cpu_flags": "avx512f"}
    assert passing(where, specs=with_model) == ["cascadelake", "icelake", "skylake"]
    assert passing(where, specs={"cpucompat:cpu_model": "Icelake-Server, Cascadelake-Server"}) == [
        "cascadelake", "icelake"]


def test_flavor_cpu_mode_refuses_every_host_whatever_it_names():
    for value in ("custom", "host-model", "bogus"):
        where = placement("host-model")
        request = where.request({"cpucompat:cpu_mode": value})
        assert "not honoured" in request.refused and "[libvirt] cpu_mode" in request.refused
        assert passing(where, specs={"cpucompat:cpu_mode": value}) == []
        assert request.mode == "host-model"


@pytest.mark.parametrize("specs, message", [
    ({"cpucompat:cpu_model": "Icelake-Servr"}, "unknown CPU model"),
    ({"cpucompat:cpu_flags": "+nosuchflag"}, "nosuchflag"),
    ({"cpucompat:cpu_model": "x" * 256}, "more than the 255"),
])
def test_unusable_flavor_specs_raise_for_the_filter_to_refuse_every_host(specs, message):
    with pytest.raises(CpuCompatError, match=message):
        placement("host-model").request(specs)


def test_a_policy_with_a_mode_nova_lacks_refuses_every_host():
    assert passing(placement("bogus")) == []


# -- traits --------------------------------------------------------------------------------------------

def test_traits_required_forbidden_and_unknown():
    where = placement("host-model")
    assert passing(where, specs={"trait:HW_CPU_X86_AVX512F": "forbidden"}) == [
        "broadwell", "epyc-rome", "haswell", "sandybridge"]
    assert passing(where, specs={"trait:HW_CPU_X86_AVX2": "required"}) == [h for h in ALL if h != "sandybridge"]
    assert passing(where, image_traits=["HW_CPU_X86_SVM"]) == ["epyc-rome"]
    assert passing(where, specs={"trait:HW_CPU_X86_NOSUCH": "required"}) == []
    assert passing(where, specs={"trait:HW_CPU_X86_NOSUCH": "forbidden"}) == ALL
    assert passing(placement("host-model", flags=[("avx512f", "require")])) == ["cascadelake", "icelake", "skylake"]


# -- hosts' cpu_info -----------------------------------------------------------------------------------

@pytest.mark.parametrize("cpu_info, reason", [
    (None, "no CPU information"), ("", "no CPU information"), ({}, "no CPU information"),
    ("{not json", "unusable cpu_info"), (json.dumps({"model": "NoSuchCPU"}), "unusable cpu_info: unknown CPU"),
    ("x" * 70_000, "more than the 65536"),
    (json.dumps({"arch": "x86_64", "model": "NewCPU", "vendor": "Intel", "features": ["nosuch"]}), "no known"),
])
def test_unusable_cpu_info_fails_with_a_reason(cpu_info, reason):
    where = placement("host-model")
    decision = where.decide(where.request(), cpu_info)
    assert not decision.passes and reason in decision.reason and not decision.error


def test_a_newer_libvirts_model_is_decoded_from_its_features_and_dicts_are_read_too():
    # libvirt 11.3 names this host Cascadelake-Server-v1, a model 9.0.0's map does not define
    where = placement("custom", ["Skylake-Server"], cpumap=resolve_map_spec("9.0.0"))
    found = where.host_cpu(renamed("cascadelake", model="Cascadelake-Server-v1"))
    # read as the planner reads it (engine.hostcpu.readable_host): named as the map's libvirt decodes it,
    # so hosts of one CPU compare equal whichever release named them
    assert isinstance(found, HostCpu) and found.reported_model == found.cpu.model == "Cascadelake-Server"
    assert where.decide(where.request(), json.loads(CPU_INFO["skylake"])).passes
    assert where.host_cpu(json.loads(CPU_INFO["skylake"])) == where.host_cpu(json.loads(CPU_INFO["skylake"]))


def test_a_bug_is_a_flagged_refusal_never_an_exception(monkeypatch):
    where = placement("host-model")

    def broken(*args, **kwargs):
        raise RuntimeError("a bug")

    monkeypatch.setattr(scheduling, "_host_cpu", broken)
    decision = where.decide(where.request(), renamed("haswell", add=["one-more"]))
    assert not decision.passes and decision.error and "RuntimeError: a bug" in decision.reason
    monkeypatch.undo()
    monkeypatch.setattr(CpuPlacement, "_decide", broken)
    assert where.decide(where.request(), CPU_INFO["haswell"]).error
    unknown_feature = where.decide(Request("host-model", required=("no-such-feature",)), CPU_INFO["skylake"])
    assert unknown_feature.error


def test_the_lru_is_bounded_in_entries_and_weight():
    lru = Lru(2, max_weight=10)
    lru.put("a", 1, 4)
    lru.put("b", 2, 4)
    assert lru.get("a") == 1  # now the most recent
    lru.put("c", 3, 4)  # over 10: the least recent ("b") goes
    assert lru.get("b") is None and lru.get("c") == 3 and lru.weight == 8
    lru.put("huge", 4, 11)
    assert lru.get("huge") is None
    assert lru.add("d") and not lru.add("d")
    assert len(lru.items) == 2
