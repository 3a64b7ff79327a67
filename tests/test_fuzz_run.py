"""fuzz/run.py counts the inputs each property really ran and writes its results atomically."""
from __future__ import annotations

import importlib.util
from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

RUNNER = Path(__file__).resolve().parent.parent / "fuzz" / "run.py"


def runner():
    spec = importlib.util.spec_from_file_location("fuzz_run", RUNNER)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def runner_properties():
    """The hypothesis properties of tests/inputs/test_fuzz.py, as fuzz/run.py finds them."""
    spec = importlib.util.spec_from_file_location("fuzz_properties", RUNNER.parent.parent / "tests" / "inputs" / "test_fuzz.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return [n for n in dir(module) if n.startswith("test_") and hasattr(getattr(module, n), "hypothesis")]


def test_a_passing_property_counts_the_inputs_it_ran():
    @settings(max_examples=40, database=None)
    @given(st.integers())
    def law(x):
        assert isinstance(x, int)

    assert runner().run_property(law) == (40, "passed")


def test_a_property_that_stops_at_its_first_failure_counts_only_what_ran():
    seen = []

    @settings(max_examples=1000, database=None)
    @given(st.integers(min_value=0, max_value=10**6))
    def law(x):
        seen.append(x)
        assert x < 100

    ran, outcome = runner().run_property(law)
    assert outcome.startswith("FAILED") and ran == len(seen) < 1000


def test_results_are_written_atomically_with_the_real_total(tmp_path, monkeypatch):
    monkeypatch.delenv("CPUCOMPAT_FUZZ_EXAMPLES", raising=False)  # main() sets it; restored afterwards
    out = tmp_path / "RESULTS.md"
    out.write_text("previous run\n")
    out.chmod(0o644)
    before = out.stat().st_ino
    runner().main(["--examples", "2", "--output", str(out)])
    text = out.read_text()
    counts = [int(line.split(": ", 1)[1].split(" inputs")[0].replace(",", ""))
              for line in text.splitlines() if line.startswith("- `")]
    properties = len(runner_properties())
    assert properties >= 9 and len(counts) == properties
    assert f"{sum(counts):,} inputs over {properties} properties" in text
    assert out.stat().st_ino != before and oct(out.stat().st_mode & 0o777) == "0o644"  # renamed into place
