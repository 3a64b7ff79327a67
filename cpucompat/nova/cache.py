"""A bounded, thread-safe LRU mapping for the scheduler's caches.

On its own so that every cache of untrusted text (the hosts and decisions
of `scheduling`, the filter's log de-duplication) is bounded by the same
rule: in entries and in the characters of text it keeps.
"""
from __future__ import annotations

import threading
from collections import OrderedDict
from typing import Any, Hashable

__all__ = ["Lru"]


class Lru:
    """A small thread-safe LRU mapping (the scheduler calls from many threads),
    bounded in entries and, with `max_weight`, in the summed weights its
    callers give their entries (the characters of untrusted text each keeps):
    a few huge entries cannot pin more than that.  An entry heavier than
    `max_weight` is not kept at all."""

    def __init__(self, size: int, max_weight: int | None = None) -> None:
        self.size = size
        self.max_weight = max_weight
        self.weight = 0
        self.items: OrderedDict[Hashable, tuple[Any, int]] = OrderedDict()  # key → (value, weight)
        self.lock = threading.Lock()

    def get(self, key: Hashable) -> Any:
        with self.lock:
            found = self.items.get(key)
            if found is None:
                return None
            self.items.move_to_end(key)
            return found[0]

    def put(self, key: Hashable, value: Any, weight: int = 0) -> None:
        with self.lock:
            self._put(key, value, weight)

    def add(self, key: Hashable, weight: int = 0) -> bool:
        """Insert `key`; True for the one caller that found it absent."""
        with self.lock:
            if key in self.items:
                self.items.move_to_end(key)
                return False
            self._put(key, True, weight)
            return True

    def _put(self, key: Hashable, value: Any, weight: int) -> None:
        old = self.items.pop(key, None)
        if old is not None:
            self.weight -= old[1]
        if self.max_weight is not None and weight > self.max_weight:
            return
        self.items[key] = (value, weight)
        self.weight += weight
        while len(self.items) > self.size or (self.max_weight is not None and self.weight > self.max_weight):
            _, (_, dropped) = self.items.popitem(last=False)
            self.weight -= dropped

