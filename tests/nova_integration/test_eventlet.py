"""Under eventlet, as nova-scheduler may run: one filter, many green threads.

eventlet's monkey-patching is process-wide, so the check runs in a child
process: it patches, decides every request once in order, then again from
200 green threads sharing one filter instance, and prints both.
"""
from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

NOVA_DATA = Path(__file__).resolve().parents[1] / "data" / "nova"

CHILD = textwrap.dedent("""
    import eventlet
    eventlet.monkey_patch()
    import json, sys, uuid
    from pathlib import Path
    import nova.conf
    from nova import objects
    from nova.scheduler import host_manager
    from cpucompat.filters import CpuCompatFilter

    objects.register_all()
    nova.conf.CONF([], project="nova")
    infos = [p.read_text() for p in sorted(Path(sys.argv[1]).glob("*.json"))]

    class Host(host_manager.HostState):
        def __init__(self, name, cpu_info):
            super().__init__(name, name, None)
            self.cpu_info = cpu_info

    hosts = [Host(f"h{i}", infos[i % len(infos)]) for i in range(200)]
    extras = [{}, {"cpucompat:cpu_mode": "custom", "cpucompat:cpu_model": "Skylake-Server"},
              {"trait:HW_CPU_X86_AVX512F": "required"},
              {"cpucompat:cpu_mode": "custom", "cpucompat:cpu_model": "Haswell-noTSX",
               "cpucompat:cpu_flags": "-avx2"},
              {"cpucompat:cpu_mode": "host-passthrough"}]
    specs = [objects.RequestSpec(instance_uuid=str(uuid.uuid4()), scheduler_hints={},
                                 ignore_hosts=["h1"] if i % 2 else [],
                                 flavor=objects.Flavor(vcpus=1, memory_mb=1, root_gb=1, ephemeral_gb=0,
                                                       swap=0, extra_specs=extra))
             for i, extra in enumerate(extras)]
    single = CpuCompatFilter()
    single.filter_all(hosts, specs[0])  # both filters have seen every host before the moves
    expected = [[h.host for h in single.filter_all(hosts, s)] for s in specs]
    shared = CpuCompatFilter()
    shared.filter_all(hosts, specs[0])
    pool = eventlet.GreenPool(50)
    jobs = [i % len(specs) for i in range(200)]

    def decide(i):
        eventlet.sleep(0)  # let the green threads interleave
        return i, [h.host for h in shared.filter_all(hosts, specs[i])]

    got = list(pool.imap(decide, jobs))
    print(json.dumps({"patched": eventlet.patcher.is_monkey_patched("thread"),
                      "expected": expected, "got": got}))
""")


def test_one_filter_instance_from_many_green_threads():
    pytest.importorskip("nova.conf", reason="Nova is not installed: the eventlet filter test is skipped")
    pytest.importorskip("eventlet", reason="eventlet is not installed: the eventlet filter test is skipped")
    proc = subprocess.run([sys.executable, "-c", CHILD, str(NOVA_DATA)], capture_output=True, text=True,
                          timeout=300, cwd=str(NOVA_DATA))
    assert proc.returncode == 0, proc.stderr[-2000:]
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    assert result["patched"]
    expected = result["expected"]
    assert len({json.dumps(v) for v in expected}) > 2  # the requests really differ
    assert len(result["got"]) == 200
    for i, passed in result["got"]:
        assert passed == expected[i]
