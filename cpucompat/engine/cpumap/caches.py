"""Answers cached on the map they were computed over.

Every answer of the engine (a comparison, a baseline, a CPU's bitmasks, a
decode, the model graph) is a pure function of immutable values and one
loaded map.  Its cache belongs to that map: a map loaded again (its files
changed) starts with empty caches, and dropping a map drops its answers.
Each cache is `functools.lru_cache` (bounded, thread-safe, in C), created
on first use.
"""
from __future__ import annotations

import functools
from _thread import allocate_lock  # threading's Lock without importing threading (start-up)
from typing import Any, Callable, TypeVar, cast

__all__ = ["MapCaches"]

F = TypeVar("F", bound=Callable[..., Any])


class MapCaches:
    """The bounded caches of one loaded map (or one arch of it)."""

    __slots__ = ("caches", "_lock")

    def __init__(self) -> None:
        # function → its cached form; a hot path may read ``caches.get(f)``
        # first, one Python call cheaper than `cached` (Nova asks per host)
        self.caches: dict[Callable[..., Any], Any] = {}
        self._lock = allocate_lock()

    def cached(self, function: F, maxsize: int) -> F:
        """`function` with a cache of at most `maxsize` answers owned by
        this map; its arguments must be hashable."""
        found = self.caches.get(function)
        if found is None:
            with self._lock:
                found = self.caches.get(function)
                if found is None:
                    found = self.caches[function] = functools.lru_cache(maxsize=maxsize)(function)
        return cast(F, found)

    def clear_caches(self) -> None:
        """Forget every cached answer (the map itself stays loaded)."""
        with self._lock:
            for cache in self.caches.values():
                cache.cache_clear()
