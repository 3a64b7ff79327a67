"""The Nova filter over 10,000 hosts with 50 distinct CPUs, per request."""
from __future__ import annotations

import json
import random
import tempfile
import uuid

import cpucompat

from . import Row, per_call


def run(conn, quick: bool) -> list[Row]:
    try:
        import nova.conf
        from nova import objects
        from nova.scheduler import host_manager
    except ImportError:
        return [Row("Nova filter", "skipped", float("nan"), None, "Nova is not installed")]
    from cpucompat.filters import CpuCompatFilter

    objects.register_all()
    conf = nova.conf.CONF
    with tempfile.NamedTemporaryFile("w", suffix=".conf") as handle:
        handle.write("[cpucompat]\ncpu_mode = custom\ncpu_models = Haswell-noTSX\n")
        handle.flush()
        conf(["--config-file", handle.name], project="nova")
    x86 = cpucompat.embedded_cpu_map().x86
    rng = random.Random(5)
    models = [m for m in x86.models if m.vendor == "Intel" and m.decode_guest]
    infos = []
    for _ in range(50):
        model = rng.choice(models)
        features = sorted(set(x86.names(model.features)) | set(rng.sample([f.name for f in x86.features], 6)))
        infos.append(json.dumps({"arch": "x86_64", "model": model.name, "vendor": "Intel", "features": features}))

    class Host(host_manager.HostState):
        def __init__(self, name, cpu_info):
            super().__init__(name, name, None)
            self.cpu_info = cpu_info

    hosts = [Host(f"host-{i}", infos[i % 50]) for i in range(10_000)]
    spec = objects.RequestSpec(instance_uuid=str(uuid.uuid4()), scheduler_hints={}, ignore_hosts=[],
                               flavor=objects.Flavor(vcpus=1, memory_mb=512, root_gb=1, ephemeral_gb=0, swap=0,
                                                     extra_specs={}))
    rows = []
    cold_filter = []

    def cold():
        cold_filter[:] = [CpuCompatFilter()]
        cold_filter[0].filter_all(hosts, spec)

    rows.append(Row("Nova filter, cold (new filter)", "10,000 hosts, 50 CPUs", per_call(cold, 1, 3), None))
    warm = CpuCompatFilter()
    warm.filter_all(hosts, spec)
    naive = None
    if conn is not None:
        # libvirt compares only against the machine it runs on: one guest's
        # compareCPU, 10,000 times, is what a filter asking libvirt per host costs
        xml = "<cpu><model>Haswell-noTSX</model></cpu>"
        naive = per_call(lambda: conn.compareCPU(xml, 0), 200, 3) * 10_000
    rows.append(Row("Nova filter, per request", "10,000 hosts, 50 CPUs", per_call(lambda: warm.filter_all(hosts, spec),
                                                                               1, 3 if quick else 7), naive,
                    "libvirt: 10,000 x compareCPU (the naive filter), estimated"))
    return rows
