"""Command start-up: a one-shot `cpucompat compare`/`baseline` against `virsh`,
and `import cpucompat`.

Times are the CPU time (user + system) of each process, the median of
several runs.  Each command runs as a user runs it, the installed ``cpucompat`` script,
with its map compiled by an earlier run (as after a first use), and again
under ``python -S`` (the same packages on sys.path, but no site hooks: a
``.pth`` file of some other package can cost a Python process tens of
milliseconds before cpucompat starts; the interpreter rows show it).
"""
from __future__ import annotations

import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

from . import Row

# the packages this interpreter sees, for `python -S` (which reads no .pth files)
_SITE_DIRS = [p for p in sys.path if p.endswith(("site-packages", "dist-packages"))]
_NO_SITE = f"import sys; sys.path[:0] = {_SITE_DIRS!r}; "


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
        ours = _cpucompat()
        no_site = [sys.executable, "-S", "-c", _NO_SITE + "from cpucompat.cli.main import main; sys.exit(main())"]
        virsh = shutil.which("virsh")

        def time_all(argv: list[str], environment: dict[str, str] = env) -> float | None:
            _time(argv, 1, tmp, environment)  # the first run compiles the map (and warms libvirt's root)
            return _time(argv, runs, tmp, environment)

        def time_ours(argv: list[str], environment: dict[str, str] = env) -> float:
            return time_all(argv, environment) or float("nan")

        compare_host = time_ours([*ours, "compare", "--host", str(host), str(guest)])
        compare_host_xml = time_ours([*ours, "compare", "--host", str(host), str(guest)], no_cache)
        # against this machine's CPU, as virsh does (its first call probes QEMU: seconds, once)
        compare = {prefix: time_ours([*argv, "compare", str(guest)]) for prefix, argv in
                   (("CLI", ours), ("CLI (python -S)", no_site))}
        theirs_compare = (time_all([virsh, "-c", f"qemu:///embed?root={tmp}/virsh-root", "cpu-compare", str(guest)])
                          if virsh else None)
        baseline = {prefix: time_ours([*argv, "baseline", str(both)]) for prefix, argv in
                    (("CLI", ours), ("CLI (python -S)", no_site))}
        theirs_baseline = time_all([virsh, "-c", "test:///default", "cpu-baseline", str(both)]) if virsh else None
        interpreter = time_ours([sys.executable, "-c", "pass"])
        interpreter_no_site = time_ours([sys.executable, "-S", "-c", "pass"])
        import_time = time_ours([sys.executable, "-c", "import cpucompat"])
        import_no_site = time_ours([sys.executable, "-S", "-c", _NO_SITE + "import cpucompat"])
    rows = []
    for prefix in ("CLI", "CLI (python -S)"):
        rows += [Row(f"{prefix} one-shot compare, this host", "1 guest file", compare[prefix], theirs_compare,
                     "libvirt: virsh -c qemu:///embed cpu-compare"),
                 Row(f"{prefix} one-shot baseline", "2 hosts", baseline[prefix], theirs_baseline,
                     "libvirt: virsh -c test:///default cpu-baseline")]
    return rows + [
        Row("CLI one-shot compare --host FILE", "2 small files", compare_host, None,
            "virsh compares only against the host it runs on"),
        Row("CLI one-shot compare --host FILE, no map cache", "2 small files", compare_host_xml, None,
            "CPUCOMPAT_CACHE_DIR='': the map's XML parsed, as on a first run"),
        Row("python -c 'import cpucompat'", "-", import_time, None),
        Row("python -S -c 'import cpucompat'", "-", import_no_site, None, "no site hooks"),
        Row("interpreter: python -c pass", "-", interpreter, None, "this machine's Python, before any cpucompat"),
        Row("interpreter: python -S -c pass", "-", interpreter_no_site, None, "the same without site hooks"),
    ]
