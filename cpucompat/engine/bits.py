"""Feature sets are integers: bit i is feature i of a map's feature index."""
from __future__ import annotations

from typing import Iterator

__all__ = ["set_bits"]


def set_bits(mask: int) -> Iterator[int]:
    """The positions of the set bits of `mask`, lowest first.  O(set bits)."""
    while mask:
        low = mask & -mask
        yield low.bit_length() - 1
        mask ^= low
