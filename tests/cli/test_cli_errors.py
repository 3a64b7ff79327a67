"""Every command fails with one line naming the input and the problem, exit 2."""
from __future__ import annotations

import subprocess
import sys
import tempfile

import pytest


def run(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "cpucompat", *args], capture_output=True, text=True,
                          timeout=120, cwd=tempfile.gettempdir())


@pytest.fixture()
def bad(tmp_path):
    files = {
        "missing": tmp_path / "missing.xml",
        "binary": tmp_path / "binary.xml",
        "empty": tmp_path / "empty.xml",
        "malformed": tmp_path / "malformed.xml",
        "model": tmp_path / "model.xml",
        "feature": tmp_path / "feature.xml",
        "vendors": tmp_path / "vendors.xml",
        "typo": tmp_path / "typo.xml",
    }
    files["binary"].write_bytes(b"\x89PNG\x00\xff\xfe")
    files["empty"].write_text("")
    files["malformed"].write_text("<cpu><model>Nehalem</model>")
    files["model"].write_text("<cpu><model>Skylake-Clinet</model></cpu>")
    files["typo"].write_text("<cpu><model>Skylaek</model></cpu>")
    files["feature"].write_text("<cpu><model>Nehalem</model><feature name='avx9'/></cpu>")
    files["vendors"].write_text("<cpu><arch>x86_64</arch><model>Nehalem</model><vendor>Intel</vendor></cpu>"
                                "<cpu><arch>x86_64</arch><model>Opteron_G1</model><vendor>AMD</vendor></cpu>")
    return files


@pytest.mark.parametrize("kind, command, expect", [
    ("missing", ["expand"], "cannot read"),
    ("binary", ["expand"], "not UTF-8"),
    ("empty", ["baseline"], "neither libvirt XML"),
    ("malformed", ["expand"], "not well-formed"),
    ("model", ["expand"], "did you mean: Skylake-Client"),
    ("typo", ["expand"], "did you mean: Skylake-Client, Skylake-Server"),
    ("feature", ["compare", "--host", "HOST"], "avx9"),
    ("vendors", ["baseline"], "vendor"),
    ("malformed", ["decode"], "not well-formed"),
    ("model", ["domains"], "no such file"),
])
def test_one_line_with_the_input_and_exit_2(bad, kind, command, expect, tmp_path):
    host = tmp_path / "host.xml"
    host.write_text("<cpu><arch>x86_64</arch><model>Haswell</model><vendor>Intel</vendor></cpu>")
    argv = [str(host) if a == "HOST" else a for a in command]
    target = str(bad[kind]) + ("-nowhere" if command == ["domains"] else "")
    proc = run(*argv, target)
    assert proc.returncode == 2, proc.stdout
    assert "Traceback" not in proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1, proc.stderr
    assert expect in proc.stderr and bad[kind].name in proc.stderr
    if kind in ("model", "typo", "feature") and command != ["domains"]:
        assert "cpu_map" in proc.stderr  # unknown names say which map was used


def test_debug_shows_the_traceback(bad):
    proc = run("expand", "--debug", str(bad["model"]))
    assert proc.returncode == 2 and "Traceback" in proc.stderr


def test_wrong_arch_is_a_clear_error(tmp_path):
    path = tmp_path / "s390.xml"
    path.write_text("<cpu><arch>s390x</arch><model>z14</model></cpu>")
    proc = run("expand", str(path))
    assert proc.returncode == 2 and "s390x" in proc.stderr and "Traceback" not in proc.stderr


@pytest.mark.parametrize("argv", [["domains"], ["domains", "sample", "--max-loss", "-1"], ["expand"],
                                  ["no-such-command"]])
def test_usage_errors_are_one_line_and_exit_2(argv):
    proc = run(*argv)
    assert proc.returncode == 2
    assert proc.stderr.count("\n") == 1 and proc.stderr.startswith("cpucompat: error: "), proc.stderr
