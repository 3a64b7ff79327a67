"""The placement commands: docs/cli.rst lists their JSON keys exactly as
printed, and they write what they say."""
from __future__ import annotations

import contextlib
import io
import json
import re
from pathlib import Path

import pytest

from cpucompat.cli import main as cli
from cpucompat.placement import host_traits
from cpucompat.planner.fleet import Fleet

CLI_DOC = Path(__file__).resolve().parents[2] / "docs" / "cli.rst"
# objects keyed by data, not fixed keys (cpu_map: its keys are documented with the common options)
DATA_MAPS = ("files", "refused", "extra_specs", "unreadable", "cpu_map")


def _documented() -> dict[str, set[str]]:
    text = CLI_DOC.read_text()
    section = text[text.index("JSON keys of the Placement commands"):]
    entries = re.findall(r"^``placement ([a-z-]+)``\n((?:    .*\n)+)", section, flags=re.MULTILINE)
    common = set(re.findall(r"``([a-z_]+)``", section.split("Each also has")[1]))
    return {command: set(re.findall(r"``([a-z_]+)``", body)) | common for command, body in entries}


def _keys(value, parent: str = "") -> set[str]:
    keys: set[str] = set()
    if isinstance(value, dict):
        data = parent in DATA_MAPS or (parent == "hosts" and isinstance(value, dict))
        keys |= set() if data else set(value)
        for item in value.values():
            keys |= _keys(item)
    elif isinstance(value, list):
        for item in value:
            keys |= _keys(item)
    return keys


def _run(*args: str) -> tuple[int, str]:
    out = io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(io.StringIO()):
        status = cli.main(list(args))
    return status, out.getvalue()


def _json(*args: str) -> dict:
    status, out = _run(*args, "--json")
    assert status == 0
    return json.loads(out)


def _keys_of(value: dict) -> set[str]:
    return {k for k in value} | set().union(*(_keys(v, k) for k, v in value.items()))


def test_documented_keys_are_the_printed_ones(tmp_path):
    printed = {
        "traits": _keys_of(_json("placement", "traits", "sample"))
        | _keys_of(_json("placement", "traits", "sample", "-o", str(tmp_path / "t.json"))),
        "provider-configs": _keys_of(_json("placement", "provider-configs", "sample", "--directory",
                                           str(tmp_path / "pc"))),
        "flavor-specs": _keys_of(_json("placement", "flavor-specs", "sample", "--domain", "D1"))
        | _keys_of(_json("placement", "flavor-specs", "sample", "--model", "Haswell")),
    }
    documented = _documented()
    assert {command: documented.get(command) for command in printed} == printed


def test_traits_output_file_holds_every_hosts_traits(tmp_path):
    _json("placement", "traits", "sample", "-o", str(tmp_path / "traits.json"))
    written = json.loads((tmp_path / "traits.json").read_text())
    assert {h: set(t) for h, t in written.items()} == {h: set(t) for h, t in host_traits(Fleet.load("sample")).items()}


def test_provider_configs_dry_run_writes_nothing_then_the_run_writes_every_file(tmp_path):
    dry = _json("placement", "provider-configs", "sample", "--directory", str(tmp_path / "pc"), "--dry-run")
    assert dry["dry_run"] and len(dry["written"]) == 44 and not (tmp_path / "pc").exists()
    done = _json("placement", "provider-configs", "sample", "--directory", str(tmp_path / "pc"))
    assert sorted(p.name for p in (tmp_path / "pc").iterdir()) == sorted(done["written"])
    again = _json("placement", "provider-configs", "sample", "--directory", str(tmp_path / "pc"))
    assert again["written"] == [] and len(again["unchanged"]) == 44


@pytest.mark.parametrize("args, message", [
    (["--domain", "D42"], "no domain D42"),
    (["--model", "NoSuchModel"], "NoSuchModel"),
])
def test_flavor_specs_refuse_an_unknown_target_in_one_line(args, message, capsys):
    assert cli.main(["placement", "flavor-specs", "sample", *args]) == 2
    err = capsys.readouterr().err.strip().splitlines()[-1]
    assert err.startswith("cpucompat placement: error:") and message in err


def test_flavor_specs_text_gives_the_flavor_command_and_the_computes_options():
    status, out = _run("placement", "flavor-specs", "sample", "--domain", "D2")
    assert status == 0
    assert "openstack flavor set FLAVOR --property trait:CUSTOM_CPUCOMPAT_DOMAIN_" in out
    assert "  [libvirt]\n  cpu_mode = custom\n  cpu_models = " in out
