"""docs/cli.rst documents every planner command's JSON keys, exactly as printed."""
from __future__ import annotations

import contextlib
import io
import json
import re
from pathlib import Path

import pytest

from cpucompat.cli import main as cli
from cpucompat.planner.fleet import Fleet

CLI_DOC = Path(__file__).resolve().parents[2] / "docs" / "cli.rst"
SAMPLE = Fleet.load("sample")
# JSON objects keyed by data (host, vendor or domain names), not by a fixed key
DATA_KEYS = (set(SAMPLE.hosts) | {"new-01"} | {c.vendor for c in SAMPLE.classes}
             | {d.name for d in SAMPLE.domains()})
WITHOUT_UNREADABLE = ("graph", "report")  # docs/cli.rst: every answer but these has `unreadable`


def _documented() -> dict[str, set[str]]:
    """{command: the ``keys`` docs/cli.rst lists under it} from its JSON key list."""
    text = CLI_DOC.read_text()
    section = text[text.index("With ``--json`` each command prints"):]
    entries = re.findall(r"^``([a-z]+)``\n((?:    .*\n)+)", section, flags=re.MULTILINE)
    return {command: set(re.findall(r"``([a-z_]+)``", body)) for command, body in entries}


def _keys(value) -> set[str]:
    """Every key of every object in `value`, but not the names of data maps."""
    keys: set[str] = set()
    if isinstance(value, dict):
        if not (value.keys() <= DATA_KEYS):
            keys |= set(value)
        for item in value.values():
            keys |= _keys(item)
    elif isinstance(value, list):
        for item in value:
            keys |= _keys(item)
    return keys


@pytest.fixture(scope="module")
def outputs(tmp_path_factory) -> dict[str, dict]:
    tmp = tmp_path_factory.mktemp("planner")
    pinned = ("<cpu mode='custom' match='exact'><model>Icelake-Server</model>"
              "<feature policy='require' name='invtsc'/></cpu>")
    guests = tmp / "guests.json"
    guests.write_text(json.dumps([{"name": "db-1", "host": "icelake-01", "cpu": pinned},
                                  {"name": "web-1", "host": "skylake-01"},
                                  {"name": "lost-1", "host": "no-such-host"}]))
    new_hosts = tmp / "new.json"
    new_hosts.write_text(json.dumps({"hosts": {"new-01": {"arch": "x86_64", "model": "Icelake-Server",
                                                          "vendor": "Intel", "features": []}}}))
    commands = {
        "classes": ["sample"], "targets": ["sample", "skylake-01"], "domain": ["sample", "icelake-01"],
        "domains": ["sample"], "common": ["sample", "haswell-01", "icelake-01"],
        "whatif": ["sample", "--retire", "sandybridge-01", "--add", str(new_hosts)],
        "stranded": ["sample", str(guests)], "levels": ["sample"],
        "graph": ["sample", "--format", "dot", "-o", str(tmp / "lattice.dot")],
        "report": ["sample", "--guests", str(guests), "-o", str(tmp / "report.html")],
    }
    outputs = {command: _run(command, args) for command, args in commands.items()}
    # one CPU on two libvirt releases: the sample has no such twins, so their split is read from these
    twins = Path(__file__).resolve().parents[1] / "data" / "twins"
    outputs["classes"]["classes"] += _run("classes", [str(twins)])["classes"]
    return outputs


def _run(command: str, args: list[str]) -> dict:
    out = io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(io.StringIO()):
        assert cli.main([command, *args, "--json"]) == 0
    return json.loads(out.getvalue())


def test_docs_list_the_json_keys_of_every_planner_command(outputs):
    assert set(_documented()) == set(outputs)


@pytest.mark.parametrize("command", ["classes", "targets", "domain", "domains", "common", "whatif", "stranded",
                                     "levels", "graph", "report"])
def test_documented_json_keys_are_the_printed_ones(outputs, command):
    documented = _documented()[command] | (set() if command in WITHOUT_UNREADABLE else {"unreadable"})
    printed = dict(outputs[command])
    # every answer names its map (README, "Which libvirt: the embedded maps"), beside its own keys
    assert printed.pop("cpu_map")["embedded"] is True
    assert documented == _keys(printed)
