"""From a source checkout that is not installed, commands stop with one line
saying what to run instead (the checkout's data/ installs as cpucompat.data)."""
from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import cpucompat
from cpucompat.errors import PackageDataMissing
from cpucompat.engine.releases import KNOWN_VERSIONS
from cpucompat.packagedata import data_path


def _checkout_without_data(tmp_path: Path) -> Path:
    """The package as a checkout holds it: cpucompat/ without data/ and filters/ inside."""
    installed = Path(cpucompat.__file__).parent
    shutil.copytree(installed, tmp_path / "cpucompat",
                    ignore=shutil.ignore_patterns("data", "filters", "__pycache__"))
    return tmp_path


def test_python_m_cpucompat_in_a_checkout_stops_with_one_line_naming_what_to_run(tmp_path):
    checkout = _checkout_without_data(tmp_path)
    run = subprocess.run([sys.executable, "-m", "cpucompat", "models"], cwd=checkout,
                         capture_output=True, text=True, timeout=120)
    assert run.returncode == 2
    assert run.stdout == ""
    lines = run.stderr.splitlines()
    assert len(lines) == 1, run.stderr
    assert "pip install -e ." in lines[0] and str(checkout) in lines[0]


def test_installed_data_is_found_by_the_one_lookup():
    for version in KNOWN_VERSIONS:  # the wheel ships every embedded map, each with its SOURCE
        assert (data_path("cpu_maps", version) / "index.xml").is_file()
        assert (data_path("cpu_maps", version) / "SOURCE").is_file()
    assert not (data_path("cpu_maps") / "index.xml").exists()  # no flat map left from before
    assert (data_path("fleet", "sample.json")).is_file()
    assert issubclass(PackageDataMissing, LookupError)
