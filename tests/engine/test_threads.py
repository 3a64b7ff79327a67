"""Many threads, one answer: shared caches never change results."""
from __future__ import annotations

import concurrent.futures
import json
import random
import uuid
from pathlib import Path

import pytest

import cpucompat

MAP = cpucompat.embedded_cpu_map()
X86 = MAP.x86


def _cpus(count: int, seed: int) -> list[cpucompat.Cpu]:
    rng = random.Random(seed)
    intel = [m for m in X86.models if m.vendor in (None, "Intel")]
    names = [f.name for f in X86.features]
    return [cpucompat.Cpu(model=rng.choice(intel).name, vendor="Intel", arch="x86_64",
                          features=tuple((n, "require") for n in rng.sample(names, 4))) for _ in range(count)]


def _work(pair):
    a, b = pair
    out = [cpucompat.compare(a, b, MAP).to_dict(), cpucompat.host_model(a, MAP).to_dict()]
    try:
        out.append(cpucompat.baseline([a, b], MAP).to_dict())
    except cpucompat.CpuCompatError as exc:
        out.append(str(exc))
    return out


def test_library_answers_the_same_from_16_threads():
    cpus = _cpus(60, 11)
    pairs = [(a, b) for a in cpus[:30] for b in cpus[30:]] * 2
    expected = [_work(p) for p in pairs]
    MAP.clear_caches()
    with concurrent.futures.ThreadPoolExecutor(16) as pool:
        assert list(pool.map(_work, pairs)) == expected


def test_one_filter_instance_from_many_threads():
    pytest.importorskip("nova.conf", reason="Nova is not installed: the threaded filter test is skipped")
    import nova.conf
    from nova import objects
    from nova.scheduler import host_manager

    from cpucompat.filters import CpuCompatFilter

    objects.register_all()
    nova.conf.CONF([], project="nova")
    infos = [p.read_text() for p in sorted((Path(__file__).parents[1] / "data" / "nova").glob("*.json"))]

    class Host(host_manager.HostState):
        def __init__(self, name, cpu_info):
            super().__init__(name, name, None)
            self.cpu_info = cpu_info

    hosts = [Host(f"h{i}", infos[i % len(infos)]) for i in range(300)]
    specs = []
    for extra in ({}, {"cpucompat:cpu_mode": "custom", "cpucompat:cpu_model": "Skylake-Server"},
                  {"trait:HW_CPU_X86_AVX512F": "required"}, {"cpucompat:cpu_mode": "custom",
                                                             "cpucompat:cpu_model": "Haswell-noTSX",
                                                             "cpucompat:cpu_flags": "-avx2"}):
        specs.append(objects.RequestSpec(instance_uuid=str(uuid.uuid4()), scheduler_hints={}, ignore_hosts=[],
                                         flavor=objects.Flavor(vcpus=1, memory_mb=1, root_gb=1, ephemeral_gb=0,
                                                               swap=0, extra_specs=extra)))
    single = CpuCompatFilter()
    expected = {i: [h.host for h in single.filter_all(hosts, s)] for i, s in enumerate(specs)}
    shared = CpuCompatFilter()
    jobs = [i % len(specs) for i in range(200)]
    with concurrent.futures.ThreadPoolExecutor(16) as pool:
        results = list(pool.map(lambda i: (i, [h.host for h in shared.filter_all(hosts, specs[i])]), jobs))
    for i, passed in results:
        assert passed == expected[i]
    assert len({json.dumps(v) for v in expected.values()}) > 1  # the requests really differ
