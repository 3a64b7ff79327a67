"""README.rst stays true: its Python examples run and its commands exist."""
from __future__ import annotations

import re
import shlex
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

README = Path(__file__).resolve().parents[2] / "README.rst"


def _python_blocks() -> list[str]:
    text = README.read_text()
    blocks = re.findall(r"\.\. code-block:: python\n\n((?:    .*\n|[ \t]*\n)+)", text)
    return ["\n".join(line[4:] for line in block.splitlines()) for block in blocks]


@pytest.mark.parametrize("code", _python_blocks(), ids=lambda c: c.strip().splitlines()[0][:40])
def test_python_example_runs(code, tmp_path, monkeypatch):
    if "import nova" in code or "from nova" in code:
        pytest.importorskip("nova", reason="the README's Nova example needs Nova (pip install '.[nova]')")
    monkeypatch.chdir(tmp_path)
    exec(compile(code, str(README), "exec"), {"__name__": "readme_example"})


def test_readme_opens_with_the_setup_and_test_commands():
    text = README.read_text()
    commands = re.findall(r"::\n\n    (.+)\n", text)[:2]
    assert commands[0].startswith("pip install . && cpucompat ")
    assert commands[1] == 'pip install ".[test]" && pytest'


def test_first_command_runs_the_main_job_on_the_embedded_map():
    text = README.read_text()
    first = re.findall(r"::\n\n    (.+)\n", text)[0]
    job = shlex.split(first.split("&&", 1)[1])
    assert job[0] == "cpucompat"
    proc = subprocess.run([sys.executable, "-m", "cpucompat", *job[1:]], capture_output=True, text=True,
                          timeout=300, cwd=tempfile.gettempdir())
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip()
