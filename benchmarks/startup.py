"""Command start-up: a one-shot `cpucompat compare` against `virsh`."""
from __future__ import annotations

import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from . import Row


def _time(argv: list[str], runs: int, cwd: str) -> float | None:
    samples = []
    for _ in range(runs):
        start = time.perf_counter()
        proc = subprocess.run(argv, capture_output=True, timeout=120, cwd=cwd)
        samples.append(time.perf_counter() - start)
        if proc.returncode not in (0, 1):
            return None
    return statistics.median(samples)


def run(quick: bool) -> list[Row]:
    runs = 3 if quick else 7
    with tempfile.TemporaryDirectory() as tmp:
        host = Path(tmp) / "host.xml"
        guest = Path(tmp) / "guest.xml"
        host.write_text("<cpu><arch>x86_64</arch><model>Haswell-noTSX</model><vendor>Intel</vendor></cpu>")
        guest.write_text("<cpu><model>Nehalem</model></cpu>")
        ours = _time([sys.executable, "-m", "cpucompat", "compare", "--host", str(host), str(guest)], runs, tmp)
        virsh = shutil.which("virsh")
        # against this machine's CPU, as virsh does; both libvirt roots warmed
        # once (the first call probes QEMU: seconds, on both sides)
        local = [sys.executable, "-m", "cpucompat", "compare", str(guest)]
        embed = [virsh, "-c", f"qemu:///embed?root={tmp}/virsh-root", "cpu-compare", str(guest)] if virsh else None
        _time(local, 1, tmp)
        ours_local = _time(local, runs, tmp)
        theirs_local = None
        if embed:
            _time(embed, 1, tmp)
            theirs_local = _time(embed, runs, tmp)
        both = Path(tmp) / "both.xml"
        both.write_text(host.read_text() + "\n" +
                        "<cpu><arch>x86_64</arch><model>Nehalem</model><vendor>Intel</vendor></cpu>")
        ours_baseline = _time([sys.executable, "-m", "cpucompat", "baseline", str(both)], runs, tmp)
        theirs = _time([virsh, "-c", "test:///default", "cpu-baseline", str(both)], runs, tmp) if virsh else None
        import_time = _time([sys.executable, "-c", "import cpucompat"], runs, tmp)
    return [Row("CLI one-shot compare, this host", "1 guest file", ours_local or float("nan"), theirs_local,
                "libvirt: virsh -c qemu:///embed cpu-compare"),
            Row("CLI one-shot compare --host FILE", "2 small files", ours or float("nan"), None,
                "virsh compares only against the host it runs on"),
            Row("CLI one-shot baseline", "2 hosts", ours_baseline or float("nan"), theirs,
                "libvirt: virsh -c test:///default cpu-baseline"),
            Row("python -c 'import cpucompat'", "-", import_time or float("nan"), None)]
