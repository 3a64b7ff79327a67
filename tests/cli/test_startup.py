"""Start-up: `import cpucompat` and a one-shot command load only what they
use (the timings live in benchmarks/startup.py)."""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile

import pytest

import cpucompat
from cpucompat.cli.main import COMMAND_MODULES, CORE_COMMANDS, build_parser

HEAVY = ("lxml", "networkx", "oslo_config", "libvirt", "cpucompat.planner", "cpucompat.nova")


def modules_after(code: str, tmp_path) -> list[str]:
    """The modules a fresh interpreter has loaded after running `code`:
    without site hooks (another package's .pth file may import anything
    before cpucompat starts), this interpreter's packages on its path."""
    probe = ("import sys, json\n" + code +
             "\nprint(json.dumps(sorted(sys.modules)), file=open(sys.argv[1], 'w'))\n")
    proc = subprocess.run([sys.executable, "-S", "-c", probe, str(tmp_path / "modules.json")], capture_output=True,
                          text=True, timeout=300, cwd=tmp_path,
                          env={**os.environ, "CPUCOMPAT_CACHE_DIR": str(tmp_path / "cache"),
                               "PYTHONPATH": os.pathsep.join(p for p in sys.path if p)})
    assert proc.returncode == 0, proc.stderr[-2000:]
    return json.loads((tmp_path / "modules.json").read_text())


def heavy(modules: list[str], names=HEAVY) -> list[str]:
    return [m for m in modules if m.startswith(names)]


def test_import_cpucompat_loads_no_layer(tmp_path):
    modules = modules_after("import cpucompat", tmp_path)
    assert heavy(modules) == []
    assert [m for m in modules if m.startswith("cpucompat.")] == []


def test_every_public_name_loads_on_first_use(tmp_path):
    assert set(cpucompat.__all__) <= set(dir(cpucompat))
    for name in cpucompat.__all__:
        value = getattr(cpucompat, name)
        assert value is not None and (not hasattr(value, "__name__") or value.__name__ == name or name.isupper())
    with pytest.raises(AttributeError):
        cpucompat.no_such_name  # noqa: B018
    # the planner's names load the planner, still not networkx
    modules = modules_after("from cpucompat import Fleet, Domain, Guest, compare", tmp_path)
    assert "cpucompat.planner.fleet" in modules and heavy(modules, ("networkx",)) == []


def cli_modules(tmp_path, *argv: str) -> list[str]:
    return modules_after(f"from cpucompat.cli.main import main\nmain({list(argv)!r})", tmp_path)


@pytest.fixture
def cpu_files(tmp_path):
    host = tmp_path / "host.xml"
    host.write_text("<cpu><arch>x86_64</arch><model>Haswell-noTSX</model><vendor>Intel</vendor></cpu>")
    guest = tmp_path / "guest.xml"
    guest.write_text("<cpu><model>Nehalem</model></cpu>")
    return str(host), str(guest)


def test_one_shot_compare_loads_neither_the_planner_nor_nova_nor_networkx(tmp_path, cpu_files):
    host, guest = cpu_files
    cli_modules(tmp_path, "models")  # the map compiled, as after a first run
    modules = cli_modules(tmp_path, "compare", "--host", host, guest)
    assert "cpucompat.engine.compare" in modules
    assert heavy(modules, ("networkx", "oslo_config", "libvirt", "cpucompat.planner", "cpucompat.nova")) == []


# standard modules a one-shot command has no use for: milliseconds each at start-up
UNUSED_AT_START = ("pathlib", "threading", "tempfile", "shutil", "hashlib", "random")


@pytest.mark.parametrize("command", [["compare", "--host", "HOST", "GUEST"], ["baseline", "HOST"]])
def test_a_one_shot_command_with_a_compiled_map_loads_no_module_it_does_not_use(tmp_path, cpu_files, command):
    host, guest = cpu_files
    argv = [{"HOST": host, "GUEST": guest}.get(word, word) for word in command]
    cli_modules(tmp_path, *argv)  # the map compiled, as after a first run
    assert heavy(cli_modules(tmp_path, *argv), UNUSED_AT_START) == []


def test_a_command_reading_no_xml_with_a_compiled_map_loads_no_lxml(tmp_path):
    assert "lxml.etree" in cli_modules(tmp_path, "models", "--cpu-map", "9.0.0")  # first run: compiles the map
    modules = cli_modules(tmp_path, "models", "--cpu-map", "9.0.0")
    assert "cpucompat.engine.cpumap.compiled" in modules
    assert heavy(modules) == []


def _commands(parser: argparse.ArgumentParser) -> set[str]:
    return {name for action in parser._actions if isinstance(action, argparse._SubParsersAction)
            for name in action.choices}


def test_command_modules_name_every_command_once():
    listed = [name for _, names in COMMAND_MODULES.values() for name in names]
    assert len(listed) == len(set(listed)) and not set(listed) & set(CORE_COMMANDS)
    assert _commands(build_parser()) == set(listed) | set(CORE_COMMANDS)
    for name in CORE_COMMANDS:  # a core command builds its own parser only
        assert _commands(build_parser(name)) == {name}
    for _, names in COMMAND_MODULES.values():  # another module's: that module's
        for name in names:
            assert _commands(build_parser(name)) == set(names)
    assert _commands(build_parser("no-such-command")) == _commands(build_parser())  # all, for the error


def test_the_top_level_help_lists_every_command_whatever_follows_it():
    proc = subprocess.run([sys.executable, "-m", "cpucompat", "-h", "compare"], capture_output=True, text=True,
                          timeout=300, cwd=tempfile.gettempdir())
    assert proc.returncode == 0
    listed = {line.split()[0] for line in proc.stdout.splitlines() if line.startswith("    ") and line.split()}
    assert {name for _, names in COMMAND_MODULES.values() for name in names} | set(CORE_COMMANDS) <= listed


@pytest.mark.parametrize("columns", ["50", "120", "", "junk"])
def test_help_is_as_wide_as_argparse_makes_it(columns, monkeypatch):
    monkeypatch.setenv("COLUMNS", columns)
    parser = build_parser("compare")
    compare = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction)).choices["compare"]
    ours = compare.format_help()
    compare.formatter_class = argparse.HelpFormatter  # argparse's own width lookup (shutil's)
    assert ours == compare.format_help()
