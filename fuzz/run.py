"""The long fuzzing run: the properties of tests/inputs/test_fuzz.py, 100,000+ inputs.

    python fuzz/run.py [--examples 25000] [--output fuzz/RESULTS.md]   # per property

Every input must parse or fail with a CpuCompatError; the scheduler and the
planner must never raise; the CLI, fed hostile inventories, cpu_map
directories and -o targets, must answer or fail with one line, never hang,
and leave device files and FIFOs as they were.  Only the hypothesis
properties of tests/inputs/test_fuzz.py run here (its plain tests run in
the suite).  The result is written, atomically, to fuzz/RESULTS.md; the
counts are the inputs each property really ran (a property that fails stops
early, and hypothesis may run fewer inputs than asked when it has tried them
all).
"""
from __future__ import annotations

import argparse
import functools
import importlib.util
import os
import platform
import sys
import tempfile
import time
import traceback
from pathlib import Path
from typing import Callable, Sequence

from cpucompat.atomic import write_output

HERE = Path(__file__).resolve().parent


def run_property(prop: Callable) -> tuple[int, str]:
    """Run one hypothesis property; return the inputs it ran and 'passed' or the failure."""
    inner = prop.hypothesis.inner_test
    ran = 0

    @functools.wraps(inner)
    def counted(*args, **kwargs):
        nonlocal ran
        ran += 1
        return inner(*args, **kwargs)

    # hypothesis documents inner_test as the hook for wrapping the test body
    prop.hypothesis.inner_test = counted
    try:
        if "tmp_path_factory" in inner.__code__.co_varnames:
            import pytest

            factory = pytest.TempPathFactory(Path(tempfile.mkdtemp()), retention_count=1,
                                             retention_policy="none", trace=lambda *a: None, _ispytest=True)
            prop(factory)
        else:
            prop()
        outcome = "passed"
    except Exception:
        outcome = "FAILED\n\n```\n" + traceback.format_exc()[-2000:] + "\n```"
    finally:
        prop.hypothesis.inner_test = inner
    return ran, outcome


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--examples", type=int, default=25_000, help="inputs per property")
    parser.add_argument("--cli-examples", type=int, default=None,
                        help="inputs per property that runs the command line (each costs a whole CLI run; "
                             "default: --examples)")
    parser.add_argument("-k", dest="only", default="", metavar="TEXT",
                        help="run only the properties whose name holds TEXT")
    parser.add_argument("--output", type=Path, default=HERE / "RESULTS.md", help="results file (Markdown)")
    args = parser.parse_args(argv)
    os.environ["CPUCOMPAT_FUZZ_EXAMPLES"] = str(args.examples)
    if args.cli_examples is not None:
        os.environ["CPUCOMPAT_FUZZ_CLI_EXAMPLES"] = str(args.cli_examples)
    spec = importlib.util.spec_from_file_location("fuzz_properties", HERE.parent / "tests" / "inputs" / "test_fuzz.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    properties = [getattr(module, n) for n in dir(module)
                  if n.startswith("test_") and hasattr(getattr(module, n), "hypothesis") and args.only in n]
    lines, failures, total = [], 0, 0
    for prop in properties:
        start = time.perf_counter()
        ran, outcome = run_property(prop)
        failures += outcome != "passed"
        total += ran
        lines.append(f"- `{prop.__name__}`: {ran:,} inputs, {time.perf_counter() - start:.0f} s, {outcome}")
        print(lines[-1], flush=True)
    report = ["# Fuzzing results", "",
              f"`python fuzz/run.py --examples {args.examples}"
              + (f" --cli-examples {args.cli_examples}" if args.cli_examples is not None else "")
              + (f" -k {args.only}" if args.only else "")
              + f"` on {platform.machine()}, "
              f"Python {platform.python_version()}, {time.strftime('%Y-%m-%d')}: "
              f"{total:,} inputs over {len(properties)} properties, {failures} failing.", ""] + lines
    write_output(args.output, "\n".join(report) + "\n")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
