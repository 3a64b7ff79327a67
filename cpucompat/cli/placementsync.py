"""``cpucompat placement sync``: put each host's ``CUSTOM_CPUCOMPAT_*``
traits on its compute node's resource provider through Placement's REST
API (cpucompat.placement.sync), or with ``--dry-run`` print what would
change.

Text output lists the hosts changed (or to change) with their traits
added (+) and removed (-), then a summary; every host that could not be
updated, and every host with no resource provider, is one line on stderr.
Exit status 1 when a host failed, 2 on an error that stopped the run.
"""
from __future__ import annotations

import argparse
import os
import sys

from . import common as cli
from .planner import INVENTORY_HELP, emit_fleet, live_options, load_fleet, partition_options
from .progress import progress_line
from ..display import escape, shown
from ..errors import InvalidArgument
from ..placement.client import PlacementClient
from ..placement.sync import SyncResult, sync_traits
from ..placement.traits import host_traits
from ..planner.results import plural

__all__ = ["add_sync_command", "cmd_sync", "fleet_parents"]


def placement_client(args: argparse.Namespace) -> PlacementClient:
    """The client --cloud or --placement-url (with --token or OS_TOKEN) names."""
    if args.cloud and args.placement_url:
        raise InvalidArgument("give --cloud or --placement-url, not both")
    if args.token is not None and not args.placement_url:
        raise InvalidArgument("--token goes with --placement-url (a cloud's clouds.yaml entry has its own auth)")
    if args.placement_url:
        return PlacementClient.from_url(args.placement_url, args.token)
    cloud = args.cloud or os.environ.get("OS_CLOUD")
    if not cloud:
        raise InvalidArgument("say which Placement: --cloud NAME (or OS_CLOUD) or --placement-url URL")
    return PlacementClient.from_cloud(cloud)


def _lines(result: SyncResult) -> list[str]:
    lines = [f"{shown(h.host)}: {' '.join(['+' + shown(t) for t in h.added] + ['-' + shown(t) for t in h.removed])}"
             for h in result.changed]
    verb = "would change" if result.dry_run else "changed"
    summary = (f"{plural(len(result.changed), 'host')} {verb}, {len(result.unchanged)} unchanged, "
               f"{len(result.failed)} failed, {len(result.missing)} without a resource provider")
    if result.retried:
        summary += f" ({plural(result.retried, 'generation conflict')} retried)"
    if result.dry_run:
        summary += "; dry run: nothing written"
    elif not result.changed and not result.failed:
        summary += "; Placement already had every trait: nothing written"
    return [*lines, summary]


def cmd_sync(args: argparse.Namespace) -> int:
    client = placement_client(args)
    fleet = load_fleet(args)
    desired = host_traits(fleet, fleet.domains(args.max_domains, args.max_loss))
    with progress_line(verb="synced") as on_progress:
        result = sync_traits(client, desired, dry_run=args.dry_run, on_progress=on_progress)
    for host in result.failed:
        print(escape(f"cpucompat placement sync: {shown(host.host)}: not updated: {cli.one_line(host.error)}"),
              file=sys.stderr)
    for host in result.missing:
        print(escape(f"cpucompat placement sync: {shown(host.host)}: no resource provider of that name"),
              file=sys.stderr)
    emit_fleet(args, fleet, {**result.to_dict(), "placement": client.where}, _lines(result))
    return cli.EXIT_OK if result.ok else cli.EXIT_INCOMPATIBLE


def fleet_parents(common: argparse.ArgumentParser) -> list[argparse.ArgumentParser]:
    """The options of a ``placement`` subcommand reading a fleet and choosing its domains."""
    inventories = argparse.ArgumentParser(add_help=False)
    inventories.add_argument("inventory", metavar="INVENTORY", nargs="+", type=cli.path_argument,
                             help=INVENTORY_HELP + "; several are merged; its host names are the compute "
                                                   "nodes' hypervisor host names (their resource providers' names)")
    return [common, live_options(), inventories, partition_options()]


def add_sync_command(placement_sub: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    """Add ``sync`` to the ``cpucompat placement`` subcommands."""
    p = placement_sub.add_parser(
        "sync", parents=fleet_parents(common),
        help="put each host's CUSTOM_CPUCOMPAT_* traits on its resource provider in Placement")
    p.add_argument("--cloud", metavar="NAME",
                   help="the cloud in clouds.yaml whose Placement to update (default: OS_CLOUD)")
    p.add_argument("--placement-url", metavar="URL", type=cli.path_argument,
                   help="Placement's endpoint (http:// or https://), instead of --cloud")
    p.add_argument("--token", metavar="TOKEN",
                   help="with --placement-url: the token to send (default: OS_TOKEN, which other users "
                        "cannot see in the process list)")
    p.add_argument("--dry-run", action="store_true", help="read Placement only and print what would change")
    p.set_defaults(func=cmd_sync)
