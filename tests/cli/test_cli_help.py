"""The CLI explains itself: --version, usage without a command, help on every argument."""
from __future__ import annotations

from cpucompat.engine.releases import DEFAULT_VERSION
import argparse
import subprocess
import sys
import tempfile

import pytest

import cpucompat
from cpucompat.cli.main import build_parser


def run(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "cpucompat", *args], capture_output=True, text=True,
                          timeout=300, cwd=tempfile.gettempdir())


def _parsers(parser: argparse.ArgumentParser, prog: str = "cpucompat"):
    yield prog, parser
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                yield from _parsers(sub, f"{prog} {name}")


def test_every_argument_of_every_command_has_help():
    missing = [f"{prog}: {action.dest}" for prog, parser in _parsers(build_parser()) for action in parser._actions
               if not isinstance(action, argparse._SubParsersAction) and not (action.help or "").strip()]
    assert not missing
    commands = dict(_parsers(build_parser()))
    assert {"cpucompat show", "cpucompat graph", "cpucompat targets", "cpucompat common"} <= set(commands)


def test_version_names_the_package_and_its_map():
    proc = run("--version")
    assert proc.returncode == 0 and proc.stderr == ""
    assert proc.stdout == (f"cpucompat {cpucompat_version()} "
                           f"(embedded cpu_map: {cpucompat.embedded_cpu_map().version})\n")
    assert DEFAULT_VERSION in proc.stdout  # the embedded default map's libvirt release


def cpucompat_version() -> str:
    from importlib.metadata import version

    return version("cpucompat")


def test_no_command_prints_usage_on_stderr_and_exits_2():
    proc = run()
    assert proc.returncode == 2 and proc.stdout == ""
    assert proc.stderr.startswith("usage: cpucompat")
    for command in ("compare", "baseline", "domains", "report"):
        assert f"    {command} " in proc.stderr


@pytest.mark.parametrize("command, words", [("show", "a CPU model of the map"), ("graph", "from the extension of -o"),
                                            ("targets", "where the guest starts"), ("decode", "raw CPUID dumps")])
def test_command_help_explains_its_arguments(command, words):
    proc = run(command, "--help")
    assert proc.returncode == 0 and words in " ".join(proc.stdout.split())
