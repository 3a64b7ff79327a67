"""cpucompat against libvirt, on the same inputs, in the same run.

``python -m benchmarks [--quick] [--json] [--record FILE]`` from the
checkout.  Each row times cpucompat and, where libvirt has an equivalent,
libvirt 9.x in-process (``qemu:///embed``), and reports the ratio
libvirt / cpucompat.  Speed is measured here, never asserted in tests.
"""
from __future__ import annotations

import os
import sys

# `python -m benchmarks` puts the checkout first on sys.path, where
# cpucompat/ lacks its package_dir-mapped parts (cpucompat.data): measure
# the installed package instead.
_CHECKOUT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path[:] = [p for p in sys.path if os.path.abspath(p or os.curdir) != _CHECKOUT]

import gc  # noqa: E402
import statistics  # noqa: E402
import time  # noqa: E402
from dataclasses import dataclass  # noqa: E402
from typing import Callable  # noqa: E402


@dataclass(frozen=True)
class Row:
    """One measured operation: seconds per operation on each side."""

    name: str
    inputs: str
    cpucompat_s: float
    libvirt_s: float | None = None
    note: str = ""
    peak_mib: float | None = None  # peak memory of the measured process, where measured

    @property
    def ratio(self) -> float | None:
        if self.libvirt_s is None or self.cpucompat_s <= 0:
            return None
        return self.libvirt_s / self.cpucompat_s

    def to_dict(self) -> dict:
        return {"name": self.name, "inputs": self.inputs, "cpucompat_s": self.cpucompat_s,
                "libvirt_s": self.libvirt_s, "ratio": self.ratio, "note": self.note, "peak_mib": self.peak_mib}


def per_call(func: Callable[[], object], calls: int, repeat: int = 5,
             setup: Callable[[], object] | None = None) -> float:
    """Median over `repeat` runs of the seconds per call of `calls` calls."""
    def many() -> None:
        for _ in range(calls):
            func()

    return per_batch(many, calls, repeat, setup)


def per_batch(func: Callable[[], object], items: int, repeat: int = 5,
              setup: Callable[[], object] | None = None) -> float:
    """Median seconds per item of a function that processes `items` items."""
    samples = []
    for _ in range(repeat):
        if setup is not None:
            setup()
        gc.disable()
        start = time.perf_counter()
        func()
        samples.append((time.perf_counter() - start) / items)
        gc.enable()
    return statistics.median(samples)
