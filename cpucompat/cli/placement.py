"""``cpucompat placement ...``: cpucompat's answers as Placement traits.

* ``traits INVENTORY``: each host's ``CUSTOM_CPUCOMPAT_*`` traits;
* ``provider-configs INVENTORY --directory DIR``: Nova provider config
  files carrying them, one per compute;
* ``flavor-specs INVENTORY (--domain NAME | --model M)``: a flavor's extra
  specs, and for a domain its computes' ``[libvirt]`` options.

Each subcommand is one ``add_*(subcommands, common)`` function listed in
SUBCOMMANDS (``common``: the options every command takes); a new one
(``sync``) adds its own there.
"""
from __future__ import annotations

import argparse
import json
from typing import Callable

from . import common as cli
from .placementsync import add_sync_command, fleet_parents
from .planner import OUTPUT_HELP, emit_fleet, load_fleet
from ..atomic import write_output
from ..display import shown
from ..errors import InvalidArgument
from ..placement.flavorspecs import domain_specs, find_domain, model_specs
from ..placement.names import domain_trait
from ..placement.providerconfig import write_provider_configs
from ..placement.traits import host_traits
from ..planner.results import plural

__all__ = ["SUBCOMMANDS", "add_commands"]

def cmd_traits(args: argparse.Namespace) -> int:
    fleet = load_fleet(args)
    domains = fleet.domains(args.max_domains, args.max_loss)
    traits = host_traits(fleet, domains)
    value: dict = {"hosts": {h: sorted(t) for h, t in traits.items()},
                   "domains": [{"name": d.name, "trait": domain_trait(d), "model": d.common.model,
                                "vendor": d.common.vendor, "host_count": len(d.hosts)} for d in domains]}
    lines = [f"{plural(len(traits), 'host')}, {plural(len(domains), 'migration domain')}:"]
    lines += [f"  {d['name']} {d['trait']} ({plural(d['host_count'], 'host')})" for d in value["domains"]]
    lines += [f"{shown(host)}: {' '.join(names)}" for host, names in value["hosts"].items()]
    if args.output:
        to_stdout = write_output(args.output, json.dumps(value["hosts"], indent=1, ensure_ascii=True) + "\n")
        if to_stdout:
            return cli.EXIT_OK
        lines = lines[:len(domains) + 1] + [f"wrote the traits of {plural(len(traits), 'host')} to "
                                            f"{shown(args.output)}"]
        value = {"output": args.output, "domains": value["domains"]}
    return emit_fleet(args, fleet, value, lines)


def cmd_provider_configs(args: argparse.Namespace) -> int:
    fleet = load_fleet(args)
    traits = host_traits(fleet, fleet.domains(args.max_domains, args.max_loss))
    result = write_provider_configs(traits, args.directory, dry_run=args.dry_run)
    verb = "would write" if args.dry_run else "wrote"
    lines = [f"{shown(result.directory)}: {verb} {plural(len(result.written), 'file')}, "
             f"{len(result.unchanged)} unchanged, {'would remove' if args.dry_run else 'removed'} "
             f"{plural(len(result.removed), 'stale file')}"]
    lines += [f"  {verb} {shown(name)}" for name in result.written]
    lines += [f"  removed {shown(name)}" for name in result.removed]
    lines += [f"  no file for {shown(host)}: {reason}" for host, reason in result.refused.items()]
    return emit_fleet(args, fleet, result.to_dict(), lines)


def cmd_flavor_specs(args: argparse.Namespace) -> int:
    fleet = load_fleet(args)
    if args.model:
        specs = model_specs(fleet, args.model, hw_traits=args.hw_traits)
    else:
        domain = find_domain(fleet.domains(args.max_domains, args.max_loss), args.domain)
        specs = domain_specs(domain, fleet.cpumap, hw_traits=args.hw_traits)
    if not specs.hosts:
        raise InvalidArgument(f"no host of the inventory can run {specs.target}: a flavor requiring it "
                              "would find no host", source="--model")
    lines = [f"Flavor extra specs ({specs.target}, {plural(len(specs.hosts), 'host')}):"]
    lines += [f"  {key}={spec}" for key, spec in specs.extra_specs.items()]
    lines += ["", "  openstack flavor set FLAVOR "
              + " ".join(f"--property {key}={spec}" for key, spec in specs.extra_specs.items())]
    if specs.compute:
        lines += ["", "nova.conf of every compute of the domain (guests get its common CPU):", "  [libvirt]"]
        lines += [f"  {option} = {setting}" for option, setting in specs.compute.items()]
    lines += [f"note: {note}" for note in specs.notes]
    return emit_fleet(args, fleet, specs.to_dict(), lines)


def add_traits(sub: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    p = sub.add_parser("traits", parents=fleet_parents(common), help="each host's CUSTOM_CPUCOMPAT_* traits")
    p.add_argument("-o", "--output", type=cli.path_argument, metavar="PATH",
                   help="write host → traits as JSON here: " + OUTPUT_HELP)
    p.set_defaults(func=cmd_traits)


def add_provider_configs(sub: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    p = sub.add_parser("provider-configs", parents=fleet_parents(common),
                       help="one Nova provider config file per compute carrying its traits")
    p.add_argument("--directory", required=True, type=cli.path_argument, metavar="DIR",
                   help="where the files go (created if missing), for [compute] provider_config_location; "
                        "cpucompat's files of hosts no longer in the inventory are removed, no other file")
    p.add_argument("--dry-run", action="store_true", help="say what would change, write and remove nothing")
    p.set_defaults(func=cmd_provider_configs)


def add_flavor_specs(sub: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    p = sub.add_parser("flavor-specs", parents=fleet_parents(common),
                       help="a flavor's extra specs for a domain or a model, and the domain's nova.conf")
    target = p.add_mutually_exclusive_group(required=True)
    target.add_argument("--domain", metavar="NAME",
                        help="a migration domain: its name as `cpucompat domains` gives it (D1, ...; same "
                             "--max-domains/--max-loss) or its CUSTOM_CPUCOMPAT_DOMAIN_* trait")
    target.add_argument("--model", metavar="MODEL", help="a CPU model of the map: hosts that can run it")
    p.add_argument("--hw-traits", action="store_true",
                   help="also require the HW_CPU_X86_* traits Nova reports for the model's features")
    p.set_defaults(func=cmd_flavor_specs)


# the placement subcommands: each adds itself to `cpucompat placement`
SUBCOMMANDS: list[Callable[[argparse._SubParsersAction, argparse.ArgumentParser], None]] = [
    add_traits, add_provider_configs, add_flavor_specs, add_sync_command]


def add_commands(sub: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    p = sub.add_parser("placement", help="CPU models and migration domains as Placement traits")
    subcommands = p.add_subparsers(dest="placement_command", metavar="SUBCOMMAND", required=True,
                                   title="subcommands", description="cpucompat placement SUBCOMMAND --help "
                                                                    "says more about each")
    for add in SUBCOMMANDS:
        add(subcommands, common)
