"""The fewest migration domains within a loss bound: a pure search.

The planner hands each vendor's CPU classes over as `Part` values (what a
class offers a common CPU, what its hosts would give up, how many hosts it
stands for); the answer is groups of parts.  No map, no hosts, no CPUs:
only integers, so the search is tested and timed on its own.
"""
from __future__ import annotations

import heapq
from typing import Iterable, NamedTuple, Sequence

from ..engine.bits import set_bits

__all__ = ["EXACT_CLASSES", "Part", "fewest_groups", "group_loss", "merge_greedily"]

EXACT_CLASSES = 12  # 3^12 / 2 subset steps per vendor: a few tenths of a second


class Part(NamedTuple):
    """One class of identical hosts, as the search sees it."""

    key: int  # the class's index: groups keep their parts in key order, ties go to the lower key
    features: int  # what the class offers a common CPU (its hosts' full feature set)
    wanted: int  # its host-model guest CPU: what its hosts give up when the common CPU lacks it
    weight: int  # the hosts it stands for


def group_loss(parts: Sequence[Part], common: int) -> tuple[int, int]:
    """(features given up, summed over hosts; the most one host gives up)
    when `parts` share the features `common`."""
    total = worst = 0
    for part in parts:
        lost = (part.wanted & ~common).bit_count()
        total += lost * part.weight
        worst = max(worst, lost)
    return total, worst


def merge_greedily(families: Iterable[Sequence[Part]], max_groups: int | None,
                   limit: int | None) -> list[list[Part]]:
    """Merge the cheapest pair of groups of one family (fewest features
    given up, then the smallest worst loss, then the first parts) while one
    fits `limit`, until at most `max_groups` remain.  Parts of different
    families (vendors) never share a group.

    A pair's cost depends only on its two groups, so costs sit in a heap
    and only the pairs of a merged group are priced again.  The cost is
    what each side gives up on top of its loss now (the features the other
    lacks), counted per member part or, for a big group, per feature; the
    worst loss (tie-break and limit) only for pairs that reach the top.
    O(P² log P) on P parts.
    """
    groups: dict[int, list[Part]] = {}  # by the key of its first part
    common: dict[int, int] = {}
    version: dict[int, int] = {}
    family_of: dict[int, int] = {}
    weights: dict[tuple[int, int], dict[int, int]] = {}  # (group, version) → {feature bit: hosts with it}
    heap: list[tuple[int, int, int, int, int]] = []

    def extra(first: int, second: int) -> int:
        """Features the hosts of `first` give up on top of their loss now."""
        lost = common[first] & ~common[second]
        if not lost:
            return 0
        members = groups[first]
        if len(members) <= lost.bit_count():
            return sum((part.wanted & lost).bit_count() * part.weight for part in members)
        weight = weights.get((first, version[first]))
        if weight is None:
            weight = weights[first, version[first]] = {}
            for part in members:
                for bit in set_bits(part.wanted):
                    weight[bit] = weight.get(bit, 0) + part.weight
        return sum(weight.get(bit, 0) for bit in set_bits(lost))

    def push(first: int, second: int) -> None:
        cost = extra(first, second) + extra(second, first)
        heapq.heappush(heap, (cost, first, second, version[first], version[second]))

    for family, members in enumerate(families):
        for part in members:
            groups[part.key], common[part.key], version[part.key] = [part], part.features, 0
            family_of[part.key] = family
        for a, left in enumerate(members):
            for right in members[a + 1:]:
                push(left.key, right.key)
    worst_of: dict[tuple[int, ...], int] = {}
    while len(groups) > 1 and (max_groups is None or len(groups) > max_groups):
        best: tuple[tuple[int, int, int, int, int], tuple[int, int, int]] | None = None
        ties = []
        while heap and (best is None or heap[0][0] == best[0][0]):
            entry = heapq.heappop(heap)
            cost, first, second, v1, v2 = entry
            if version.get(first) != v1 or version.get(second) != v2:
                continue  # one side was merged since
            if entry[1:] not in worst_of:
                worst_of[entry[1:]] = group_loss(groups[first] + groups[second],
                                                 common[first] & common[second])[1]
            worst = worst_of[entry[1:]]
            if limit is not None and worst > limit:
                continue  # stays out until one side changes
            ties.append(entry)
            if best is None or (worst, first, second) < best[1]:
                best = (entry, (worst, first, second))
        if best is None:
            break
        for entry in ties:
            if entry is not best[0]:
                heapq.heappush(heap, entry)
        _, first, second, _, _ = best[0]
        groups[first] = groups[first] + groups.pop(second)
        common[first] &= common.pop(second)
        weights.pop((first, version[first]), None)
        weights.pop((second, version.pop(second)), None)
        version[first] += 1
        for other in groups:
            if other != first and family_of[other] == family_of[first]:
                push(min(first, other), max(first, other))
    return list(groups.values())


def fewest_groups(members: Sequence[Part], limit: int) -> list[list[Part]]:
    """The fewest groups of `members` in which no host gives up more than
    `limit` features, the cheapest such (fewest features given up, summed
    over hosts): a dynamic programme over subsets, exact.  O(3^n), n ≤
    EXACT_CLASSES."""
    n = len(members)
    everything = (1 << n) - 1
    common = [-1] * (1 << n)  # -1: every feature
    cost: list[int | None] = [0] * (1 << n)  # None: some host would give up too much
    for subset in range(1, 1 << n):
        low = subset & -subset
        common[subset] = common[subset ^ low] & members[low.bit_length() - 1].features
        chosen = [members[i] for i in set_bits(subset)]
        total, worst = group_loss(chosen, common[subset])
        cost[subset] = total if worst <= limit or subset == low else None
    best: list[tuple[int, int]] = [(0, 0)] + [(n + 1, 0)] * everything  # (groups, cost) covering a subset
    choice = [0] * (1 << n)
    for subset in range(1, 1 << n):
        low = subset & -subset
        rest = subset ^ low
        part = rest
        while True:  # every group holding the lowest member of `subset`
            group = part | low
            group_cost = cost[group]
            if group_cost is not None:
                groups, spent = best[subset ^ group]
                candidate = (groups + 1, spent + group_cost)
                if candidate < best[subset]:
                    best[subset], choice[subset] = candidate, group
            if not part:
                break
            part = (part - 1) & rest
    out = []
    subset = everything
    while subset:
        out.append([members[i] for i in set_bits(choice[subset])])
        subset ^= choice[subset]
    return out
