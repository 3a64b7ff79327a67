"""The ``$ cpucompat`` commands of README.rst and docs/ run as written, from a
copy of examples/ (the inputs they name ship there)."""
from __future__ import annotations

import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
DOCUMENTS = [ROOT / "README.rst", *sorted((ROOT / "docs").glob("*.rst"))]
EXAMPLES = ROOT / "examples"


def _commands() -> list[str]:
    """Every ``$ cpucompat ...`` line of the console blocks of README and docs/."""
    text = "".join(document.read_text() for document in DOCUMENTS)
    blocks = re.findall(r"\.\. code-block:: console\n\n((?:    .*\n|[ \t]*\n)+)", text)
    return [line.strip()[2:] for block in blocks for line in block.splitlines()
            if line.strip().startswith("$ cpucompat ")]


def test_the_docs_show_the_commands_with_the_shipped_examples():
    commands = _commands()
    assert len(commands) >= 12
    named = {word for command in commands for word in shlex.split(command, comments=True)}
    for example in ("guest.xml", "guests.json", "new-hosts.json", "hypervisors.json", "cell1.tsv", "cell2.tsv",
                    "host.xml"):
        assert example in named and (EXAMPLES / example).is_file()


@pytest.mark.parametrize("command", _commands())
def test_documented_command_runs_as_written_in_the_examples(command, tmp_path):
    workdir = tmp_path / "examples"
    shutil.copytree(EXAMPLES, workdir)
    argv = shlex.split(command, comments=True)
    assert argv[0] == "cpucompat"
    proc = subprocess.run([sys.executable, "-m", "cpucompat", *argv[1:]], capture_output=True, text=True,
                          timeout=300, cwd=workdir)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() and "error" not in proc.stderr
    if "-o" in argv:
        written = workdir / argv[argv.index("-o") + 1]
        assert written.stat().st_size > 1000
