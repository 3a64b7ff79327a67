"""x86-64 psABI micro-architecture levels (v1–v4) of a feature set.

The levels are cumulative feature lists from the x86-64 psABI, in
libvirt's feature names (QEMU's scripts/cpu-x86-uarch-abi.py uses the
same).  A guest OS built for a level needs every feature of it: RHEL 9
needs v2, RHEL 10 v3.
"""
from __future__ import annotations

from .cpumap import ArchMap

__all__ = ["LEVELS", "level_of", "missing_for"]

LEVELS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("x86-64-v1", ("lm", "cmov", "cx8", "fpu", "fxsr", "mmx", "syscall", "sse", "sse2")),
    ("x86-64-v2", ("cx16", "lahf_lm", "popcnt", "pni", "sse4.1", "sse4.2", "ssse3")),
    ("x86-64-v3", ("avx", "avx2", "bmi1", "bmi2", "f16c", "fma", "abm", "movbe", "xsave")),
    ("x86-64-v4", ("avx512f", "avx512bw", "avx512cd", "avx512dq", "avx512vl")),
)


def level_of(bits: int, archmap: ArchMap) -> str | None:
    """The highest psABI level `bits` satisfies, or None (not even v1)."""
    reached = None
    needed = 0
    for name, features in LEVELS:
        needed |= archmap.bits(features)
        if bits & needed != needed:
            break
        reached = name
    return reached


def missing_for(level: str, bits: int, archmap: ArchMap) -> list[str]:
    """Features `bits` lacks to reach `level`."""
    needed = 0
    for name, features in LEVELS:
        needed |= archmap.bits(features)
        if name == level:
            return archmap.names(needed & ~bits)
    raise ValueError(f"unknown psABI level {level}")
