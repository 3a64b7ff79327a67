"""Shared fixtures: maps, the shared conformance data, and real libvirt.

Tests run against the *installed* package (pytest --import-mode=importlib),
so a file missing from the wheel fails here instead of hiding.
"""
from __future__ import annotations

import contextlib
import os
from pathlib import Path

import pytest

import cpucompat

TESTS = Path(__file__).resolve().parent
DATA = TESTS / "data"
SHARED = Path(os.environ.get("CPUCOMPAT_SHARED", TESTS.parent.parent / "shared"))


def pytest_configure(config: pytest.Config) -> None:
    """From a checkout that is not installed, stop with one line saying what to run."""
    from cpucompat.errors import PackageDataMissing
    from cpucompat.packagedata import data_path

    try:
        data_path()
    except PackageDataMissing as exc:
        pytest.exit(str(exc), returncode=2)
    # compiled maps (engine/cpumap/compiled.py) go to a directory of this run,
    # not the user's ~/.cache, unless the caller chose one
    if "CPUCOMPAT_CACHE_DIR" not in os.environ:
        import shutil
        import tempfile

        os.environ["CPUCOMPAT_CACHE_DIR"] = cache = tempfile.mkdtemp(prefix="cpucompat-cache-")
        config.add_cleanup(lambda: shutil.rmtree(cache, ignore_errors=True))


def shared_path(*parts: str) -> Path:
    """A path under ../shared, skipping the test (loudly) when absent."""
    path = SHARED.joinpath(*parts)
    if not path.exists():
        pytest.skip(f"conformance data not found at {path}: clone has no ../shared "
                    "(CI has it; set CPUCOMPAT_SHARED to point elsewhere)")
    return path


@pytest.fixture(scope="session")
def map_9_0_0() -> cpucompat.CpuMap:
    """The embedded libvirt 9.0.0 map, which the suite's facts were written against."""
    from cpucompat.engine.maps import resolve_map_spec
    return resolve_map_spec("9.0.0")


@pytest.fixture(scope="session")
def cpumap(map_9_0_0) -> cpucompat.CpuMap:
    """The map tests pin their facts to: libvirt 9.0.0's (not the default,
    which is the newest embedded map)."""
    return map_9_0_0


@pytest.fixture(scope="session")
def x86(cpumap):
    return cpumap.x86


@pytest.fixture(scope="session")
def map_9() -> cpucompat.CpuMap:
    return cpucompat.load_cpu_map(shared_path("cpu_maps", "9.0.0"))


@pytest.fixture(scope="session")
def map_11() -> cpucompat.CpuMap:
    return cpucompat.load_cpu_map(shared_path("cpu_maps", "11.3.0"))


@pytest.fixture(scope="session")
def testdata_9() -> Path:
    return shared_path("libvirt-testdata", "9.0.0")


@pytest.fixture(scope="session")
def testdata_11() -> Path:
    return shared_path("libvirt-testdata", "11.3.0")


@pytest.fixture(scope="session")
def libvirt_conn():
    """An in-process libvirt 9.x QEMU driver (qemu:///embed): the oracle.

    Opened through `live.connection`, as the library opens it: libvirt
    roots the embedded driver once per process, so every embedded
    connection of a run must agree on that root.
    """
    from cpucompat.inputs import live

    if live.libvirt_module() is None:
        pytest.skip("libvirt-python is not installed: differential tests against libvirt skipped "
                    "(pip install '.[libvirt]' with Debian's libvirt-dev)")
    with contextlib.ExitStack() as stack:
        try:
            conn = stack.enter_context(live.connection(None))
        except cpucompat.CpuCompatError as exc:
            pytest.skip(f"cannot open an embedded libvirt QEMU driver: {exc}")
        yield conn


class Terminal:
    """A pty: `fd` is the terminal a program writes to, `received()` what it showed."""

    def __init__(self) -> None:
        import pty

        self.master, self.fd = pty.openpty()

    def received(self) -> str:
        os.set_blocking(self.master, False)
        out = b""
        with contextlib.suppress(BlockingIOError, OSError):  # nothing more to read
            while chunk := os.read(self.master, 65536):
                out += chunk
        return out.decode()


@pytest.fixture()
def terminal():
    """A pseudo-terminal, for what a command shows only on a terminal (progress)."""
    pty = Terminal()
    yield pty
    os.close(pty.master)
    os.close(pty.fd)
