"""The sdist carries what it needs to run its own tests, and the licence setup.cfg names.

Someone who downloads the sdist, unpacks it and runs README's test command
needs the tests with their data and conftest, the benchmarks and the
fuzzing runner they exercise, SECURITY.rst, docs/ (whose examples and JSON
keys the tests check) and CI's script; setup.cfg says
Apache-2.0, so LICENSE must be that licence's text.  The sdist is built
here, offline, with setuptools' PEP 517 hook (what ``python -m build
--sdist`` calls), from a copy of the checkout so the tree is left as it was.
"""
from __future__ import annotations

import configparser
import os
import shutil
import subprocess
import sys
import tarfile
from pathlib import Path

import pytest

CHECKOUT = Path(__file__).resolve().parent.parent
NOT_SOURCE = shutil.ignore_patterns(".git", "build", "dist", "*.egg-info", "__pycache__", "*.pyc", ".hypothesis",
                                    ".pytest_cache", "venv", ".venv")
# what running the tests from an unpacked sdist needs, beyond the packages
NEEDED = ["LICENSE", "README.rst", "SECURITY.rst", "setup.cfg", "pyproject.toml", ".ci/run",
          "tests/conftest.py", "tests/legacy_map.py", "tests/data/legacy/cpu_map.xml",
          "tests/data/nova/haswell.json", "tests/data/inputs/amd-vm-capabilities.xml",
          "benchmarks/__main__.py", "benchmarks/RESULTS.md", "fuzz/run.py", "fuzz/RESULTS.md",
          "examples/guest.xml", "examples/guests.json", "examples/new-hosts.json",
          "examples/host.xml", "docs/index.rst", "docs/cli.rst", "docs/inventories.rst", "docs/nova.rst",
          "docs/python-api.rst", "tests/test_docs.py",
          "cpucompat/cli/main.py", "cpucompat/py.typed", "filters/__init__.py", "data/cpu_maps/9.0.0/index.xml",
          "data/cpu_maps/11.3.0/SOURCE", "data/cpu_maps/12.8.0/index.xml", "data/fleet/sample.json"]

BUILD_SDIST = "import sys; from setuptools.build_meta import build_sdist; print(build_sdist(sys.argv[1]))"
IMPORT_INSTALLED = "import cpucompat, cpucompat.data, cpucompat.filters; print(cpucompat.__file__)"


def build_sdist(into: Path) -> Path:
    """Build the sdist of a copy of this checkout into `into`; return the archive."""
    source = into / "source"
    shutil.copytree(CHECKOUT, source, ignore=NOT_SOURCE, symlinks=True)
    proc = subprocess.run(
        [sys.executable, "-c", BUILD_SDIST, str(into / "dist")],
        check=False, cwd=source, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return into / "dist" / proc.stdout.strip().splitlines()[-1]


@pytest.fixture(scope="module")
def sdist(tmp_path_factory) -> Path:
    return build_sdist(tmp_path_factory.mktemp("sdist"))


@pytest.fixture(scope="module")
def unpacked(sdist, tmp_path_factory) -> Path:
    target = tmp_path_factory.mktemp("unpacked")
    with tarfile.open(sdist) as archive:
        archive.extractall(target, filter="data")
    (root,) = target.iterdir()
    return root


def members(root: Path) -> set[str]:
    return {p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file()}


def test_the_sdist_holds_what_its_tests_need(unpacked):
    missing = [name for name in NEEDED if not (unpacked / name).is_file()]
    assert not missing, f"missing from the sdist: {missing}"
    assert os.access(unpacked / ".ci" / "run", os.X_OK)


def test_every_test_benchmark_fuzz_ci_and_docs_file_of_the_checkout_is_in_the_sdist(unpacked, tmp_path):
    source = tmp_path / "source"
    shutil.copytree(CHECKOUT, source, ignore=NOT_SOURCE)
    shipped = members(unpacked)
    for folder in ("tests", "benchmarks", "fuzz", ".ci", "docs"):
        wanted = {name for name in members(source) if name.startswith(folder + "/")}
        assert wanted and wanted <= shipped, f"{folder}/ files missing: {sorted(wanted - shipped)}"


def test_the_sdist_carries_no_bytecode_or_test_droppings(unpacked):
    junk = [name for name in members(unpacked)
            if "__pycache__" in name or name.endswith((".pyc", ".pyo")) or ".hypothesis" in name]
    assert not junk


def test_license_is_the_apache_2_0_text_setup_cfg_names(unpacked):
    config = configparser.ConfigParser()
    config.read(CHECKOUT / "setup.cfg")
    assert config["metadata"]["license"] == "Apache-2.0"
    assert config["metadata"]["license_files"].split() == ["LICENSE"]
    text = (CHECKOUT / "LICENSE").read_text()
    assert text.split()[:4] == ["Apache", "License", "Version", "2.0,"]
    assert "TERMS AND CONDITIONS FOR USE, REPRODUCTION, AND DISTRIBUTION" in text
    assert "END OF TERMS AND CONDITIONS" in text and "APPENDIX" in text
    assert (unpacked / "LICENSE").read_text() == text
    assert "License-File: LICENSE" in (unpacked / "PKG-INFO").read_text()


def test_the_unpacked_sdist_installs_and_runs_its_own_tests(sdist, unpacked, tmp_path):
    """pip install the sdist into a throwaway venv (system site packages for
    the dependencies, no network) and run a few test files from the unpacked
    tree against it, as README's test command does: the setup.cfg
    package_dir mapping (cpucompat.filters, cpucompat.data) works from the
    sdist, and the tests import the installed package, not the tree."""
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--system-site-packages", str(venv)], check=True, timeout=300)
    python = venv / "bin" / "python"
    env = {**os.environ, "PIP_NO_INDEX": "1", "PIP_DISABLE_PIP_VERSION_CHECK": "1"}
    env.pop("PYTHONPATH", None)
    proc = subprocess.run([python, "-m", "pip", "install", "-q", "--no-deps", "--no-build-isolation", str(sdist)],
                          check=False, capture_output=True, text=True, env=env, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    # -P: no current directory on sys.path, as the `pytest` script runs (README: not `python -m pytest`)
    proc = subprocess.run([python, "-P", "-c", IMPORT_INSTALLED],
                          cwd=unpacked, check=False, capture_output=True, text=True, env=env, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert Path(proc.stdout.strip()).is_relative_to(venv), proc.stdout
    proc = subprocess.run([python, "-P", "-m", "pytest", "-q", "-x", "-p", "no:randomly",
                           "tests/engine/test_cpumap.py", "tests/cli/test_cli_errors.py", "tests/cli/test_planner_readme.py",
                           "tests/cli/test_readme_commands.py", "tests/test_docs.py"],
                          cwd=unpacked, check=False, capture_output=True, text=True, env=env, timeout=1200)
    assert proc.returncode == 0, proc.stdout[-3000:]
    assert " passed" in proc.stdout.splitlines()[-1] and "failed" not in proc.stdout.splitlines()[-1]
