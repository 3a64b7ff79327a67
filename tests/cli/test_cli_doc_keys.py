"""docs/cli.rst lists the JSON keys of every CPU command, exactly as printed
(the planner commands' keys are checked in test_planner_readme.py)."""
from __future__ import annotations

import contextlib
import io
import json
import re
from pathlib import Path

import pytest

from cpucompat import embedded_cpu_map
from cpucompat.cli import main as cli
from cpucompat.engine.cpuid import encode_dump

ROOT = Path(__file__).resolve().parents[2]
CLI_DOC = ROOT / "docs" / "cli.rst"
HOST = ROOT / "tests" / "data" / "inputs" / "amd-vm-capabilities.xml"
GUEST = ROOT / "examples" / "guest.xml"
COMMANDS = ("models", "show", "expand", "baseline", "compare", "decode", "guest-xml")


def _documented() -> dict[str, set[str]]:
    """{command: the ``keys`` docs/cli.rst lists under it} from the CPU commands' key list."""
    text = CLI_DOC.read_text()
    section = text[text.index("JSON keys of the CPU commands"):text.index("Errors and exit status")]
    entries = re.findall(r"^``([a-z-]+)``\n((?:    .*\n)+)", section, flags=re.MULTILINE)
    return {command: set(re.findall(r"``([a-z_]+)``", body)) for command, body in entries}


def _keys(value) -> set[str]:
    if isinstance(value, dict):
        return set(value).union(*(_keys(item) for item in value.values()))
    if isinstance(value, list):
        return set().union(*(_keys(item) for item in value))
    return set()


def _run(*args: str) -> object:
    out = io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(io.StringIO()):
        assert cli.main([*args, "--json"]) == 0
    return json.loads(out.getvalue())


@pytest.fixture(scope="module")
def outputs(tmp_path_factory) -> dict[str, set[str]]:
    x86 = embedded_cpu_map().x86
    dump = tmp_path_factory.mktemp("decode") / "cpuid.xml"
    dump.write_text(encode_dump(x86, x86.model("Haswell-noTSX").features, "Intel", (6, 60, 3)).to_xml())
    return {
        "models": _keys(_run("models")),
        "show": _keys(_run("show", "Haswell")),
        "expand": _keys(_run("expand", str(HOST))),
        "baseline": _keys(_run("baseline", str(HOST))),
        "compare": _keys(_run("compare", "--host", str(HOST), str(GUEST))),
        "decode": _keys(_run("decode", str(dump))),
        # a custom CPU and a host-model one: between them every key is set
        "guest-xml": _keys(_run("guest-xml", str(HOST))) | _keys(_run("guest-xml", "--mode", "custom",
                                                                      "--models", "Haswell-noTSX", str(HOST))),
    }


def test_docs_list_the_json_keys_of_every_cpu_command():
    assert set(_documented()) == set(COMMANDS)


@pytest.mark.parametrize("command", COMMANDS)
def test_documented_cpu_command_keys_are_the_printed_ones(outputs, command):
    assert _documented()[command] == outputs[command]
