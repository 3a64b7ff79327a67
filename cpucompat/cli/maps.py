"""``cpucompat maps``: the embedded cpu_maps, one per libvirt release."""
from __future__ import annotations

import argparse

from ..engine.maps import embedded_map_path, map_version
from ..engine.cpumap import load_cpu_map
from ..engine.releases import DEFAULT_VERSION, KNOWN_VERSIONS
from .common import EXIT_OK, emit

__all__ = ["add_command", "cmd_maps"]


def cmd_maps(args: argparse.Namespace) -> int:
    rows = []
    for version in KNOWN_VERSIONS:
        cpumap = load_cpu_map(embedded_map_path(version))
        used = map_version(cpumap)
        x86 = cpumap.arches.get("x86")
        rows.append({"version": version, "default": version == DEFAULT_VERSION, "path": cpumap.source,
                     "x86_models": len(x86.models) if x86 else 0,
                     "qemu_filtered": sorted(used.rules.qemu_filtered)})
    lines = [f"{r['version']:<8} {r['x86_models']:>4} x86 models{'  (default)' if r['default'] else ''}"
             for r in rows]
    emit(args, rows, "\n".join(lines) + "\n(use one with --cpu-map VERSION, or give the computes' own "
         "map: --cpu-map /usr/share/libvirt/cpu_map)")
    return EXIT_OK


def add_command(sub: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    p = sub.add_parser("maps", parents=[common], help="the embedded cpu_maps (one per libvirt release)")
    p.set_defaults(func=cmd_maps)
