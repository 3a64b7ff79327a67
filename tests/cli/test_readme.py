"""README.rst and docs/ stay true: their Python examples run, and README opens
with the setup and test commands (CI runs the line after "Run the tests::")."""
from __future__ import annotations

import re
import shlex
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
README = ROOT / "README.rst"
DOCUMENTS = [README, *sorted((ROOT / "docs").glob("*.rst"))]


def _python_blocks() -> list[tuple[Path, str]]:
    """(document, code) for every ``.. code-block:: python`` of README and docs/."""
    found = []
    for document in DOCUMENTS:
        blocks = re.findall(r"\.\. code-block:: python\n\n((?:    .*\n|[ \t]*\n)+)", document.read_text())
        found += [(document, "\n".join(line[4:] for line in block.splitlines())) for block in blocks]
    return found


def test_readme_and_the_python_api_page_show_python_examples():
    shown = {document.name for document, _ in _python_blocks()}
    assert {"README.rst", "python-api.rst", "nova.rst"} <= shown


@pytest.mark.parametrize(("document", "code"), _python_blocks(),
                         ids=lambda v: v.name if isinstance(v, Path) else v.strip().splitlines()[0][:40])
def test_python_example_runs(document, code, tmp_path, monkeypatch):
    if "import nova" in code or "from nova" in code:
        pytest.importorskip("nova", reason=f"{document.name}'s Nova example needs Nova (pip install '.[nova]')")
    if "placement_url" in code:
        pytest.skip(f"{document.name}'s Placement example needs a Placement: tests/placement/test_cli_sync.py "
                    "runs it against a real one")
    monkeypatch.chdir(tmp_path)
    exec(compile(code, str(document), "exec"), {"__name__": "readme_example"})


def test_readme_opens_with_the_setup_and_test_commands():
    text = README.read_text()
    commands = re.findall(r"::\n\n    (.+)\n", text)[:2]
    assert commands[0].startswith("pip install . && cpucompat ")
    assert commands[1] == 'pip install ".[test]" && pytest'
    assert re.search(r"^Run the tests::\n\n    " + re.escape(commands[1]) + "\n", text, flags=re.MULTILINE)


def test_first_command_runs_the_main_job_on_the_embedded_map():
    text = README.read_text()
    first = re.findall(r"::\n\n    (.+)\n", text)[0]
    job = shlex.split(first.split("&&", 1)[1])
    assert job[0] == "cpucompat"
    proc = subprocess.run([sys.executable, "-m", "cpucompat", *job[1:]], capture_output=True, text=True,
                          timeout=300, cwd=tempfile.gettempdir())
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip()
