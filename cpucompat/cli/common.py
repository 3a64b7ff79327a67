"""What every ``cpucompat`` command shares: exit codes, the common options,
the map an invocation names, and printing an answer as text or JSON."""
from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from ..engine.cpumap import CpuMap, load_cpu_map

__all__ = ["EXIT_OK", "EXIT_INCOMPATIBLE", "EXIT_ERROR", "common_options", "emit", "cpu_map_of"]

EXIT_OK, EXIT_INCOMPATIBLE, EXIT_ERROR = 0, 1, 2


def common_options() -> argparse.ArgumentParser:
    parent = argparse.ArgumentParser(add_help=False)
    parent.add_argument("--json", action="store_true", help="print JSON instead of text")
    parent.add_argument("--cpu-map", metavar="PATH",
                        help="libvirt cpu_map directory, index.xml or legacy cpu_map.xml "
                             "(default: the embedded libvirt 9.0.0 map)")
    parent.add_argument("--debug", action="store_true", help="show tracebacks on errors")
    return parent


def emit(args: argparse.Namespace, value: Any, text: str) -> None:
    if args.json:
        json.dump(value, sys.stdout, indent=2)
        sys.stdout.write("\n")
    else:
        sys.stdout.write(text if text.endswith("\n") else text + "\n")


def cpu_map_of(args: argparse.Namespace) -> CpuMap:
    return load_cpu_map(args.cpu_map)

