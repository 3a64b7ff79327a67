"""The planner's subcommands of `cpucompat` (`main.build_parser` adds them).

Every command takes INVENTORY sources (``sample``, a directory, a JSON/YAML
file, hypervisors or compute nodes from Nova, a file listing libvirt URIs,
or URIs; see cpucompat.planner.inventory), merged into one fleet, and ``--json``
with the keys documented in docs/cli.rst.  Unreadable hosts are listed on
stderr (with ``--json``: under ``unreadable``); when no host can be read,
the command fails.  ``graph`` and ``report`` write ``-o PATH`` through
`cpucompat.atomic.write_output` (``-`` is standard output, and then holds
the output alone).
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Callable, Iterable

from . import common as cli
from .progress import ProgressLine, progress_line
from ..atomic import write_output
from ..display import escape, shown
from ..errors import InvalidArgument, InvalidInventory
from ..inputs.parse import read_cpus
from ..planner.fleet import DEFAULT_MAX_LOSS, Fleet
from ..planner.guests import stranded_guests
from ..planner.inventory import load_inventory
from ..planner.results import domain_shape, grouped, plural

__all__ = ["add_commands", "live_options", "partition_options", "load_fleet", "INVENTORY_HELP"]


def _live(args: argparse.Namespace, on_progress: ProgressLine | None) -> dict:
    """How hosts are read: each live one within --timeout, with progress on a terminal."""
    return {"timeout": args.timeout, "on_progress": on_progress,
            "trust_given_uris": args.trust_command_line_uris}


def _fleet(args: argparse.Namespace, reasons_in_json: bool = True) -> Fleet:
    """The fleet of the inventories; unreadable hosts are listed on stderr,
    unless the JSON answer gives their reasons (`reasons_in_json`)."""
    with progress_line() as on_progress:
        fleet = Fleet.load(args.inventory, cli.cpu_map_of(args), **_live(args, on_progress))
    if fleet.failures and (not args.json or not reasons_in_json or not fleet.hosts):
        _warn(f"{plural(len(fleet.failures), 'unreadable host')}, left out of the answer:",
              [f"{shown(name)}: {cli.one_line(reason)}" for name, reason in sorted(fleet.failures.items())])
    if not fleet.hosts:
        raise InvalidInventory(f"none of its {len(fleet.failures)} hosts could be read", source=fleet.source)
    if fleet.unknown_features:
        _warn(f"hosts report {plural(len(fleet.unknown_features), 'feature')} cpu_map {fleet.cpumap.source} "
              "does not know, so hosts differing in them share a class (a newer map, such as "
              "--cpu-map /usr/share/libvirt/cpu_map, tells them apart):",
              [", ".join(f"{shown(name)} ({plural(count, 'host')})" for name, count in fleet.unknown_features.items())])
    return fleet


load_fleet = _fleet  # for the other command modules (placement)


def _warn(title: str, lines: list[str]) -> None:
    """A warning on stderr; each line escaped (its names and reasons are cut by the caller)."""
    print(escape(title), file=sys.stderr)
    for line in lines:
        print(f"  {escape(line)}", file=sys.stderr)


def _names(names: Iterable[str], separator: str = " ") -> str:
    """Host (or feature) names for a line of text output, each shown safely."""
    return separator.join(map(shown, names))


def _emit(args: argparse.Namespace, fleet: Fleet, value: dict, lines: list[str]) -> int:
    value["unreadable"] = dict(sorted(fleet.failures.items()))
    cli.emit(args, value, "\n".join(lines))
    return cli.EXIT_OK


emit_fleet = _emit  # for the other command modules (placement)


def cmd_classes(args: argparse.Namespace) -> int:
    fleet = _fleet(args)
    rows = [c.to_dict(fleet.archmap) for c in fleet.classes]
    lines = [f"{'class':<6} {'vendor':<7} {'host CPU':<22} {'host-model':<22} {'level':<10} hosts"]
    for c in rows:
        lines.append(f"C{c['class']:<5} {c['vendor'] or '-':<7} {shown(c['model']):<22} {shown(c['host_model']):<22} "
                     f"{c['level'] or '-':<10} {_hosts_summary(c['hosts'], args.every_host)}")
    # twins of one CPU an older libvirt shows otherwise: why they stay apart
    lines += [shown(split.describe(c.index), 2000) for c in fleet.classes for split in c.splits if split.lacks]
    return _emit(args, fleet, {"classes": rows}, lines)


def _refusal_lines(refused, every: bool) -> list[str]:
    """One line per refused class: its hosts (summarised) and why, as
    "not C7 EPYC-Rome, 4 hosts (a b c and 1 more): missing x y"."""
    lines = []
    for r in refused:
        why = f"missing {_names(r.missing)}" if r.missing else cli.one_line(r.reason)
        lines.append(f"  not C{r.cpu_class.index} {shown(r.cpu_class.cpu.model or '-')}, "
                     f"{_hosts_summary(r.hosts, every, '{count} ({names})')}: {why}")
    return lines


def cmd_targets(args: argparse.Namespace) -> int:
    fleet = _fleet(args)
    result = fleet.targets(args.host)
    lines = [f"A host-model guest started on {shown(args.host)} runs as {shown(result.guest.model)} "
             f"+{len(result.guest.features)} -{len(result.guest.disabled)} features.",
             f"It can live-migrate to {_hosts_summary(result.targets, args.every_host)}"]
    lines += _refusal_lines(result.refused, args.every_host)
    return _emit(args, fleet, result.to_dict(), lines)


def cmd_domain(args: argparse.Namespace) -> int:
    fleet = _fleet(args)
    if args.guest in fleet.class_of:
        guest = fleet.class_of[args.guest].host_model.as_cpu()
        label = f"host-model CPU of {args.guest}"
    elif args.guest in fleet.failures:
        raise InvalidInventory(f"host {shown(args.guest)} is unreadable: {fleet.failures[args.guest]}")
    else:
        guest = read_cpus(args.guest, fleet.cpumap)[0]
        label = guest.describe()
    hosts, refused = fleet.domain(guest)
    value = {"guest": label, "hosts": list(hosts), "refused": [r.to_dict() for r in refused]}
    lines = [f"{plural(len(hosts), 'host')} can run {shown(label)}: {_host_names(hosts, args.every_host)}"]
    lines += _refusal_lines(refused, args.every_host)
    return _emit(args, fleet, value, lines)


FEW_HOSTS = 3  # host names a class shows in text output without --hosts


def _hosts_summary(hosts: tuple[str, ...] | list[str], every: bool, form: str = "{count}: {names}") -> str:
    """"3 hosts: a b c" or, past FEW_HOSTS (without --hosts), "12 hosts: a b c
    and 9 more" (`form` places the count and the names)."""
    if not hosts:
        return "no host"
    return form.format(count=plural(len(hosts), "host"), names=_host_names(hosts, every))


def _host_names(hosts: tuple[str, ...] | list[str], every: bool) -> str:
    """"a b c" or, past FEW_HOSTS (without --hosts), "a b c and 9 more"."""
    shown_hosts = hosts if every else hosts[:FEW_HOSTS]
    more = len(hosts) - len(shown_hosts)
    return (_names(shown_hosts) or "-") + (f" and {more} more" if more else "")


def _class_lines(members, every: bool) -> list[str]:
    """One line per class of an answer: its hosts (summarised) and what they give up."""
    lines = []
    for m in members:
        verb = "gives up" if len(m.hosts) == 1 else "give up"
        given_up = f"{verb} {len(m.loss)}: {_names(m.loss)}" if m.loss else f"{verb} none"
        lines.append(f"C{m.cpu_class.index} {shown(m.cpu_class.cpu.model or '-')}, "
                     f"{_hosts_summary(m.hosts, every)}; {given_up}")
    return lines


def _domain_lines(domains, every: bool) -> list[str]:
    lines = []
    for d in domains:
        lines.append(f"{d.name}: {plural(len(d.hosts), 'host')} in {plural(len(d.classes), 'class')}, "
                     f"common CPU {shown(d.common.model)} +{len(d.common.features)} -{len(d.common.disabled)}, "
                     f"{d.level or 'below x86-64-v1'}, "
                     + (f"hosts give up at most {plural(d.max_loss, 'feature')}" if d.max_loss
                        else "no host gives up a feature"))
        lines += ["    " + line for line in _class_lines(d.classes, every)]
    return lines


def cmd_domains(args: argparse.Namespace) -> int:
    fleet = _fleet(args)
    domains = fleet.domains(args.max_domains, args.max_loss)
    lines = [f"{plural(len(fleet.hosts), 'host')} in {plural(len(fleet.classes), 'CPU class')} form "
             f"{plural(len(domains), 'migration domain')}:"]
    lines += _domain_lines(domains, args.every_host)
    return _emit(args, fleet, {"domains": [d.to_dict() for d in domains]}, lines)


def cmd_common(args: argparse.Namespace) -> int:
    fleet = _fleet(args)
    result = fleet.common(args.hosts)
    lines = [f"Best common CPU of {plural(len(result.hosts), 'host')}: {shown(result.common.model)} "
             f"+{_names(result.common.features, ' +')} {' '.join('-' + shown(f) for f in result.common.disabled)}"
             .rstrip(),
             f"Guaranteed level: {result.level or 'below x86-64-v1'}"]
    lines += ["  " + line for line in _class_lines(result.classes, args.every_host)]
    return _emit(args, fleet, result.to_dict(), lines)


def cmd_whatif(args: argparse.Namespace) -> int:
    fleet = _fleet(args)
    added = {}
    if args.add:
        with progress_line() as on_progress:
            extra = load_inventory(args.add, fleet.cpumap, **_live(args, on_progress))
        if extra.failures:
            raise InvalidInventory("; ".join(f"{shown(h)}: {r}" for h, r in extra.failures.items()),
                                   source=", ".join(args.add))
        added = dict(extra.hosts)
    result = fleet.what_if(added, args.retire or (), args.max_domains, args.max_loss)
    lines = [f"Adding {plural(len(result.added), 'host')} and retiring {plural(len(result.retired), 'host')} "
             + ("changes:" if result.changed else "changes nothing.")]
    if result.not_added:
        lines.append(f"  {plural(len(result.not_added), 'host')} not added:")
        lines += [f"    {shown(host)}: {cli.one_line(reason)}" for host, reason in result.not_added.items()]
    for vendor in sorted(set(result.common_before) | set(result.common_after)):
        before, after = result.common_before.get(vendor, "-"), result.common_after.get(vendor, "-")
        if before != after:
            lines.append(f"  {shown(vendor)} fleet-wide common CPU: {shown(before)} -> {shown(after)}")
    for verb, targets in (("gain", result.targets_gained), ("lose", result.targets_lost)):
        for sources, hosts in grouped(targets):
            who = (f"{shown(sources[0])} {verb}s" if len(sources) == 1
                   else f"{_hosts_summary(sources, args.every_host, '{count} ({names})')} {verb}")
            lines.append(f"  {who} {plural(len(hosts), 'target')}: {_host_names(hosts, args.every_host)}")
    # a domain keeping its hosts and its common CPU is unchanged, even when renumbered
    before = {domain_shape(d)[1:]: d for d in result.domains_before}
    after = {domain_shape(d)[1:]: d for d in result.domains_after}
    gone = [d for shape, d in before.items() if shape not in after]
    formed = [d for shape, d in after.items() if shape not in before]
    if gone:
        lines.append("  domains no longer formed:")
        lines += ["    " + line for line in _domain_lines(gone, args.every_host)]
    if formed:
        lines.append("  domains formed instead:")
        lines += ["    " + line for line in _domain_lines(formed, args.every_host)]
    return _emit(args, fleet, result.to_dict(), lines)


def _report_unchecked(args: argparse.Namespace, unchecked: list[dict], checked: int) -> None:
    if unchecked and (not args.json or not checked):
        _warn(f"{plural(len(unchecked), 'guest')} not checked:", [cli.one_line(entry["reason"]) for entry in unchecked])
    if unchecked and not checked:
        raise InvalidInventory(f"none of its {len(unchecked)} guests could be checked", source=args.guests)


def cmd_stranded(args: argparse.Namespace) -> int:
    fleet = _fleet(args)
    result, unchecked = stranded_guests(args.guests, fleet)
    _report_unchecked(args, unchecked, result.checked)
    lines = [plural(len(result), "stranded guest")]
    lines += [f"  {shown(s.guest)} on {shown(s.host)}: {cli.one_line(s.reason)}" for s in result]
    return _emit(args, fleet, {"stranded": [s.to_dict() for s in result], "unchecked": unchecked}, lines)


def cmd_levels(args: argparse.Namespace) -> int:
    fleet = _fleet(args)
    levels = fleet.levels()
    domains = fleet.domains(args.max_domains, args.max_loss)
    lines = [f"C{c.index} {shown(c.cpu.model or '-')}: {levels[c.hosts[0]] or '-'}, "
             f"{_hosts_summary(c.hosts, args.every_host)}" for c in fleet.classes]
    lines += [f"domain {d.name} ({plural(len(d.hosts), 'host')}): {d.level or '-'}" for d in domains]
    value = {"hosts": levels, "domains": {d.name: d.level for d in domains}}
    return _emit(args, fleet, value, lines)


GRAPH_FORMATS = ("graphml", "dot", "svg", "png")


def _graph_format(args: argparse.Namespace) -> str:
    """--format, else the extension of -o (``.gv`` is DOT too), else DOT;
    a --format the extension contradicts is refused."""
    suffix = Path(args.output).suffix.lower().lstrip(".")
    implied = "dot" if suffix == "gv" else suffix if suffix in GRAPH_FORMATS else None
    if args.format is None:
        return implied or "dot"
    if implied is not None and implied != args.format:
        raise InvalidArgument(f"--format {args.format} does not match the extension of {shown(args.output)} "
                             f"({implied}); drop --format or change the name")
    return args.format


def cmd_graph(args: argparse.Namespace) -> int:
    from ..planner.lattice import graph_dot, graph_graphml, graph_png, graph_svg

    form = _graph_format(args)
    fleet = _fleet(args, reasons_in_json=False)
    writers = {"dot": graph_dot, "graphml": graph_graphml, "svg": graph_svg, "png": graph_png}
    if not write_output(args.output, writers[form](fleet)):  # standard output holds the graph alone
        cli.emit(args, {"output": args.output, "format": form, "classes": len(fleet.classes)},
                 f"wrote {form} lattice of {plural(len(fleet.classes), 'CPU class')} to {shown(args.output)}")
    return cli.EXIT_OK


def cmd_report(args: argparse.Namespace) -> int:
    from ..planner.report import html_report

    fleet = _fleet(args, reasons_in_json=False)
    stranded, unchecked = stranded_guests(args.guests, fleet) if args.guests else (None, [])
    if stranded is not None:
        _report_unchecked(args, unchecked, stranded.checked)
    domains = fleet.domains(args.max_domains, args.max_loss)
    if not write_output(args.output, html_report(fleet, domains, stranded, unchecked)):
        cli.emit(args, {"output": args.output, "hosts": len(fleet.hosts), "unreadable": len(fleet.failures),
                        "unchecked": unchecked},
                 f"wrote report on {plural(len(fleet.hosts), 'host')} to {shown(args.output)}")
    return cli.EXIT_OK


def _number(kind: Callable[[str], float], what: str, bound: str, fits: Callable[[float], bool]
            ) -> Callable[[str], float]:
    """An argparse type: `what`, read by `kind`, that `fits` ("must be `bound`")."""
    def parse(text: str) -> float:
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected {what}, not {text!r}") from None
        if not fits(value):
            raise argparse.ArgumentTypeError(f"must be {bound}, not {text}")
        return value
    return parse


OUTPUT_HELP = ("a file (replaced atomically), a device or FIFO (written to, never replaced), "
               "or - for standard output")
INVENTORY_HELP = ("'sample', a directory of host files, a JSON/YAML inventory, `openstack hypervisor show "
                  "-f json` output, a compute_nodes export, a file listing libvirt URIs, or a libvirt URI")


def live_options() -> argparse.ArgumentParser:
    """The options saying how live hosts of an inventory are read (`load_fleet` uses them)."""
    live = argparse.ArgumentParser(add_help=False)
    live.add_argument("--timeout", default=30.0,
                      type=_number(float, "seconds", "a positive number of seconds", lambda v: 0 < v < float("inf")),
                      help="seconds each live host has to answer, counted from when it is tried (default 30)")
    live.add_argument("--trust-command-line-uris", action="store_true",
                      help="open libvirt URIs typed here as written, even one that runs a local program "
                           "(qemu+ext, command=) or names a local socket, key or file (see SECURITY.rst); "
                           "URIs read from files are always checked")
    return live


def partition_options() -> argparse.ArgumentParser:
    """--max-domains and --max-loss, as `Fleet.domains` takes them."""
    partition = argparse.ArgumentParser(add_help=False)
    partition.add_argument("--max-domains", metavar="K", help="at most K domains",
                           type=_number(int, "a whole number", "at least 1", lambda v: v >= 1))
    partition.add_argument("--max-loss", metavar="N",
                           type=_number(int, "a whole number", "at least 0", lambda v: v >= 0),
                           help=f"no host gives up more than N features (default {DEFAULT_MAX_LOSS})")
    return partition


def add_commands(sub: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    live = live_options()
    inventories = argparse.ArgumentParser(add_help=False)
    inventories.add_argument("inventory", metavar="INVENTORY", nargs="+", type=cli.path_argument,
                             help=INVENTORY_HELP + "; several are merged, a host name given twice is reported")
    # `common` ends with a list of hosts, so it takes one INVENTORY (a URI list names several hosts)
    one_inventory = argparse.ArgumentParser(add_help=False)
    one_inventory.add_argument("inventory", metavar="INVENTORY", type=cli.path_argument, help=INVENTORY_HELP)
    partition = partition_options()

    listing = argparse.ArgumentParser(add_help=False)
    listing.add_argument("--hosts", dest="every_host", action="store_true",
                         help=f"list every host in text output (default: the first {FEW_HOSTS} of each class "
                              "and how many more)")

    def add(name: str, func, help_text: str, extra=(), inventory=inventories) -> argparse.ArgumentParser:
        p = sub.add_parser(name, parents=[common, live, inventory, *extra], help=help_text)
        p.set_defaults(func=func)
        return p

    add("classes", cmd_classes, "hosts grouped by identical CPU", [listing])
    add("targets", cmd_targets, "where a host-model guest of HOST can live-migrate", [listing]).add_argument(
        "host", metavar="HOST", help="a host of the inventory, where the guest starts")
    add("domain", cmd_domain, "hosts that can run a guest CPU (a file, or a host's host-model)",
        [listing]).add_argument("guest", metavar="GUEST", type=cli.path_argument,
                                help="a guest CPU file, or a host name for its host-model CPU")
    add("domains", cmd_domains, "partition the fleet into migration domains", [partition, listing])
    add("common", cmd_common, "best common CPU of some hosts", [listing], inventory=one_inventory).add_argument(
        "hosts", metavar="HOST", nargs="+", help="hosts of the inventory to find the common CPU of")
    p = add("whatif", cmd_whatif, "what changes when hosts are added or retired", [partition, listing])
    p.add_argument("--add", nargs="+", metavar="INVENTORY", type=cli.path_argument, help="inventories of hosts to add")
    p.add_argument("--retire", nargs="+", metavar="HOST", help="hosts to retire")
    add("stranded", cmd_stranded, "running guests with nowhere to go").add_argument(
        "guests", metavar="GUESTS", type=cli.path_argument,
        help="JSON of running guests: [{\"name\", \"host\"[, \"cpu\"]}], cpu being CPU XML or a file")
    add("levels", cmd_levels, "x86-64 psABI level per host and domain", [partition, listing])
    p = add("graph", cmd_graph, "export the migration lattice")
    p.add_argument("--format", choices=GRAPH_FORMATS,
                   help="graphml, dot, svg or png (Graphviz); default: from the extension of -o, else dot")
    p.add_argument("-o", "--output", required=True, type=cli.path_argument, metavar="PATH", help=OUTPUT_HELP)
    p = add("report", cmd_report, "one self-contained HTML report", [partition])
    p.add_argument("-o", "--output", required=True, type=cli.path_argument, metavar="PATH", help=OUTPUT_HELP)
    p.add_argument("--guests", metavar="GUESTS", type=cli.path_argument,
                   help="JSON of running guests, for the stranded section")
