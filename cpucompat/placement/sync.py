"""Make the compute nodes' resource providers carry exactly their
``CUSTOM_CPUCOMPAT_*`` traits, through Placement's REST API.

A compute node's provider is named after its hypervisor host name, the
name an inventory gives the host.  For each host of the desired mapping,
`sync_traits` adds the cpucompat traits it lacks and removes the stale ones
of that prefix, and never touches another trait (Placement replaces a
provider's whole trait list, so each write quotes the list just read, with
its generation: a 409 conflict is read again and retried, at most
`retries` times).  Hosts of Placement that the mapping does not name are
left alone.

Cost: one ``GET /resource_providers``, one call per cpucompat trait in use
(which providers have it), then a read and a write for each provider to
change only: a second run over an unchanged fleet writes nothing.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable, Iterable, Mapping

from ..display import shown
from ..errors import GenerationConflict, InvalidArgument, PlacementError
from .client import PlacementClient, Provider
from .names import TRAIT_PREFIX, is_cpucompat_trait

__all__ = ["HostSync", "SyncResult", "sync_traits", "RETRIES"]

RETRIES = 5  # generation conflicts in a row before a host is reported failed


@dataclass(frozen=True, slots=True)
class HostSync:
    """What happened (or, in a dry run, would happen) to one host's provider."""

    host: str
    provider: str | None = None  # its uuid; None: Placement has no provider of that name
    added: tuple[str, ...] = ()
    removed: tuple[str, ...] = ()
    error: str | None = None  # why it could not be updated; nothing of it was written

    @property
    def status(self) -> str:
        """``changed``, ``unchanged``, ``failed`` or ``no provider``."""
        if self.provider is None:
            return "no provider"
        if self.error is not None:
            return "failed"
        return "changed" if self.added or self.removed else "unchanged"

    def to_dict(self) -> dict[str, object]:
        return {"host": self.host, "provider": self.provider, "status": self.status,
                "added": list(self.added), "removed": list(self.removed), "error": self.error}


@dataclass(frozen=True, slots=True)
class SyncResult:
    """Every host of the mapping, in its order, and whether this was a dry run."""

    hosts: tuple[HostSync, ...]
    dry_run: bool = False
    retried: int = field(default=0)  # generation conflicts met and retried

    def _with(self, status: str) -> list[HostSync]:
        return [h for h in self.hosts if h.status == status]

    @property
    def changed(self) -> list[HostSync]:
        return self._with("changed")

    @property
    def unchanged(self) -> list[HostSync]:
        return self._with("unchanged")

    @property
    def failed(self) -> list[HostSync]:
        return self._with("failed")

    @property
    def missing(self) -> list[HostSync]:
        """Hosts of the inventory with no resource provider of their name."""
        return self._with("no provider")

    @property
    def ok(self) -> bool:
        """No host failed (hosts without a provider are reported, not failures)."""
        return not self.failed

    def to_dict(self) -> dict[str, object]:
        return {"dry_run": self.dry_run, "changed": len(self.changed), "unchanged": len(self.unchanged),
                "failed": len(self.failed), "no_provider": len(self.missing), "retried": self.retried,
                "hosts": [h.to_dict() for h in self.hosts]}


def _checked(desired: Mapping[str, Iterable[str]]) -> dict[str, frozenset[str]]:
    out = {}
    for host, traits in desired.items():
        wanted = frozenset(traits)
        foreign = sorted(t for t in wanted if not is_cpucompat_trait(t))
        if foreign:
            raise InvalidArgument(f"only {TRAIT_PREFIX}* traits are synced, not {', '.join(foreign[:3])}",
                                  source=f"host {shown(host)}")
        out[host] = wanted
    return out


def current_traits(client: PlacementClient) -> dict[str, frozenset[str]]:
    """The cpucompat traits each provider (uuid) has now: one call per such
    trait in use, none per provider."""
    held: dict[str, set[str]] = {}
    for trait in sorted(client.traits(TRAIT_PREFIX, associated=True)):
        for provider in client.providers(required=[trait]):
            held.setdefault(provider.uuid, set()).add(trait)
    return {uuid: frozenset(traits) for uuid, traits in held.items()}


def sync_traits(client: PlacementClient, desired: Mapping[str, Iterable[str]], *, dry_run: bool = False,
                retries: int = RETRIES,
                on_progress: Callable[[int, int, str], None] | None = None) -> SyncResult:
    """Give each host's provider exactly the cpucompat traits `desired`
    names for it (host name → ``CUSTOM_CPUCOMPAT_*`` traits); see the
    module docstring.  `dry_run` reads only and returns the diff.  A host
    that cannot be updated is reported failed with the reason and keeps its
    traits as they were; no error stops the others."""
    wanted = _checked(desired)
    by_name = client.providers_by_name()
    held = current_traits(client)
    plan: dict[str, HostSync] = {}
    for host, traits in wanted.items():
        provider = by_name.get(host)
        if provider is None:
            plan[host] = HostSync(host)
            continue
        now = held.get(provider.uuid, frozenset())
        plan[host] = HostSync(host, provider.uuid, tuple(sorted(traits - now)), tuple(sorted(now - traits)))
    if dry_run:
        return SyncResult(tuple(plan.values()), dry_run=True)
    failed_traits = _create_traits(client, {t for h in plan.values() for t in h.added})
    to_write = [h for h in plan.values() if h.status == "changed"]
    retried = 0
    for done, change in enumerate(to_write, 1):
        broken = sorted(set(change.added) & failed_traits.keys())
        if broken:
            plan[change.host] = HostSync(change.host, change.provider, error=failed_traits[broken[0]])
        else:
            plan[change.host], conflicts = _write(client, by_name[change.host], wanted[change.host], retries)
            retried += conflicts
        if on_progress is not None:
            on_progress(done, len(to_write), "hosts")
    return SyncResult(tuple(plan.values()), dry_run=False, retried=retried)


def _create_traits(client: PlacementClient, traits: set[str]) -> dict[str, str]:
    """Create the custom traits Placement lacks; the ones that failed → why."""
    if not traits:
        return {}
    known = client.traits(TRAIT_PREFIX)
    failed = {}
    for trait in sorted(traits - known):
        try:
            client.ensure_trait(trait)
        except PlacementError as exc:
            failed[trait] = str(exc)
    return failed


def _write(client: PlacementClient, provider: Provider, wanted: frozenset[str],
           retries: int) -> tuple[HostSync, int]:
    """Read the provider's traits, write them with ours swapped in, and
    retry on a generation conflict; the outcome and the conflicts met."""
    conflicts = 0
    while True:
        try:
            now = client.provider_traits(provider)
            ours = frozenset(t for t in now.traits if is_cpucompat_trait(t))
            result = HostSync(provider.name, provider.uuid, tuple(sorted(wanted - ours)),
                              tuple(sorted(ours - wanted)))
            if ours != wanted:
                client.set_provider_traits(provider, (now.traits - ours) | wanted, now.generation)
            return result, conflicts
        except GenerationConflict as exc:
            conflicts += 1
            if conflicts > retries:
                return HostSync(provider.name, provider.uuid,
                                error=f"{exc} (still changing after {retries} retries)"), conflicts
        except PlacementError as exc:
            return HostSync(provider.name, provider.uuid, error=str(exc)), conflicts
