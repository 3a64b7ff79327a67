"""The long differential run: every law against every libvirt release at hand.

    python3 tests/differential/longrun.py --chroot /srv/chroots/trixie --chroot /srv/chroots/testing \
        [--local] [--shared ../shared] [--examples 300] [--laws baseline,expand,migratable,compare,decode,...] \
        [--seed 0] [--json out.json] [--markdown out.md]

Each ``--chroot`` is a chroot built by chroot.py (libvirt 11.3.0 in trixie,
12.8.0 in testing); ``--local`` adds this machine's own libvirt-python (the
9.0.0 of Debian 12).  For each release, cpucompat is loaded with that
release's map (cpucompat's embedded map of that version, else
``<shared>/cpu_maps/<version>``; ``--shared`` or ``$CPUCOMPAT_SHARED`` also
gives the real CPUID dumps) and each law (laws.py) draws ``--examples`` cases from
that map.  The run prints the agreement per release and law, then every
kind of disagreement (a key, see laws.py) with its count, one example as
drawn and one minimised by hypothesis (``find``), so each can be turned into
a rule.  Chroot paths also come from ``$CPUCOMPAT_CHROOTS`` (colon-separated).
Needs root (chroot, mount).  Exit status 0 when every case agreed, 1 otherwise.
"""
from __future__ import annotations

import argparse
import contextlib
import json
import os
import random
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

from hypothesis import HealthCheck, Phase, find, given, seed, settings
from hypothesis.errors import NoSuchExample

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from chroot import ORACLE, Oracle  # noqa: E402
from laws import EXHAUSTIVE, LAWS, Draw, RealDumps  # noqa: E402

import cpucompat  # noqa: E402
from cpucompat.engine.maps import resolve_map_spec  # noqa: E402
from cpucompat.engine.releases import KNOWN_VERSIONS  # noqa: E402

QUIET = list(HealthCheck)


class LocalOracle(Oracle):
    """oracle.py run by this Python, with this machine's libvirt-python."""

    def __init__(self) -> None:  # no chroot: nothing mounted
        self.root = Path("local")
        self.mounts = contextlib.nullcontext()  # type: ignore[assignment]
        self.process = subprocess.Popen([sys.executable, str(ORACLE)], stdin=subprocess.PIPE,
                                        stdout=subprocess.PIPE, text=True)
        self.version = self.ask({"op": "version"})["version"]


def run_law(law, examples: int, run_seed: int) -> list:
    """`examples` drawn cases and their outcomes (never stops at a difference)."""
    outcomes = []

    @seed(run_seed)
    @settings(max_examples=examples, database=None, deadline=None, phases=[Phase.generate],
              suppress_health_check=QUIET)
    @given(law.strategy())
    def body(case):
        outcomes.append((case, law.check(case)))

    body()
    return outcomes


def minimise(law, key: str, budget: int, run_seed: int):
    """The smallest case hypothesis finds that shows `key`, or None."""
    try:
        return find(law.strategy(), lambda case: key in law.check(case).keys,
                    settings=settings(max_examples=budget, database=None, deadline=None,
                                      suppress_health_check=QUIET), random=random.Random(run_seed))
    except NoSuchExample:
        return None


def real_dumps(shared: Path) -> list[tuple[str, str]]:
    """Every distinct raw CPUID dump (x86_64-cpuid-<CPU>.xml) of the test data."""
    seen: dict[str, str] = {}
    for path in sorted(shared.glob("libvirt-testdata/*/x86_64-cpuid-*.xml")):
        text = path.read_text()
        # -enabled/-disabled hold the bits QEMU turned on/off, not a CPU
        if ("<cpudata" in text and not path.stem.endswith(("-enabled", "-disabled"))
                and path.name not in seen):
            seen[path.name] = text
    return sorted(seen.items())


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--chroot", action="append", default=[], type=Path)
    parser.add_argument("--local", action="store_true", help="also this machine's libvirt-python")
    parser.add_argument("--shared", type=Path, default=os.environ.get("CPUCOMPAT_SHARED"))
    parser.add_argument("--examples", type=int, default=300)
    # hvcompare and hvmodels are asked for by name: each
    # virConnectCompareHypervisorCPU costs seconds (QEMU's capabilities are
    # revalidated), in a chroot and in this machine's libvirt alike
    parser.add_argument("--laws", default=",".join(n for n in [*LAWS, *EXHAUSTIVE]
                                                   if n not in ("hvcompare", "hvmodels")))
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--minimise", type=int, default=300, help="tries per key to minimise (0: none)")
    parser.add_argument("--json", type=Path)
    parser.add_argument("--markdown", type=Path)
    args = parser.parse_args(argv)
    # a kill (timeout, CI) must still unmount what was mounted: make it an exit
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    chroots = args.chroot or [Path(p) for p in os.environ.get("CPUCOMPAT_CHROOTS", "").split(":") if p]
    if args.shared is None:
        parser.error("the shared directory (cpu_maps/<version>) is needed: --shared or $CPUCOMPAT_SHARED")
    laws = args.laws.split(",")
    unknown = [name for name in laws if name not in LAWS and name not in EXHAUSTIVE]
    if unknown:
        parser.error(f"unknown law(s) {', '.join(unknown)}; known: {', '.join([*LAWS, *EXHAUSTIVE])}")
    RealDumps.dumps = tuple(real_dumps(args.shared))
    if not chroots and not args.local:
        parser.error("nothing to run against: give --chroot DIR (or $CPUCOMPAT_CHROOTS) or --local")
    report: dict = {"examples": args.examples, "seed": args.seed, "releases": {}}
    oracles: list = []
    try:
        if args.local:
            oracles.append(LocalOracle())
        for root in chroots:
            oracles.append(Oracle(root))
        for oracle in oracles:
            version = oracle.version_name
            if version in KNOWN_VERSIONS:  # the release's own rules come with its embedded map
                cpumap = resolve_map_spec(version)
                map_dir = Path(cpumap.source)
            else:
                map_dir = args.shared / "cpu_maps" / version
                if not map_dir.is_dir():
                    print(f"libvirt {version} ({oracle.root}): no map at {map_dir}, skipped", flush=True)
                    continue
                cpumap = cpucompat.load_cpu_map(map_dir)
            draw = Draw(cpumap)
            release = report["releases"][version] = {"chroot": str(oracle.root), "map": str(map_dir), "laws": {}}
            for name in laws:
                law = (LAWS.get(name) or EXHAUSTIVE[name])(draw, oracle.ask)
                started = time.monotonic()
                if name in EXHAUSTIVE:
                    outcomes = [(case, law.check(case)) for case in law.cases()]
                else:
                    outcomes = run_law(law, args.examples, args.seed)
                counts: Counter[str] = Counter()
                first: dict[str, tuple] = {}
                for case, outcome in outcomes:
                    for key in outcome.keys:
                        counts[key] += 1
                        first.setdefault(key, (case, outcome.detail))
                agree = sum(1 for _, outcome in outcomes if not outcome.keys)
                entry = release["laws"][name] = {"cases": len(outcomes), "agree": agree,
                                                 "seconds": round(time.monotonic() - started, 1),
                                                 "differences": []}
                print(f"libvirt {version} {name}: {agree}/{len(outcomes)} agree "
                      f"({100 * agree / max(len(outcomes), 1):.1f} %)", flush=True)
                for key, count in counts.most_common():
                    case, detail = first[key]
                    small = (minimise(law, key, args.minimise, args.seed)
                             if args.minimise and name not in EXHAUSTIVE else None)
                    entry["differences"].append({"key": key, "count": count, "example": case, "detail": detail,
                                                 "minimal": small,
                                                 "minimal_detail": law.check(small).detail if small else None})
                    print(f"  {count:5d}  {key}", flush=True)
                    if small is not None:
                        print("         minimal: " + json.dumps(small)[:600], flush=True)
    finally:
        for oracle in oracles:
            try:
                oracle.close()
            except (OSError, subprocess.SubprocessError) as exc:  # the next one must still close
                print(f"closing the oracle of {oracle.root}: {exc}", file=sys.stderr)
    if args.json:
        args.json.write_text(json.dumps(report, indent=1, default=str) + "\n")
    if args.markdown:
        args.markdown.write_text(markdown(report))
    return 0 if all(law["agree"] == law["cases"] for release in report["releases"].values()
                    for law in release["laws"].values()) else 1


def markdown(report: dict) -> str:
    lines = [f"# Differential long run: {report['examples']} examples per law (seed {report['seed']})", "",
             "| libvirt | law | cases | agree | % | kinds of difference |", "|---|---|---|---|---|---|"]
    for version, release in report["releases"].items():
        for name, law in release["laws"].items():
            lines.append(f"| {version} | {name} | {law['cases']} | {law['agree']} | "
                         f"{100 * law['agree'] / max(law['cases'], 1):.1f} | {len(law['differences'])} |")
    for version, release in report["releases"].items():
        for name, law in release["laws"].items():
            if law["differences"]:
                lines += ["", f"## libvirt {version}, {name}", ""]
                lines += [f"- {d['count']} × {d['key']}" for d in law["differences"]]
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    sys.exit(main())
