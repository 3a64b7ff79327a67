"""Command start-up: a one-shot `cpucompat compare`/`baseline` against `virsh`,
and `import cpucompat`.

Times are the CPU time (user + system) of each process, the median of
several runs.  Each command runs three ways:

* as a user of this machine runs it: the installed ``cpucompat`` script,
  with its map compiled by an earlier run (as after a first use);
* in a clean venv: a fresh ``python -m venv`` whose only ``.pth`` file puts
  this interpreter's packages on its path.  site.py runs as in any venv,
  but no other package's start-up hook does (a ``.pth`` file importing
  certifi costs this machine's every Python process tens of milliseconds
  before cpucompat starts; the interpreter rows show it);
* the floor: the same clean venv importing exactly the modules outside
  cpucompat that the command ended up with (the standard library's, lxml's)
  and doing nothing else: what any Python command built on them pays
  before its own first line, against virsh's whole run.
"""
from __future__ import annotations

import ast
import os
import resource
import shutil
import statistics
import subprocess
import sys
import sysconfig
import tempfile
import venv
from pathlib import Path

from . import Row

# the directories this interpreter finds packages in (the clean venv reads them, not their .pth files)
_SITE_DIRS = [p for p in sys.path if p.endswith(("site-packages", "dist-packages"))]
_RUN_CLI = "import sys; from cpucompat.cli.main import main; sys.exit(main())"
# run a command in-process, then name the modules it loaded beyond those of a bare interpreter
_MODULES_OF = """
import os, sys
bare = set(sys.modules)
sys.stdout = sys.stderr = open(os.devnull, "w")
from cpucompat.cli.main import main
main(sys.argv[1:])
sys.__stdout__.write(repr(sorted(m for m in set(sys.modules) - bare
                                 if m.split(".")[0] != "cpucompat" and sys.modules[m] is not None)))
"""
_IMPORT_ALL = """
import importlib, sys
for name in sys.argv[1:]:
    try:
        importlib.import_module(name)
    except ImportError:
        pass
"""


def _time(argv: list[str], runs: int, cwd: str, env: dict[str, str]) -> float | None:
    """Median CPU seconds (user + system) of a process running `argv`: on a
    shared machine its wall time measures the neighbours as well."""
    samples = []
    for _ in range(runs):
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        proc = subprocess.run(argv, capture_output=True, timeout=120, cwd=cwd, env=env)
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        samples.append(after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime)
        if proc.returncode not in (0, 1):
            return None
    return statistics.median(samples)


def _cpucompat() -> list[str]:
    """The installed ``cpucompat`` script, as a user runs it."""
    script = Path(sys.executable).with_name("cpucompat")
    return [str(script)] if script.exists() else [sys.executable, "-m", "cpucompat"]


def _clean_venv(directory: Path) -> str:
    """A fresh venv seeing this interpreter's packages through one .pth file
    of plain paths (which site.py adds to sys.path without running anything
    found there): its python."""
    venv.create(directory, with_pip=False, system_site_packages=False, symlinks=True)
    purelib = sysconfig.get_path("purelib", vars={"base": str(directory), "platbase": str(directory)})
    Path(purelib, "cpucompat-under-test.pth").write_text("\n".join(_SITE_DIRS) + "\n")
    return str(directory / "bin" / "python")


def run(quick: bool) -> list[Row]:
    runs = 5 if quick else 15
    with tempfile.TemporaryDirectory() as tmp:
        env = {**os.environ, "CPUCOMPAT_CACHE_DIR": f"{tmp}/cache"}
        no_cache = {**os.environ, "CPUCOMPAT_CACHE_DIR": ""}
        host = Path(tmp) / "host.xml"
        guest = Path(tmp) / "guest.xml"
        host.write_text("<cpu><arch>x86_64</arch><model>Haswell-noTSX</model><vendor>Intel</vendor></cpu>")
        guest.write_text("<cpu><model>Nehalem</model></cpu>")
        both = Path(tmp) / "both.xml"
        both.write_text(host.read_text() + "\n" +
                        "<cpu><arch>x86_64</arch><model>Nehalem</model><vendor>Intel</vendor></cpu>")
        clean = _clean_venv(Path(tmp) / "venv")
        ways = {"CLI": _cpucompat(), "CLI (clean venv)": [clean, "-c", _RUN_CLI]}
        virsh = shutil.which("virsh")

        def time_all(argv: list[str], environment: dict[str, str] = env) -> float | None:
            _time(argv, 1, tmp, environment)  # the first run compiles the map (and warms libvirt's root)
            return _time(argv, runs, tmp, environment)

        def time_ours(argv: list[str], environment: dict[str, str] = env) -> float:
            return time_all(argv, environment) or float("nan")

        def floor(command: list[str]) -> float:
            """The clean venv importing what `command` imports outside cpucompat, and nothing else."""
            proc = subprocess.run([clean, "-c", _MODULES_OF, *command], capture_output=True, text=True,
                                  timeout=120, cwd=tmp, env=env)
            if proc.returncode != 0:
                return float("nan")
            return time_ours([clean, "-c", _IMPORT_ALL, *ast.literal_eval(proc.stdout)])

        compare_host = time_ours([*ways["CLI"], "compare", "--host", str(host), str(guest)])
        compare_host_xml = time_ours([*ways["CLI"], "compare", "--host", str(host), str(guest)], no_cache)
        # against this machine's CPU, as virsh does (its first call probes QEMU: seconds, once)
        compare = {way: time_ours([*argv, "compare", str(guest)]) for way, argv in ways.items()}
        theirs_compare = (time_all([virsh, "-c", f"qemu:///embed?root={tmp}/virsh-root", "cpu-compare", str(guest)])
                          if virsh else None)
        baseline = {way: time_ours([*argv, "baseline", str(both)]) for way, argv in ways.items()}
        theirs_baseline = time_all([virsh, "-c", "test:///default", "cpu-baseline", str(both)]) if virsh else None
        floor_compare = floor(["compare", str(guest)])
        floor_baseline = floor(["baseline", str(both)])
        interpreter = time_ours([sys.executable, "-c", "pass"])
        interpreter_clean = time_ours([clean, "-c", "pass"])
        import_time = time_ours([sys.executable, "-c", "import cpucompat"])
        import_clean = time_ours([clean, "-c", "import cpucompat"])
    rows = []
    for way in ways:
        rows += [Row(f"{way} one-shot compare, this host", "1 guest file", compare[way], theirs_compare,
                     "libvirt: virsh -c qemu:///embed cpu-compare"),
                 Row(f"{way} one-shot baseline", "2 hosts", baseline[way], theirs_baseline,
                     "libvirt: virsh -c test:///default cpu-baseline")]
    return rows + [
        Row("floor: compare's imports outside cpucompat", "clean venv", floor_compare, theirs_compare,
            "the standard library's and lxml's modules a compare loads, imported and nothing else"),
        Row("floor: baseline's imports outside cpucompat", "clean venv", floor_baseline, theirs_baseline,
            "the same for baseline"),
        Row("CLI one-shot compare --host FILE", "2 small files", compare_host, None,
            "virsh compares only against the host it runs on"),
        Row("CLI one-shot compare --host FILE, no map cache", "2 small files", compare_host_xml, None,
            "CPUCOMPAT_CACHE_DIR='': the map's XML parsed, as on a first run"),
        Row("python -c 'import cpucompat'", "-", import_time, None, "this machine's Python"),
        Row("clean venv: python -c 'import cpucompat'", "-", import_clean, None, "no other package's .pth hooks"),
        Row("interpreter: python -c pass", "-", interpreter, None, "this machine's Python, before any cpucompat"),
        Row("interpreter: clean venv python -c pass", "-", interpreter_clean, None,
            "the same interpreter in a fresh venv"),
    ]
