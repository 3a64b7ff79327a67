"""The benchmark runner runs and speaks its JSON contract (no timing asserts)."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

CHECKOUT = Path(__file__).resolve().parent.parent


def test_quick_run_prints_rows_as_json():
    proc = subprocess.run([sys.executable, "-m", "benchmarks", "--quick", "--json"], capture_output=True,
                          text=True, timeout=600, cwd=CHECKOUT)
    assert proc.returncode == 0, proc.stderr[-2000:]
    rows = json.loads(proc.stdout)
    names = [r["name"] for r in rows]
    assert any(n.startswith("compare") for n in names) and any(n.startswith("baseline") for n in names)
    for row in rows:
        assert {"name", "cpucompat_s", "libvirt_s", "ratio"} <= set(row)
        assert (row["ratio"] is None) == (row["libvirt_s"] is None) or row["cpucompat_s"] == 0
