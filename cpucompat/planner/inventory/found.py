"""Hosts and failures as an inventory's sources are read: nothing is ever overwritten."""
from __future__ import annotations

from typing import Callable

from ...engine.cpu import Cpu

__all__ = ["DUPLICATE", "Found", "OnProgress"]

DUPLICATE = "host name appears twice in the inventory; only its first description is used"

# on_progress(done, total, unit): `done` of `total` units ("hosts", "bytes")
# read so far; called now and then during a long read, never printed by the library.
OnProgress = Callable[[int, int, str], None]

class Found:
    """Hosts and failures as they are found; nothing is ever overwritten."""

    def __init__(self) -> None:
        self.hosts: dict[str, Cpu] = {}
        self.failures: dict[str, str] = {}

    def taken(self, name: str) -> bool:
        return name in self.hosts or name in self.failures

    def _duplicate_key(self, name: str, where: str) -> str:
        key = f"{name} (duplicate{', ' + where if where else ''})"
        n = 2
        while self.taken(key):
            key = f"{name} (duplicate {n}{', ' + where if where else ''})"
            n += 1
        return key

    def host(self, name: str, cpu: Cpu, where: str = "") -> None:
        """Add a host, or report it as a duplicate when its name is taken."""
        if self.taken(name):
            self.duplicate(name, where)
        else:
            self.hosts[name] = cpu

    def duplicate(self, name: str, where: str = "") -> None:
        """Report a second description of `name`, whether or not the first could be read."""
        self.failures[self._duplicate_key(name, where)] = DUPLICATE

    def failure(self, name: str, reason: str, where: str = "") -> None:
        """Record why `name` cannot be read, beside any earlier record of it."""
        self.failures[self._duplicate_key(name, where) if self.taken(name) else name] = reason

    def merge(self, other: "Found", where: str) -> None:
        if not self.hosts and not self.failures:  # nothing to collide with: take them as they are
            self.hosts, self.failures = other.hosts, other.failures
            return
        for name, cpu in other.hosts.items():
            self.host(name, cpu, where)
        for name, reason in other.failures.items():
            self.failure(name, reason, where)
