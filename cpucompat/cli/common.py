"""What every ``cpucompat`` command shares: exit codes, the common options,
the map an invocation names, and printing an answer as text or JSON."""
from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from ..display import MAX_MESSAGE, escape, shown
from ..engine.cpumap import CpuMap, load_cpu_map

__all__ = ["EXIT_OK", "EXIT_INCOMPATIBLE", "EXIT_ERROR", "common_options", "emit", "cpu_map_of", "one_line",
           "path_argument"]

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


def common_options() -> argparse.ArgumentParser:
    parent = argparse.ArgumentParser(add_help=False)
    parent.add_argument("--json", action="store_true", help="print JSON instead of text")
    parent.add_argument("--cpu-map", metavar="PATH", type=path_argument,
                        help="libvirt cpu_map directory, index.xml or legacy cpu_map.xml "
                             "(default: the embedded libvirt 9.0.0 map)")
    parent.add_argument("--debug", action="store_true", help="show tracebacks on errors")
    return parent


def emit(args: argparse.Namespace, value: Any, text: str) -> None:
    """Print `value` as JSON (exact; ASCII, so any str encodes) or `text`,
    each line with its control, bidi and surrogate characters escaped."""
    if args.json:
        json.dump(value, sys.stdout, indent=2, ensure_ascii=True)
        sys.stdout.write("\n")
    else:
        sys.stdout.write("".join(escape(line) + "\n" for line in text.rstrip("\n").split("\n")))


def cpu_map_of(args: argparse.Namespace) -> CpuMap:
    return load_cpu_map(args.cpu_map)
