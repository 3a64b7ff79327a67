"""CpuCompatFilter under hostile input (issue 10), inside real Nova.

Flavors and images carrying traits nobody defines, 10 MB extra specs and
cpu_info, control characters in host names, models and aggregate metadata:
every host gets an answer, each fault one bounded warning, nothing big is
kept, and nothing reaches the log unescaped.
"""
from __future__ import annotations

import gc
import json
import logging
import tracemalloc
import uuid
from pathlib import Path

import pytest

import cpucompat
from cpucompat.display import escape

nova_conf = pytest.importorskip("nova.conf", reason="Nova is not installed: pip install '.[nova]' to run "
                                                    "the filter inside real Nova")
from nova import objects  # noqa: E402
from nova.scheduler import host_manager  # noqa: E402

objects.register_all()
CONF = nova_conf.CONF
LOGGER = "cpucompat.filters.cpu_compat_filter"
CPU_INFO = {p.stem: p.read_text().strip() for p in (Path(__file__).resolve().parents[1] / "data" / "nova").glob("*.json")}
TEN_MB = 10 * 1024 * 1024
EVIL = "\x1b[31m\u202eevil\x07\r\n"  # ANSI colour, right-to-left override, bell, a forged new log line


def fleet(**cpu_infos):
    """Nova HostStates named after tests/data/nova, plus `cpu_infos`."""
    hosts = []
    for name, cpu_info in {**CPU_INFO, **cpu_infos}.items():
        host = host_manager.HostState(name, name, None)
        host.cpu_info = cpu_info
        hosts.append(host)
    return hosts


def boot(extra_specs=None, image_properties=None, **fields):
    """A boot RequestSpec as nova-api builds it (image trait:* properties become traits_required)."""
    return objects.RequestSpec(
        instance_uuid=str(uuid.uuid4()), scheduler_hints=fields.pop("hints", {}),
        ignore_hosts=fields.pop("ignore_hosts", []), image=objects.ImageMeta.from_dict(
            {"properties": image_properties or {}}),
        flavor=objects.Flavor(vcpus=1, memory_mb=512, root_gb=1, ephemeral_gb=0, swap=0,
                              extra_specs=extra_specs or {}), **fields)


def passing(cpu_filter, request, hosts=None):
    return sorted(h.host for h in cpu_filter.filter_all(hosts if hosts is not None else fleet(), request))


def warnings(caplog):
    return [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]


# -- traits nobody defines ---------------------------------------------------------------------------------

def test_a_required_trait_nobody_knows_fails_every_host_with_one_warning_per_distinct_trait(cpu_filter, caplog):
    requests = [boot({"trait:HW_CPU_X86_NOSUCH": "required"}),
                boot({"trait:HW_CPU_X86_NOSUCH": "required", "trait1:HW_CPU_X86_NOSUCH2": "required"}),
                boot(image_properties={"trait:HW_CPU_X86_NOSUCH3": "required"}),
                boot({"trait:HW_CPU_X86_NOSUCH2": "required"}, {"trait:HW_CPU_X86_NOSUCH": "required"})]
    with caplog.at_level(logging.WARNING, logger=LOGGER):
        for _ in range(10):
            for request in requests:
                assert passing(cpu_filter, request) == []
    logged = warnings(caplog)
    assert len(logged) == 3
    for trait in ("HW_CPU_X86_NOSUCH", "HW_CPU_X86_NOSUCH2", "HW_CPU_X86_NOSUCH3"):
        assert len([m for m in logged if f"trait {trait} is unknown" in m and "every host refused" in m]) == 1


def test_a_thousand_unknown_traits_in_one_request_make_a_bounded_number_of_warnings(cpu_filter, caplog):
    flood = boot({f"trait:HW_CPU_X86_NOSUCH{i}": "required" for i in range(1000)},
                 {f"trait:HW_CPU_X86_NOSUCH{i}": "required" for i in range(1000, 2000)})
    with caplog.at_level(logging.WARNING, logger=LOGGER):
        for _ in range(3):
            assert passing(cpu_filter, flood) == []
    logged = warnings(caplog)
    assert len(logged) == 11 and "1990 more required traits are unknown" in logged[-1]
    decisions = cpu_filter.placement._decisions
    flooded = [request for request, _ in decisions.items if request.unknown_required]
    assert len(flooded) == len(CPU_INFO) and flooded[0].size > 2000 * 17  # the traits weigh in the cache's bound
    assert decisions.weight >= sum(request.size for request in flooded)


def test_traits_os_traits_knows_without_a_cpuid_feature_stay_placements(cpu_filter, caplog):
    placements = boot({"trait:HW_CPU_X86_AMD_SEV": "required", "trait:HW_CPU_X86_INTEL_TDX": "required",
                       "trait:HW_CPU_X86_AMD_SEV_SNP": "forbidden"}, {"trait:HW_CPU_X86_ASF": "required"})
    with caplog.at_level(logging.WARNING, logger=LOGGER):
        assert passing(cpu_filter, placements) == sorted(CPU_INFO)
    assert warnings(caplog) == []


def test_a_forbidden_trait_nobody_knows_excludes_no_host_and_is_warned_once(cpu_filter, caplog):
    with caplog.at_level(logging.WARNING, logger=LOGGER):
        for _ in range(5):
            assert passing(cpu_filter, boot({"trait:HW_CPU_X86_NOSUCH": "forbidden"})) == sorted(CPU_INFO)
    logged = warnings(caplog)
    assert len(logged) == 1 and "forbidden trait HW_CPU_X86_NOSUCH" in logged[0] and "none excluded" in logged[0]


def test_a_10_mb_trait_name_is_warned_cut_short(cpu_filter, caplog):
    with caplog.at_level(logging.WARNING, logger=LOGGER):
        assert passing(cpu_filter, boot({"trait:HW_CPU_X86_" + "X" * TEN_MB: "required"})) == []
    logged = warnings(caplog)
    assert len(logged) == 1 and len(logged[0]) < 500 and "HW_CPU_X86_XXX" in logged[0]


# -- 10 MB values --------------------------------------------------------------------------------------------

def retained_after(cpu_filter, requests):
    """Bytes Python still holds after running `requests` (a generator, so each
    10 MB value is built only when its turn comes) through the filter."""
    hosts = fleet()
    cpu_filter.filter_all(hosts, boot())  # caches warm: what follows should add only bounded entries
    gc.collect()
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        for request, request_hosts in requests:
            yield passing(cpu_filter, request, request_hosts or hosts)
        del request, request_hosts
        gc.collect()
        yield tracemalloc.get_traced_memory()[0] - before
    finally:
        tracemalloc.stop()


def test_a_10_mb_cpu_model_refuses_every_host_with_short_warnings_and_keeps_nothing_big(cpu_filter, caplog):
    requests = ((boot({"cpucompat:cpu_mode": "custom", "cpucompat:cpu_model": f"{i}," + "A" * (TEN_MB + i)}), None)
                for i in range(300))
    with caplog.at_level(logging.WARNING, logger=LOGGER):
        *answers, retained = retained_after(cpu_filter, requests)
    assert answers == [[]] * 300
    logged = warnings(caplog)
    assert logged and all(len(m) < 500 and "cpucompat:cpu_model" in m for m in logged)
    assert retained < 4 * 1024 * 1024  # 300 specs of 10 MB each, not one of them kept
    assert cpu_filter._logged.weight <= 1 << 20


def huge_cpu_info(i):
    """Valid cpu_info JSON of 10 MB, its model name all but the whole of it (built without json.dumps: fast)."""
    return '{"arch": "x86_64", "model": "' + f"{i}" + "M" * TEN_MB + '", "vendor": "Intel", "features": ["avx"]}'


def test_a_10_mb_cpu_info_fails_its_host_only_and_is_not_kept(cpu_filter, caplog):
    requests = ((boot(), fleet(huge=huge_cpu_info(i))) for i in range(100))
    with caplog.at_level(logging.DEBUG, logger=LOGGER):
        *answers, retained = retained_after(cpu_filter, requests)
    assert answers == [sorted(CPU_INFO)] * 100
    refused = [r.getMessage() for r in caplog.records if r.getMessage().startswith("huge fails")]
    assert len(refused) == 100 and all("more than the 65536 allowed" in m and len(m) < 500 for m in refused)
    assert retained < 4 * 1024 * 1024
    placement = cpu_filter.placement
    assert "huge" not in placement._known_hosts
    assert max(len(key) for key in placement._hosts.items) < 2000


def test_a_10_mb_cpu_info_of_a_moves_source_from_nova_is_not_kept(cpu_filter):  # configures Nova's options
    from cpucompat.filters import CpuCompatFilter

    asked = []

    def lookup(context, host):
        asked.append(host)
        return huge_cpu_info(len(asked))

    looking_up = CpuCompatFilter(source_cpu_info=lookup,
                                 instance_state=lambda context, instance, cell: ("migrating", "huge-source"))
    live_migration = boot(ignore_hosts=["huge-source"], requested_destination=objects.Destination(
        cell=objects.CellMapping(uuid=str(uuid.uuid4()), name="cell1")))
    for _ in range(3):  # unusable: the boot rule, and Nova is asked again next time
        assert passing(looking_up, live_migration) == sorted(CPU_INFO)
    assert asked == ["huge-source"] * 3 and "huge-source" not in looking_up.placement._known_hosts


def test_the_caches_are_bounded_in_characters_not_only_entries():
    from cpucompat.nova.config import CpuPolicy
    from cpucompat.nova.scheduling import CpuPlacement

    placement = CpuPlacement(CpuPolicy("host-model", (), (), cpucompat.embedded_cpu_map(), "exact", True),
                             cache_size=4096, cache_chars=300_000)
    request = placement.request({"trait:HW_CPU_X86_AVX2": "required"})
    skylake = json.loads(CPU_INFO["skylake"])
    for i in range(100):  # 50 KB each: a valid cpu_info with thousands of names the map does not know (4,096 at most)
        padded = dict(skylake, features=skylake["features"] + [f"x{i}-{j}" for j in range(4000)])
        assert placement.decide(request, json.dumps(padded)).passes
    hosts, decisions = placement._hosts, placement._decisions
    assert hosts.weight <= 300_000 and 1 <= len(hosts.items) <= 300_000 // 40_000
    assert decisions.weight <= 1_200_000 and len(decisions.items) <= 1_200_000 // 40_000


def test_names_the_map_does_not_know_stay_out_of_the_librarys_cpu_caches():
    from cpucompat.nova.config import CpuPolicy
    from cpucompat.nova.scheduling import CpuPlacement

    placement = CpuPlacement(CpuPolicy("host-model", (), (), cpucompat.embedded_cpu_map(), "exact", True))
    skylake = json.loads(CPU_INFO["skylake"])
    padded = json.dumps(dict(skylake, features=skylake["features"] + [f"u{j}" for j in range(4000)]))
    host = placement.host_cpu(padded)
    assert len(host.unknown) == 4000 and host.cpu.unknown_features == frozenset()  # host.cpu: the caches' key
    assert placement.decide(placement.request({}), padded).passes
    long_vendor = json.dumps(dict(skylake, vendor="Intel" * 100))
    assert "vendor name of 500 characters" in placement.decide(placement.request({}), long_vendor).reason


def test_an_entry_heavier_than_its_cache_is_not_kept():
    from cpucompat.nova.cache import Lru

    cache = Lru(10, max_weight=100)
    cache.put("small", 1, 60)
    cache.put("big", 2, 101)
    assert cache.get("big") is None and cache.get("small") == 1
    cache.put("other", 3, 60)  # 120 > 100: the least recently used goes
    assert cache.get("small") is None and cache.get("other") == 3 and cache.weight == 60


# -- control characters ----------------------------------------------------------------------------------------

def test_control_and_bidi_characters_never_reach_the_log_raw(cpu_filter, caplog):
    hosts = fleet(**{f"bad-model{EVIL}": json.dumps({"arch": "x86_64", "model": f"Sky{EVIL}", "features": []}),
                     f"pinned{EVIL}": CPU_INFO["skylake"]})
    hosts[-1].aggregates = [objects.Aggregate(id=1, name="a", metadata={"cpucompat_cpu_model": f"Sky{EVIL}"})]
    requests = [boot(), boot({"cpucompat:cpu_mode": "custom", "cpucompat:cpu_model": f"Has{EVIL}"}),
                boot({f"trait:HW_CPU_X86_{EVIL}": "required", f"trait:HW_CPU_X86_{EVIL}2": "forbidden"}),
                boot(ignore_hosts=[f"gone{EVIL}"],  # a move Nova cannot describe: one warning naming it
                     requested_destination=objects.Destination(
                         cell=objects.CellMapping(uuid=str(uuid.uuid4()), name="cell1")))]
    with caplog.at_level(logging.DEBUG, logger=LOGGER):
        for request in requests:
            cpu_filter.filter_all(hosts, request)
    messages = [r.getMessage() for r in caplog.records]
    assert len([m for m in messages if "\\x1b[31m\\u202eevil\\x07" in m]) >= 6  # every kind of name, shown
    assert all(escape(m) == m for m in messages)


def test_a_huge_scheduler_hint_is_neither_a_source_nor_kept(cpu_filter):
    move = objects.Destination(cell=objects.CellMapping(uuid=str(uuid.uuid4()), name="cell1"))
    hint = {"cpucompat_source_host": ["icelake" + "x" * TEN_MB]}  # the old creation-time hint: never read
    assert passing(cpu_filter, boot(hints=hint, requested_destination=move)) == sorted(CPU_INFO)
    assert all(request.source_host is None for request, _ in cpu_filter.placement._decisions.items)


# -- a model the computes cannot run: one warning, not one per compute ----------------------------------------

def test_computes_that_cannot_run_the_configured_model_make_one_warning_naming_how_many(cpu_filter, caplog):
    CONF.set_override("cpu_mode", "custom", group="cpucompat")
    CONF.set_override("cpu_models", ["Skylake-Client"], group="cpucompat")
    hosts = []
    for index in range(40):  # forty Haswell computes Nova would give Skylake-Client, which they cannot run
        host = host_manager.HostState(f"haswell-{index:02}", f"haswell-{index:02}", None)
        host.cpu_info = CPU_INFO["haswell"]
        hosts.append(host)
    with caplog.at_level(logging.WARNING, logger=LOGGER):
        for _ in range(3):
            assert passing(cpu_filter, boot(), hosts) == []
    logged = [line for line in warnings(caplog) if "cannot run CPU model Skylake-Client" in line]
    assert len(logged) == 1, logged
    assert "40 computes (haswell-00 haswell-01 haswell-02 haswell-03 haswell-04 and 35 more)" in logged[0]
