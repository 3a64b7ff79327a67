"""The planner at fleet scale: load an inventory and answer `domains`.

Each size runs in its own process, so its peak memory is its own.
"""
from __future__ import annotations

import json
import random
import subprocess
import sys
import tempfile
from pathlib import Path

import cpucompat

from . import Row

CHILD = """
import json, resource, sys, time
start = time.perf_counter()
from cpucompat.fleet import Fleet
fleet = Fleet.load(sys.argv[1])
loaded = time.perf_counter()
domains = fleet.domains()
done = time.perf_counter()
print(json.dumps({"load": loaded - start, "domains": done - loaded, "classes": len(fleet.classes),
                  "hosts": len(fleet.hosts), "maxrss_kb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss}))
"""


def _inventory(directory: Path, hosts: int) -> Path:
    x86 = cpucompat.embedded_cpu_map().x86
    rng = random.Random(9)
    models = [m for m in x86.models if m.vendor == "Intel" and m.decode_guest]
    cpus = []
    for i in range(50):
        model = rng.choice(models)
        extra = "".join(f"<feature name='{f}'/>" for f in rng.sample([f.name for f in x86.features
                                                                       if f.migratable], 5))
        path = directory / f"cpu{i}.xml"
        path.write_text(f"<cpu><arch>x86_64</arch><model>{model.name}</model><vendor>Intel</vendor>{extra}</cpu>")
        cpus.append(path.name)
    inventory = directory / f"fleet-{hosts}.json"
    inventory.write_text(json.dumps({f"host-{i:07d}": cpus[i % 50] for i in range(hosts)}))
    return inventory


def run(quick: bool) -> list[Row]:
    rows = []
    sizes = (10_000,) if quick else (10_000, 100_000, 1_000_000)
    with tempfile.TemporaryDirectory() as tmp:
        for size in sizes:
            path = _inventory(Path(tmp), size)
            proc = subprocess.run([sys.executable, "-c", CHILD, str(path)], capture_output=True, text=True,
                                  timeout=600, cwd=tmp)
            if proc.returncode != 0:
                rows.append(Row(f"planner domains, {size:,} hosts", "failed", float("nan"), None,
                                proc.stderr.strip().splitlines()[-1][:200]))
                continue
            result = json.loads(proc.stdout)
            rows.append(Row(f"planner load + domains, {size:,} hosts", f"{result['classes']} distinct CPUs",
                            result["load"] + result["domains"], None,
                            f"load {result['load']:.2f} s, domains {result['domains']:.2f} s, "
                            f"peak {result['maxrss_kb'] / 1024:.0f} MiB"))
    return rows
