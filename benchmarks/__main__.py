"""python -m benchmarks [--quick] [--json] [--only SECTION] [--record benchmarks/RESULTS.md]"""
from __future__ import annotations

import argparse
import contextlib
import json
import math
import os
import platform
import sys

from cpucompat.inputs import live

from . import engine, nova, placement, planner, startup

TARGETS = [
    # (row name prefix, predicate on the row, wording)
    ("compare, batch", lambda r: r.ratio is not None and r.ratio >= 20, "compare in batch >= 20x compareCPU"),
    ("compare, one cold call", lambda r: r.ratio is not None and r.ratio >= 1, "single cold compare no slower"),
    ("baseline", lambda r: r.ratio is not None and r.ratio >= 5, "baseline >= 5x baselineCPU"),
    ("expand", lambda r: r.ratio is not None and r.ratio >= 10, "expand >= 10x"),
    ("Nova filter, per request", lambda r: r.cpucompat_s < 0.020, "filter < 20 ms per request"),
    ("planner load + domains, 100,000", lambda r: r.cpucompat_s < 3.0, "100k hosts < 3 s"),
    ("planner load + domains, 1,000,000",
     lambda r: not math.isnan(r.cpucompat_s) and (r.peak_mib or math.inf) < 2048, "1M hosts completes within 2 GiB"),
    ("read 1,000,000 compute_nodes rows", lambda r: r.cpucompat_s < 3.0 and (r.peak_mib or math.inf) < 300,
     "1M compute_nodes rows read < 3 s and 300 MiB"),
]
_WITHIN_1_5X = 1 / 1.5  # ratio virsh / cpucompat
TARGETS += [
    ("CLI one-shot compare, this host", lambda r: r.ratio is not None and r.ratio >= _WITHIN_1_5X,
     "one-shot compare within 1.5x of virsh"),
    ("CLI one-shot baseline", lambda r: r.ratio is not None and r.ratio >= _WITHIN_1_5X,
     "one-shot baseline within 1.5x of virsh"),
    ("CLI (clean venv) one-shot", lambda r: r.ratio is not None and r.ratio >= _WITHIN_1_5X,
     "one-shot compare and baseline within 1.5x of virsh, in a clean venv"),
    ("python -c 'import cpucompat'", lambda r: r.cpucompat_s < 0.025, "python -c 'import cpucompat' < 25 ms"),
    ("clean venv: python -c 'import cpucompat'", lambda r: r.cpucompat_s < 0.025,
     "python -c 'import cpucompat' < 25 ms in a clean venv"),
    # issue 14: with cpucompat's traits pushed to Placement no request for a rare CPU ends in NoValidHost
    ("Placement NoValidHost", lambda r: "traits pushed" not in r.name or r.note.startswith("NoValidHost in 0%"),
     "no NoValidHost with the traits pushed to Placement"),
]
# Rows measured without a target, and why
UNTARGETED = [
    ("interpreter:", "interpreter start-up: not cpucompat's; the floor under every CLI and import row"),
    ("floor:", "what importing the standard library's and lxml's modules a command uses costs any Python "
               "command; a one-shot command cannot come nearer virsh than this ratio"),
]
SECTIONS = ("engine", "nova", "planner", "startup", "placement")


def _connection(stack: contextlib.ExitStack):
    """libvirt in-process (the embedded QEMU driver cpucompat itself uses:
    one root per process), or (None, None) without libvirt-python."""
    libvirt = live.libvirt_module()
    if libvirt is None:
        return None, None
    return stack.enter_context(live.connection()), libvirt


def _fmt(seconds) -> str:
    if seconds is None or (isinstance(seconds, float) and math.isnan(seconds)):
        return "-"
    for unit, scale in (("s", 1), ("ms", 1e-3), ("µs", 1e-6)):
        if seconds >= scale:
            return f"{seconds / scale:.2f} {unit}"
    return f"{seconds / 1e-9:.0f} ns"


def table(rows) -> str:
    lines = [f"| {'operation':<38} | {'inputs':<28} | {'cpucompat':>10} | {'libvirt':>10} | {'ratio':>7} | note",
             f"|{'-' * 40}|{'-' * 30}|{'-' * 12}|{'-' * 12}|{'-' * 9}|------"]
    for r in rows:
        ratio = f"{r.ratio:.1f}x" if r.ratio is not None else "-"
        lines.append(f"| {r.name:<38} | {r.inputs:<28} | {_fmt(r.cpucompat_s):>10} | {_fmt(r.libvirt_s):>10} | "
                     f"{ratio:>7} | {r.note}")
    return "\n".join(lines)


def verdicts(rows) -> list[str]:
    out = []
    for prefix, ok, wording in TARGETS:
        matching = [r for r in rows if r.name.startswith(prefix)]
        if not matching:
            out.append(f"- {wording}: not measured in this run")
            continue
        met = all(ok(r) for r in matching)
        worst = min((r.ratio for r in matching if r.ratio is not None), default=None)
        detail = f" (worst ratio {worst:.1f}x)" if worst is not None else ""
        out.append(f"- {wording}: {'met' if met else 'NOT met'}{detail}")
    for prefix, wording in UNTARGETED:
        ratios = [r.ratio for r in rows if r.name.startswith(prefix) and r.ratio is not None]
        if ratios:
            out.append(f"- {wording} (ratio {min(ratios):.1f}x to {max(ratios):.1f}x)")
    return out


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="a short run for CI")
    parser.add_argument("--json", action="store_true", help="rows as JSON")
    parser.add_argument("--record", metavar="FILE", help="also write a results file (Markdown)")
    parser.add_argument("--only", choices=SECTIONS, action="append",
                        help="run only this section (repeatable; default: all)")
    args = parser.parse_args()
    only = set(args.only or SECTIONS)
    with contextlib.ExitStack() as stack:
        conn, libvirt = _connection(stack)
        rows = []
        if "engine" in only:
            rows += engine.run(conn, libvirt, args.quick)
        if "nova" in only:
            rows += nova.run(conn, args.quick)
        if "planner" in only:
            rows += planner.run(args.quick)
        if "startup" in only:
            rows += startup.run(args.quick)
        if "placement" in only:
            rows += placement.run(conn, args.quick)
    if args.json:
        json.dump([r.to_dict() for r in rows], sys.stdout, indent=1, default=str)
        print()
    else:
        print(table(rows))
        print("\n".join(verdicts(rows)))
    if args.record:
        from cpucompat.atomic import write_output

        libvirt_version = libvirt.getVersion() if libvirt else None
        facts = [f"- machine: {platform.machine()}, {os.cpu_count()} cores, {platform.processor() or '-'}",
                 f"- Python {platform.python_version()}, libvirt "
                 f"{libvirt_version // 1000000}.{libvirt_version // 1000 % 1000}.{libvirt_version % 1000}"
                 if libvirt_version else "- libvirt: not installed"]
        write_output(args.record, "# Benchmark results\n\nRecorded by `python -m benchmarks --record "
                     f"{args.record}{' --quick' if args.quick else ''}"
                     f"{''.join(f' --only {o}' for o in args.only or ())}`.\n\n" + "\n".join(facts) + "\n\n"
                     + table(rows) + "\n\n## Targets\n\n" + "\n".join(verdicts(rows)) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
