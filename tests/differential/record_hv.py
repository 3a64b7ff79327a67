"""Record what the real virConnectCompareHypervisorCPU answers, release by
release, for the guests that tell its rules apart (laws.HypervisorModelCases),
so that tests/engine/test_hypervisor.py replays them without libvirt.

Each release's record is ``tests/data/hypervisor/<version>.json``: the
domain capabilities it reported on this machine (KVM) and, per guest CPU,
its answer.  Every call costs seconds (QEMU's capabilities are
revalidated), so this runs by hand, as root:

    python3 tests/differential/record_hv.py --local --chroot DIR [--chroot DIR]

It prints cpucompat's agreement with each release as it goes.
"""
from __future__ import annotations

import argparse
import json
import os
import signal
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from chroot import Oracle  # noqa: E402
from laws import Draw, HypervisorModelCases  # noqa: E402
from longrun import LocalOracle  # noqa: E402

from cpucompat.engine.hypervisor import compare_hypervisor  # noqa: E402
from cpucompat.engine.maps import resolve_map_spec  # noqa: E402
from cpucompat.errors import CpuCompatError  # noqa: E402
from cpucompat.inputs.domcaps import parse_domcaps  # noqa: E402
from cpucompat.inputs.parse import parse_cpus  # noqa: E402
from cpucompat.engine.releases import KNOWN_VERSIONS  # noqa: E402

DATA = HERE.parent / "data" / "hypervisor"


def record(oracle: Oracle) -> dict:
    version = oracle.version_name
    cpumap = resolve_map_spec(version)
    law = HypervisorModelCases(Draw(cpumap), oracle.ask)
    domcaps = oracle.ask({"op": "domcaps"})["xml"]
    cases, agree, started = [], 0, time.monotonic()
    host_model, models = parse_domcaps(domcaps, "domcaps", cpumap)
    for guest in law.cases():
        answer = oracle.ask({"op": "compare_hv", "xmls": [guest]})
        cases.append({"guest": guest, "result": answer.get("result"), "error": answer.get("error")})
        try:
            ours: str | None = compare_hypervisor(parse_cpus(guest, "guest", cpumap)[0], host_model, models,
                                                  cpumap).result
        except CpuCompatError:
            ours = None  # both refusing agrees
        agree += ours == answer.get("result")
        if ours != answer.get("result"):
            print(f"  differs: {guest}: libvirt {answer.get('result') or answer.get('error')}, cpucompat {ours}",
                  flush=True)
    print(f"libvirt {version}: {agree}/{len(cases)} agree ({time.monotonic() - started:.0f} s)", flush=True)
    return {"libvirt": version, "domcaps": domcaps, "cases": cases}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--local", action="store_true", help="this machine's libvirt-python")
    parser.add_argument("--chroot", action="append", default=[], type=Path)
    args = parser.parse_args()
    # a kill (timeout, CI) must still unmount what was mounted: make it an exit
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    chroots = args.chroot or [Path(p) for p in os.environ.get("CPUCOMPAT_CHROOTS", "").split(":") if p]
    DATA.mkdir(parents=True, exist_ok=True)
    for make in ([LocalOracle] if args.local else []) + [lambda root=root: Oracle(root) for root in chroots]:
        oracle = make()
        try:
            if oracle.version_name in KNOWN_VERSIONS:
                (DATA / f"{oracle.version_name}.json").write_text(json.dumps(record(oracle), indent=1) + "\n")
        finally:
            oracle.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
