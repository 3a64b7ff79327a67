"""The `cpucompat` command: argument parsing and formatting over the library.

Every command takes ``--json`` and ``--cpu-map PATH``.  Errors are one
line on stderr and exit status 2 (``--debug`` shows the traceback).

Names in the output come from hosts and maps nobody here wrote: text output
shows them through `cpucompat.display` (control and bidi characters as
escapes, names cut at 200 characters), JSON keeps them exact (escaped by
json, so a lone surrogate cannot break the encoding).
"""
from __future__ import annotations

import argparse
import sys
from typing import Any, NoReturn, Sequence

from ..errors import CpuCompatError
from .common import (EXIT_ERROR, EXIT_INCOMPATIBLE, EXIT_OK, HelpFormatter, common_options, cpu_map_of, emit,
                     one_line, path_argument)

# Each command imports what it runs only when it runs (a one-shot `compare`
# loads neither the planner, nor Nova's configuration, nor networkx).  The
# commands other modules define, by module, so that running one builds only
# its parser; an unknown name, no command or the top-level help builds them all.
COMMAND_MODULES = {  # module: (the function adding its commands, their names)
    "planner": ("add_commands", ("classes", "targets", "domain", "domains", "common", "whatif", "stranded",
                                 "levels", "graph", "report")),
    "placement": ("add_commands", ("placement",)),
    "guest": ("add_command", ("guest-xml",)),
    "maps": ("add_command", ("maps",)),
}

__all__ = ["build_parser", "main"]

# -- core commands -----------------------------------------------------------

def cmd_models(args: argparse.Namespace) -> int:
    from ..display import shown

    cpumap = cpu_map_of(args)
    archmaps = [cpumap.arch(args.arch)] if args.arch else list(cpumap.arches.values())
    rows = []
    for archmap in archmaps:
        for m in archmap.models:
            rows.append({"name": m.name, "arch": archmap.name, "vendor": m.vendor,
                         "features": m.features.bit_count(), "alias_of": m.alias_of,
                         "canonical": m.canonical, "decode_host": m.decode_host,
                         "decode_guest": m.decode_guest})
    lines = [f"{shown(r['name']):<32} {r['arch']:<6} {shown(r['vendor'] or '-'):<8} {r['features']:>4} features"
             + (f"  (= {shown(r['alias_of'])})" if r["alias_of"] else "") for r in rows]
    emit(args, rows, "\n".join(lines))
    return EXIT_OK


def cmd_show(args: argparse.Namespace) -> int:
    from ..display import shown
    from ..engine.graph import model_neighbours

    cpumap = cpu_map_of(args)
    archmap = cpumap.arch(args.arch)
    model = archmap.model(args.model)
    below, above = model_neighbours(archmap, model.name)
    chain = []
    parent = model.parent
    while parent:
        chain.append(parent)
        parent = archmap.model_by_name[parent].parent
    value = {"name": model.name, "arch": archmap.name, "vendor": model.vendor,
             "parents": chain, "alias_of": model.alias_of, "canonical": model.canonical,
             "features": archmap.names(model.features), "removed": archmap.names(model.removed),
             "added": archmap.names(model.added),
             "signatures": [{"family": s.family, "model": s.model,
                             "steppings": sorted(s.steppings) if s.steppings is not None else None}
                            for s in model.signatures],
             "below": below, "above": above}
    text = [f"Model:    {shown(model.name)} ({archmap.name}, vendor {shown(model.vendor or 'any')})"]
    if chain:
        text.append(f"Parents:  {' <- '.join(map(shown, chain))}")
    if model.alias_of:
        text.append(f"Alias of: {shown(model.alias_of)}")
    text.append(f"Features ({model.features.bit_count()}): {' '.join(map(shown, value['features']))}")
    if value["removed"]:
        text.append(f"Removed:  {' '.join(map(shown, value['removed']))}")
    text.append(f"Just below (subsets):   {', '.join(map(shown, below)) or '-'}")
    text.append(f"Just above (supersets): {', '.join(map(shown, above)) or '-'}")
    emit(args, value, "\n".join(text))
    return EXIT_OK


def cmd_expand(args: argparse.Namespace) -> int:
    from ..engine.baseline import expand
    from ..inputs.parse import read_cpus

    cpumap = cpu_map_of(args)
    results = [expand(cpu, cpumap, migratable=args.migratable) for cpu in read_cpus(args.file, cpumap)]
    value = [{"arch": r.arch, "vendor": r.vendor, "model": r.model, "features": list(r.expanded),
              "disabled": list(r.disabled)} for r in results]
    emit(args, value, "".join(r.to_xml(expanded=True) for r in results))
    return EXIT_OK


def cmd_baseline(args: argparse.Namespace) -> int:
    from ..engine.baseline import baseline
    from ..inputs.parse import read_cpus

    cpumap = cpu_map_of(args)
    result = baseline(read_cpus(args.file, cpumap), cpumap, migratable=args.migratable)
    emit(args, result.to_dict(), result.to_xml(expanded=args.features))
    return EXIT_OK


def cmd_compare(args: argparse.Namespace) -> int:
    from ..display import shown
    from ..engine.compare import compare
    from ..engine.rules import Result
    from ..inputs.parse import read_cpus

    cpumap = cpu_map_of(args)
    guests = read_cpus(args.guest, cpumap)
    if args.domcaps is not None:  # virConnectCompareHypervisorCPU, by the map's release's rules
        from ..engine.hypervisor import compare_hypervisor
        from ..inputs.domcaps import read_domcaps

        host_model, models = read_domcaps(args.domcaps, cpumap)
        results = [compare_hypervisor(g, host_model, models, cpumap) for g in guests]
    else:
        if args.host is not None:
            host = read_cpus(args.host, cpumap)[0]
        else:
            from ..inputs.live import local_host_cpu

            host = local_host_cpu(cpumap)
        results = [compare(g, host, cpumap) for g in guests]
    text = []
    for guest, r in zip(guests, results):
        label = {Result.IDENTICAL: "identical to", Result.SUPERSET: "a superset of",
                 Result.INCOMPATIBLE: "incompatible with"}[r.result]
        text.append(f"Host CPU is {label} the guest CPU {shown(guest.describe())}.")
        if not r.compatible:
            text.append(f"  Why: {one_line(r.reason)}")
    emit(args, [r.to_dict() for r in results], "\n".join(text))
    return EXIT_OK if all(r.compatible for r in results) else EXIT_INCOMPATIBLE


def cmd_decode(args: argparse.Namespace) -> int:
    from ..engine.decode import decode
    from ..errors import InvalidConfig
    from ..inputs.parse import read_cpuid_dumps
    from ..inputs.qmp import read_qemu_models

    cpumap = cpu_map_of(args)
    models = None
    if args.qemu_models:
        if not args.guest:
            raise InvalidConfig("--qemu-models needs --guest: the host CPU (virsh capabilities) is "
                                 "decoded against every model of the map", source=args.qemu_models)
        models = read_qemu_models(args.qemu_models)
    results = [decode(d, cpumap, guest=args.guest, migratable=args.migratable, models=models)
               for d in read_cpuid_dumps(args.file)]
    value = []
    text = []
    for r in results:
        sig = ({"family": r.signature[0], "model": r.signature[1], "stepping": r.signature[2]}
               if r.signature else None)
        value.append({"arch": r.arch, "vendor": r.vendor, "model": r.model, "signature": sig,
                      "features": list(r.features), "disabled": list(r.disabled)})
        text.append(r.to_xml(host=not args.guest))
    emit(args, value, "".join(text))
    return EXIT_OK


CPU_FILE_HELP = ("CPUs: libvirt capabilities, domain capabilities, <cpu> or <domain> XML, virsh cpu-baseline "
                 "output, Nova cpu_info JSON, /proc/cpuinfo or raw CPUID dumps")


class _Version(argparse.Action):
    """--version: the installed distribution's version (looked up only when asked) and the embedded map's."""

    def __init__(self, option_strings: Sequence[str], dest: str, help: str | None = None) -> None:
        super().__init__(option_strings, dest, nargs=0, default=argparse.SUPPRESS, help=help)

    def __call__(self, parser: argparse.ArgumentParser, namespace: argparse.Namespace, values: object,
                 option_string: str | None = None) -> NoReturn:
        from importlib.metadata import PackageNotFoundError, version

        from ..engine.cpumap import embedded_cpu_map

        try:
            mine = version("cpucompat")
        except PackageNotFoundError:
            mine = "(not installed)"
        print(f"cpucompat {mine} (embedded cpu_map: {embedded_cpu_map().version or 'version unknown'})")
        parser.exit(EXIT_OK)


class _Parser(argparse.ArgumentParser):
    """Usage errors too are one line on stderr, exit status 2; help formatted
    by `common.HelpFormatter`."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("formatter_class", HelpFormatter)
        super().__init__(*args, **kwargs)

    def error(self, message: str) -> NoReturn:
        self.exit(EXIT_ERROR, f"cpucompat: error: {one_line(message)}\n")


def _add_models(sub: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    p = sub.add_parser("models", parents=[common], help="list the CPU models of the map")
    p.add_argument("--arch", help="only this arch (x86_64, ppc64, aarch64, ...)")
    p.set_defaults(func=cmd_models)


def _add_show(sub: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    p = sub.add_parser("show", parents=[common], help="a model's parents, features and neighbours")
    p.add_argument("model", metavar="MODEL", help="a CPU model of the map (cpucompat models lists them)")
    p.add_argument("--arch", default="x86", help="the map's arch to look in (default x86)")
    p.set_defaults(func=cmd_show)


def _add_expand(sub: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    p = sub.add_parser("expand", parents=[common], help="full feature list of every CPU in FILE")
    p.add_argument("--migratable", action="store_true", help="drop non-migratable features")
    p.add_argument("file", metavar="FILE", type=path_argument, help=CPU_FILE_HELP)
    p.set_defaults(func=cmd_expand)


def _add_baseline(sub: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    p = sub.add_parser("baseline", parents=[common], help="the best CPU all CPUs in FILE can run")
    p.add_argument("--features", action="store_true", help="list every feature (EXPAND_FEATURES)")
    p.add_argument("--migratable", action="store_true", help="drop non-migratable features")
    p.add_argument("file", metavar="FILE", type=path_argument, help=CPU_FILE_HELP)
    p.set_defaults(func=cmd_baseline)


def _add_compare(sub: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    p = sub.add_parser("compare", parents=[common], help="can the guest CPUs in GUESTFILE run on the host?")
    where = p.add_mutually_exclusive_group()
    where.add_argument("--host", metavar="HOSTFILE", type=path_argument, help="host CPU (default: this machine)")
    where.add_argument("--domcaps", metavar="DOMCAPS", type=path_argument,
                       help="compare as virConnectCompareHypervisorCPU with this domain capabilities XML "
                            "(its host-model CPU and QEMU's usable models and blockers)")
    p.add_argument("guest", metavar="GUESTFILE", type=path_argument,
                   help="guest CPUs (<cpu> or <domain> XML, several concatenated, or any CPU input above)")
    p.set_defaults(func=cmd_compare)


def _add_decode(sub: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    p = sub.add_parser("decode", parents=[common], help="host (or --guest host-model) CPU of raw CPUID dumps")
    p.add_argument("--guest", action="store_true", help="decode as the host-model guest CPU")
    p.add_argument("--migratable", action="store_true", help="drop non-migratable features")
    p.add_argument("--qemu-models", metavar="QMP_JSON", type=path_argument,
                   help="with --guest: decode as libvirt's QEMU driver does, against the models and "
                        "blockers of QEMU's query-cpu-definitions reply in this file")
    p.add_argument("file", metavar="FILE", type=path_argument,
                   help="raw CPUID dumps (<cpudata arch='x86'> elements, one or several)")
    p.set_defaults(func=cmd_decode)


# The commands this module defines, each with the function adding its parser.
CORE_COMMANDS = {"models": _add_models, "show": _add_show, "expand": _add_expand, "baseline": _add_baseline,
                 "compare": _add_compare, "decode": _add_decode}


def build_parser(command: str | None = None) -> argparse.ArgumentParser:
    """The parser of every command, or only of `command` when it names one:
    a one-shot command builds one sub-parser, not thirty (argparse's
    parsers and their translated messages cost milliseconds each)."""
    common = common_options()
    parser = _Parser(
        prog="cpucompat", description="libvirt-exact CPU compatibility, baselines and migration domains")
    parser.add_argument("--version", action=_Version, help="print cpucompat's version and that of its map, and exit")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", title="commands",
                                description="cpucompat COMMAND --help says more about each")
    if command in CORE_COMMANDS:
        CORE_COMMANDS[command](sub, common)
        return parser
    import importlib

    owner = next((module for module, (_, names) in COMMAND_MODULES.items() if command in names), None)
    if owner is None:  # no command, or an unknown one: all of them, for the help or the error
        for add in CORE_COMMANDS.values():
            add(sub, common)
    for module, (adder, _) in COMMAND_MODULES.items():
        if owner in (None, module):
            getattr(importlib.import_module(f"{__package__}.{module}"), adder)(sub, common)
    return parser


def _command(argv: Sequence[str]) -> str | None:
    """The command `argv` names: its first word not an option (the
    top-level options, --help and --version, take no value); None when the
    top-level help comes first (it lists every command)."""
    for word in argv:
        if word in ("-h", "--help"):
            return None
        if not word.startswith("-"):
            return word
    return None


def main(argv: Sequence[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    parser = build_parser(_command(argv))
    args = parser.parse_args(argv)
    if args.command is None:  # no command: how to give one
        parser.print_help(sys.stderr)
        return EXIT_ERROR
    try:
        return args.func(args)
    except CpuCompatError as exc:
        if getattr(args, "debug", False):
            import traceback

            traceback.print_exc()
        print(f"cpucompat {args.command}: error: {one_line(exc)}", file=sys.stderr)
        return EXIT_ERROR
    except KeyboardInterrupt:
        return EXIT_ERROR
    except BrokenPipeError:
        return EXIT_OK
    except Exception as exc:  # a bug: still one line, never a traceback by default
        if getattr(args, "debug", False):
            import traceback

            traceback.print_exc()
        print(f"cpucompat {args.command}: internal error: {type(exc).__name__}: {one_line(exc)} "
              "(run with --debug for details)", file=sys.stderr)
        return EXIT_ERROR

