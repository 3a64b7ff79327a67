"""The planner's subcommands of `cpucompat` (registered into cli.py).

Every command takes an INVENTORY (``sample``, a directory, a JSON/YAML
file, a compute_nodes dump or libvirt URIs; see cpucompat.inventory), and
``--json`` with the keys documented in README.rst.
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path

from . import cli
from .atomic import write_atomic
from .errors import InvalidInventory
from .fleet import DEFAULT_MAX_LOSS, Fleet, Guest
from .inventory import load_inventory
from .parse import read_cpus


def _fleet(args: argparse.Namespace) -> Fleet:
    return Fleet.load(args.inventory, cli.cpu_map_of(args), timeout=args.timeout, progress=not args.json)


def _failures(fleet: Fleet) -> list[str]:
    return [f"unreadable host {name}: {reason}" for name, reason in sorted(fleet.failures.items())]


def _emit(args: argparse.Namespace, fleet: Fleet, value: dict, lines: list[str]) -> int:
    value["unreadable"] = dict(sorted(fleet.failures.items()))
    cli.emit(args, value, "\n".join(lines + _failures(fleet)))
    return cli.EXIT_OK


def cmd_classes(args: argparse.Namespace) -> int:
    fleet = _fleet(args)
    rows = [c.to_dict(fleet.archmap) for c in fleet.classes]
    lines = [f"{'class':<6} {'vendor':<7} {'host CPU':<22} {'host-model':<22} {'level':<10} hosts"]
    for c in rows:
        lines.append(f"C{c['class']:<5} {c['vendor'] or '-':<7} {c['model']:<22} {c['host_model']:<22} "
                     f"{c['level'] or '-':<10} {len(c['hosts'])}: {' '.join(c['hosts'])}")
    return _emit(args, fleet, {"classes": rows}, lines)


def cmd_targets(args: argparse.Namespace) -> int:
    fleet = _fleet(args)
    result = fleet.targets(args.host)
    lines = [f"A host-model guest started on {args.host} runs as {result.guest.model} "
             f"+{len(result.guest.features)} -{len(result.guest.disabled)} features.",
             f"It can live-migrate to {len(result.targets)} hosts: {' '.join(result.targets) or '-'}"]
    for r in result.refused:
        lines.append(f"  not {r.host}: missing {' '.join(r.missing) or r.reason}")
    return _emit(args, fleet, result.to_dict(), lines)


def cmd_domain(args: argparse.Namespace) -> int:
    fleet = _fleet(args)
    if args.guest in fleet.class_of:
        guest = fleet.class_of[args.guest].host_model.as_cpu()
        label = f"host-model CPU of {args.guest}"
    else:
        guest = read_cpus(args.guest, fleet.cpumap)[0]
        label = guest.describe()
    hosts, refused = fleet.domain(guest)
    value = {"guest": label, "hosts": list(hosts),
             "refused": [{"host": r.host, "reason": r.reason, "missing": list(r.missing)} for r in refused]}
    lines = [f"{len(hosts)} hosts can run {label}: {' '.join(hosts) or '-'}"]
    lines += [f"  not {r.host}: {r.reason}" for r in refused]
    return _emit(args, fleet, value, lines)


def _domain_lines(domains) -> list[str]:
    lines = []
    for d in domains:
        worst = max((len(f) for f in d.loss.values()), default=0)
        lines.append(f"{d.name}: {len(d.hosts)} hosts, common CPU {d.common.model} "
                     f"+{len(d.common.features)} -{len(d.common.disabled)}, {d.level or 'below x86-64-v1'}, "
                     f"hosts give up at most {worst} features")
        lines.append(f"    hosts: {' '.join(d.hosts)}")
    return lines


def cmd_domains(args: argparse.Namespace) -> int:
    fleet = _fleet(args)
    domains = fleet.domains(args.max_domains, args.max_loss)
    lines = [f"{len(fleet.hosts)} hosts in {len(fleet.classes)} CPU classes form {len(domains)} migration domains:"]
    return _emit(args, fleet, {"domains": [d.to_dict() for d in domains]}, lines + _domain_lines(domains))


def cmd_common(args: argparse.Namespace) -> int:
    fleet = _fleet(args)
    result = fleet.common(args.hosts)
    lines = [f"Best common CPU of {len(result.hosts)} hosts: {result.common.model} "
             f"+{' +'.join(result.common.features) or ''} {' '.join('-' + f for f in result.common.disabled)}".rstrip(),
             f"Guaranteed level: {result.level or 'below x86-64-v1'}"]
    for host, lost in result.loss.items():
        lines.append(f"  {host} gives up {len(lost)}: {' '.join(lost) or '-'}")
    return _emit(args, fleet, result.to_dict(), lines)


def cmd_whatif(args: argparse.Namespace) -> int:
    fleet = _fleet(args)
    added = {}
    if args.add:
        extra = load_inventory(args.add, fleet.cpumap)
        if extra.failures:
            raise InvalidInventory("; ".join(f"{h}: {r}" for h, r in extra.failures.items()), source=", ".join(args.add))
        added = dict(extra.hosts)
    result = fleet.what_if(added, args.retire or (), args.max_domains, args.max_loss)
    lines = [f"Adding {len(result.added)} and retiring {len(result.retired)} hosts "
             + ("changes:" if result.changed else "changes nothing.")]
    if result.common_before != result.common_after:
        for vendor in sorted(set(result.common_before) | set(result.common_after)):
            lines.append(f"  {vendor} fleet-wide common CPU: {result.common_before.get(vendor, '-')} -> "
                         f"{result.common_after.get(vendor, '-')}")
    for host, gained in result.targets_gained.items():
        lines.append(f"  {host} gains targets: {' '.join(gained)}")
    for host, lost in result.targets_lost.items():
        lines.append(f"  {host} loses targets: {' '.join(lost)}")
    if [d.to_dict() for d in result.domains_before] != [d.to_dict() for d in result.domains_after]:
        lines.append("  domains before:")
        lines += ["  " + line for line in _domain_lines(result.domains_before)]
        lines.append("  domains after:")
        lines += ["  " + line for line in _domain_lines(result.domains_after)]
    return _emit(args, fleet, result.to_dict(), lines)


def _guests(path: str, fleet: Fleet) -> list[Guest]:
    """Guests file: JSON list/object of {name, host[, cpu]} (cpu: XML or a file)."""
    try:
        value = json.loads(Path(path).read_text())
    except (OSError, ValueError) as exc:
        raise InvalidInventory(f"cannot read guests: {exc}", source=path) from None
    rows = value if isinstance(value, list) else [dict(row, name=name) for name, row in value.items()]
    guests = []
    for i, row in enumerate(rows):
        if not isinstance(row, dict) or "host" not in row:
            raise InvalidInventory(f"guest {i} needs a name and a host", source=path)
        cpu = None
        if row.get("cpu"):
            from .parse import parse_cpus
            text = row["cpu"]
            cpu = (parse_cpus(text, f"{path}: guest {row.get('name', i)}", fleet.cpumap)[0]
                   if text.lstrip().startswith("<") else read_cpus(Path(path).parent / text, fleet.cpumap)[0])
        guests.append(Guest(str(row.get("name", f"guest-{i}")), str(row["host"]), cpu))
    return guests


def cmd_stranded(args: argparse.Namespace) -> int:
    fleet = _fleet(args)
    result = fleet.stranded(_guests(args.guests, fleet))
    lines = [f"{len(result)} stranded guests"] + [f"  {s.guest} on {s.host}: {s.reason}" for s in result]
    return _emit(args, fleet, {"stranded": [s.to_dict() for s in result]}, lines)


def cmd_levels(args: argparse.Namespace) -> int:
    fleet = _fleet(args)
    levels = fleet.levels()
    domains = fleet.domains(args.max_domains, args.max_loss)
    lines = [f"{host:<30} {level or '-'}" for host, level in levels.items()]
    lines += [f"domain {d.name} ({len(d.hosts)} hosts): {d.level or '-'}" for d in domains]
    value = {"hosts": levels, "domains": {d.name: d.level for d in domains}}
    return _emit(args, fleet, value, lines)


def cmd_graph(args: argparse.Namespace) -> int:
    from .report import graph_dot, graph_graphml, graph_png, graph_svg

    fleet = _fleet(args)
    writers = {"dot": graph_dot, "graphml": graph_graphml, "svg": graph_svg, "png": graph_png}
    write_atomic(args.output, writers[args.format](fleet))
    cli.emit(args, {"output": args.output, "format": args.format, "classes": len(fleet.classes)},
             f"wrote {args.format} lattice of {len(fleet.classes)} CPU classes to {args.output}")
    return cli.EXIT_OK


def cmd_report(args: argparse.Namespace) -> int:
    from .report import html_report

    fleet = _fleet(args)
    guests = _guests(args.guests, fleet) if args.guests else []
    write_atomic(args.output, html_report(fleet, fleet.domains(args.max_domains, args.max_loss), guests))
    cli.emit(args, {"output": args.output, "hosts": len(fleet.hosts), "unreadable": len(fleet.failures)},
             f"wrote report on {len(fleet.hosts)} hosts to {args.output}")
    return cli.EXIT_OK


def add_commands(sub: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    planner = argparse.ArgumentParser(add_help=False)
    planner.add_argument("inventory", metavar="INVENTORY",
                         help="'sample', a directory of host files, a JSON/YAML inventory, a "
                              "compute_nodes dump, or a libvirt URI")
    planner.add_argument("--timeout", type=float, default=30.0, help="seconds to wait for live hosts")
    partition = argparse.ArgumentParser(add_help=False)
    partition.add_argument("--max-domains", type=int, metavar="K", help="at most K domains")
    partition.add_argument("--max-loss", type=int, metavar="N",
                           help=f"no host gives up more than N features (default {DEFAULT_MAX_LOSS})")
    parents = [common, planner]

    def add(name: str, func, help_text: str, extra=()) -> argparse.ArgumentParser:
        p = sub.add_parser(name, parents=parents + list(extra), help=help_text)
        p.set_defaults(func=func)
        return p

    add("classes", cmd_classes, "hosts grouped by identical CPU")
    add("targets", cmd_targets, "where a host-model guest of HOST can live-migrate").add_argument("host")
    add("domain", cmd_domain, "hosts that can run a guest CPU (a file, or a host's host-model)").add_argument(
        "guest", metavar="GUEST", help="a guest CPU file, or a host name for its host-model CPU")
    add("domains", cmd_domains, "partition the fleet into migration domains", [partition])
    add("common", cmd_common, "best common CPU of some hosts").add_argument("hosts", nargs="+")
    p = add("whatif", cmd_whatif, "what changes when hosts are added or retired", [partition])
    p.add_argument("--add", nargs="+", metavar="INVENTORY", help="inventories of hosts to add")
    p.add_argument("--retire", nargs="+", metavar="HOST", help="hosts to retire")
    add("stranded", cmd_stranded, "running guests with nowhere to go").add_argument(
        "guests", help="JSON: [{name, host[, cpu]}]")
    add("levels", cmd_levels, "x86-64 psABI level per host and domain", [partition])
    p = add("graph", cmd_graph, "export the migration lattice")
    p.add_argument("--format", default="dot", choices=["graphml", "dot", "svg", "png"])
    p.add_argument("-o", "--output", required=True)
    p = add("report", cmd_report, "one self-contained HTML report", [partition])
    p.add_argument("-o", "--output", required=True)
    p.add_argument("--guests", help="JSON of running guests, for the stranded section")


cli.register(add_commands)
