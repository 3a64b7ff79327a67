"""Rare CPU classes in a large cloud, with and without cpucompat's traits in
Placement (issue 14): the share of requests ending in NoValidHost, and what
a sync of every compute's traits costs.

A real Placement (openstack-placement's WSGI app over SQLite in /dev/shm,
the one the tests start: tests/placement/server.py) holds a simulated
cloud of 10,000 computes (500 with --quick) of the sample fleet's real
CPUs, two classes of them rare: Icelake-Server on 1 % of the hosts,
EPYC-Rome on 0.1 %.  Each request needs a model only one rare class runs
(``cpucompat:cpu_model``).  Nova's scheduler sees the first
``max_placement_results`` (1000; 50 with --quick) allocation candidates in
Placement's default order (``randomize_allocation_candidates`` off), and
the filter (cpucompat's decision function, as the Nova filter calls it)
picks among those:

* filter alone: ``GET /allocation_candidates?resources=VCPU:1&limit=N``;
* traits pushed: the same with ``required=CUSTOM_CPUCOMPAT_MODEL_<M>``.

A request ends in NoValidHost when no candidate passes the filter.
Placement's default order is not the order providers were made: it follows
the string hashing of the Placement process, so each API worker has its
own.  Every request is therefore asked of several fresh Placement processes
over the same database.  The sync row is `sync_traits` over every compute
(one read and one write each, through REST), then a second run (nothing to
write).  Providers are created through Placement's object layer in one
transaction, not timed.
"""
from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from . import Row

# (sample host name prefix, share of the computes): two rare classes, the
# newest Intel generation at 1 % and AMD's EPYC-Rome at 0.1 %
RARE = (("icelake", 100), ("epyc-rome", 1000))
SERVER = Path(__file__).resolve().parent.parent / "tests" / "placement" / "server.py"
# One Placement API worker process: its candidates for each query, in its order
WORKER = """
import importlib.util, json, sys, time
from pathlib import Path
spec = importlib.util.spec_from_file_location("placement_server", sys.argv[1])
server_module = importlib.util.module_from_spec(spec)
spec.loader.exec_module(server_module)
server = server_module.start_placement(Path(sys.argv[2]))
client = server.client()
answers = []
for required, limit in json.loads(sys.argv[3]):
    start = time.perf_counter()
    answers.append([client.candidate_providers("VCPU:1", required=required, limit=limit),
                    time.perf_counter() - start])
server.stop()
print(json.dumps(answers))
"""


def _server_module() -> Any:
    spec = importlib.util.spec_from_file_location("cpucompat_bench_placement_server", SERVER)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _cloud(computes: int) -> tuple[dict[str, dict], dict[str, set[str]]]:
    """Host name → cpu_info (a sample host's), the rare ones last; and the
    hosts of each rare class."""
    from cpucompat.planner.inventory import sample_path

    sample = json.loads(sample_path().read_text())["hosts"]
    prefixes = tuple(prefix for prefix, _ in RARE)
    common = [info for name, info in sorted(sample.items()) if not name.startswith(prefixes)]
    hosts: dict[str, dict] = {}
    rare: dict[str, set[str]] = {}
    rare_total = sum(max(1, computes // per) for _, per in RARE)
    for i in range(computes - rare_total):
        hosts[f"cmp-{i:05d}"] = common[i % len(common)]
    index = computes - rare_total
    for prefix, per in RARE:
        cpus = [info for name, info in sorted(sample.items()) if name.startswith(prefix + "-")]
        for j in range(max(1, computes // per)):
            name = f"cmp-{index:05d}"
            hosts[name] = cpus[j % len(cpus)]
            rare.setdefault(prefix, set()).add(name)
            index += 1
    return hosts, rare


def run(conn: object, quick: bool) -> list[Row]:
    try:
        import keystoneauth1  # noqa: F401
        import placement.deploy  # noqa: F401
    except ImportError:
        return [Row("Placement sync + NoValidHost", "skipped", float("nan"), None,
                    "openstack-placement is not installed (pip install '.[functional]')")]
    from cpucompat.engine.cpumap import embedded_cpu_map
    from cpucompat.inputs.parse import parse_cpu_info
    from cpucompat.nova.config import make_policy
    from cpucompat.nova.customtraits import model_guest, model_traits
    from cpucompat.nova.scheduling import CpuPlacement
    from cpucompat.placement.sync import sync_traits
    from cpucompat.placement.traits import host_traits
    from cpucompat.planner.fleet import Fleet

    computes, limit, workers = (500, 50, 2) if quick else (10_000, 1_000, 10)
    cpumap = embedded_cpu_map()
    infos, rare = _cloud(computes)
    texts = {name: json.dumps(info) for name, info in infos.items()}
    parsed = {text: parse_cpu_info(text, cpumap=cpumap) for text in set(texts.values())}
    fleet = Fleet({name: parsed[text] for name, text in texts.items()}, cpumap)
    # per rare class, the models only it runs: what its flavors ask for
    wanted: dict[str, list[tuple[str, str]]] = {prefix: [] for prefix in rare}
    for name, trait in model_traits(fleet.archmap).items():
        runs = set(fleet.domain(model_guest(fleet.archmap, name))[0])
        for prefix, hosts in rare.items():
            if runs and runs <= hosts:
                wanted[prefix].append((name, trait))

    shm = Path("/dev/shm")
    with tempfile.TemporaryDirectory(dir=shm if shm.is_dir() else None) as tmp:
        server = _server_module().start_placement(Path(tmp))
        try:
            server.bulk_create(list(infos))
            client = server.client()
            uuid_name = {p.uuid: p.name for p in client.providers()}
            desired = host_traits(fleet)
            start = time.perf_counter()
            first = sync_traits(client, desired)
            sync_s = time.perf_counter() - start
            start = time.perf_counter()
            second = sync_traits(client, desired)
            again_s = time.perf_counter() - start
        finally:
            server.stop()
        queries = [(list(required), limit) for prefix in rare for _, trait in wanted[prefix]
                   for required in ((), (trait,))]
        answers = []
        for _ in range(workers):  # each a fresh process, with its own order, as Placement's API workers
            proc = subprocess.run([sys.executable, "-c", WORKER, str(SERVER), tmp, json.dumps(queries)],
                                  capture_output=True, text=True, timeout=600, check=True)
            answers.append(json.loads(proc.stdout.strip().splitlines()[-1]))

    decider = CpuPlacement(make_policy("host-model", None, None))
    rows = []
    for prefix, hosts in rare.items():
        share = len(hosts) / computes
        inputs = f"{computes:,} computes, {len(hosts)} rare ({share:.1%})"
        for label, traits in (("filter alone", False), ("traits pushed", True)):
            failed, seconds = [], 0.0
            for answer in answers:
                for name, trait in wanted[prefix]:
                    candidates, query_s = answer[queries.index(([trait] if traits else [], limit))]
                    start = time.perf_counter()
                    request = decider.request({"cpucompat:cpu_model": name})
                    passed = [u for u in candidates if decider.decide(request, texts[uuid_name[u]]).passes]
                    seconds += query_s + time.perf_counter() - start
                    failed.append(not passed)
            rows.append(Row(f"Placement NoValidHost {share:.1%} rare, {label}", inputs,
                            seconds / max(len(failed), 1), None,
                            f"NoValidHost in {sum(failed) / max(len(failed), 1):.0%} of {len(failed)} requests "
                            f"({workers} Placement processes x {len(wanted[prefix])} models only the rare class "
                            f"runs), limit {limit}; seconds per request"))
    rows.append(Row(f"Placement sync, {computes:,} providers", f"{computes:,} computes", sync_s, None,
                    f"{len(first.changed):,} changed, {first.retried} conflicts, {len(first.failed)} failed; "
                    f"second run {again_s:.2f} s, {len(second.changed)} changed"))
    return rows
