"""What every ``cpucompat`` command shares: exit codes, the common options,
the map an invocation names, and printing an answer as text or JSON.

Every answer says which map (and libvirt version) it used: a JSON answer
carries a ``cpu_map`` key (``{"version": "12.8.0", "embedded": true, "rules":
"12.8.0"}``; in each object of a JSON list), a text answer is preceded by one
``cpucompat: cpu_map: libvirt 12.8.0 (embedded)`` line on stderr, so that
stdout stays the answer alone (XML for virsh, say).
"""
from __future__ import annotations

import argparse
import os
import sys
from typing import TYPE_CHECKING, Any

from ..display import MAX_MESSAGE, escape, shown
from ..engine.releases import DEFAULT_VERSION, KNOWN_VERSIONS

if TYPE_CHECKING:
    from ..engine.cpumap import CpuMap

__all__ = ["EXIT_OK", "EXIT_INCOMPATIBLE", "EXIT_ERROR", "HelpFormatter", "common_options", "emit", "cpu_map_of",
           "one_line", "path_argument"]

EXIT_OK, EXIT_INCOMPATIBLE, EXIT_ERROR = 0, 1, 2


def path_argument(text: str) -> str:
    """An argparse type for every path argument: an empty one is a usage
    error, not "this machine" or the current directory."""
    if not text:
        raise argparse.ArgumentTypeError("an empty path names no file")
    return text


def one_line(message: object) -> str:
    """A message as one line on stderr: newlines and other controls escaped,
    cut to MAX_MESSAGE characters (its start names the input)."""
    return shown(message, MAX_MESSAGE)


class HelpFormatter(argparse.HelpFormatter):
    """argparse's, given the terminal's width as shutil.get_terminal_size
    finds it (``$COLUMNS``, else standard output's terminal, else 80):
    argparse would import shutil for it on every parser's first argument,
    milliseconds of each command's start-up for help it seldom prints."""

    def __init__(self, prog: str, indent_increment: int = 2, max_help_position: int = 24,
                 width: int | None = None) -> None:
        if width is None:
            try:
                columns = int(os.environ.get("COLUMNS", ""))
            except ValueError:
                columns = 0
            if columns <= 0:
                try:
                    columns = os.get_terminal_size(sys.__stdout__.fileno()).columns  # type: ignore[union-attr]
                except (AttributeError, ValueError, OSError):
                    columns = 0
            width = (columns or 80) - 2  # argparse's margin
        super().__init__(prog, indent_increment, max_help_position, width)


def common_options() -> argparse.ArgumentParser:
    parent = argparse.ArgumentParser(add_help=False, formatter_class=HelpFormatter)
    parent.add_argument("--json", action="store_true", help="print JSON instead of text")
    parent.add_argument("--cpu-map", metavar="VERSION|PATH", type=path_argument,
                        help=f"an embedded map by libvirt version ({', '.join(KNOWN_VERSIONS)}; "
                             f"`cpucompat maps` lists them), or a libvirt cpu_map directory, index.xml "
                             f"or legacy cpu_map.xml (default: the embedded libvirt {DEFAULT_VERSION} map)")
    parent.add_argument("--debug", action="store_true", help="show tracebacks on errors")
    return parent


def emit(args: argparse.Namespace, value: Any, text: str) -> None:
    """Print `value` as JSON (exact; ASCII, so any str encodes) or `text`,
    each line with its control, bidi and surrogate characters escaped; with
    the map the command used (`cpu_map_of`), as the module docstring says."""
    cpumap = getattr(args, "loaded_cpu_map", None)
    if cpumap is not None:
        from ..engine.maps import map_version

        used = map_version(cpumap)
        if args.json:
            label = used.to_dict()
            if isinstance(value, dict):
                value = {**value, "cpu_map": label}
            elif isinstance(value, list):
                value = [{**row, "cpu_map": label} if isinstance(row, dict) else row for row in value]
        else:
            sys.stderr.write(f"cpucompat: {escape(shown(used.describe(), MAX_MESSAGE))}\n")
    if args.json:
        import json

        json.dump(value, sys.stdout, indent=2, ensure_ascii=True)
        sys.stdout.write("\n")
    else:
        sys.stdout.write("".join(escape(line) + "\n" for line in text.rstrip("\n").split("\n")))


def cpu_map_of(args: argparse.Namespace) -> CpuMap:
    """The map `--cpu-map` names (a version of an embedded map or a path);
    `emit` then says which one the answer used."""
    from ..engine.maps import resolve_map_spec

    cpumap = resolve_map_spec(args.cpu_map)
    args.loaded_cpu_map = cpumap
    return cpumap
