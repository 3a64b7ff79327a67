"""The long fuzzing run: the properties of tests/test_fuzz.py, 100,000+ inputs.

    python fuzz/run.py [--examples 25000]   # per property; 5 properties

Every input must parse or fail with a CpuCompatError; the scheduler and the
planner must never raise.  The result is written to fuzz/RESULTS.md.
"""
from __future__ import annotations

import argparse
import importlib.util
import os
import platform
import sys
import time
import traceback
from pathlib import Path

HERE = Path(__file__).resolve().parent


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--examples", type=int, default=25_000, help="inputs per property")
    args = parser.parse_args()
    os.environ["CPUCOMPAT_FUZZ_EXAMPLES"] = str(args.examples)
    spec = importlib.util.spec_from_file_location("fuzz_properties", HERE.parent / "tests" / "test_fuzz.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    properties = [getattr(module, n) for n in dir(module) if n.startswith("test_")]
    lines, failures, total = [], 0, 0
    import tempfile

    import pytest

    for prop in properties:
        start = time.perf_counter()
        try:
            if "tmp_path_factory" in prop.hypothesis.inner_test.__code__.co_varnames:
                factory = pytest.TempPathFactory(Path(tempfile.mkdtemp()), retention_count=1,
                                                 retention_policy="none", trace=lambda *a: None,
                                                 _ispytest=True)
                prop(factory)
            else:
                prop()
            outcome = "passed"
        except Exception:
            failures += 1
            outcome = "FAILED\n\n```\n" + traceback.format_exc()[-2000:] + "\n```"
        total += args.examples
        lines.append(f"- `{prop.__name__}`: {args.examples:,} inputs, {time.perf_counter() - start:.0f} s, {outcome}")
        print(lines[-1], flush=True)
    report = ["# Fuzzing results", "",
              f"`python fuzz/run.py --examples {args.examples}` on {platform.machine()}, "
              f"Python {platform.python_version()}, {time.strftime('%Y-%m-%d')}: "
              f"{total:,} inputs over {len(properties)} properties, {failures} failing.", ""] + lines
    (HERE / "RESULTS.md").write_text("\n".join(report) + "\n")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
