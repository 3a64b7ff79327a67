"""What comparing a guest CPU with a host CPU answers: a result and why."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from .rules import Result

__all__ = ["IDENTICAL", "SUPERSET", "INCOMPATIBLE", "Comparison"]

IDENTICAL = Result.IDENTICAL
SUPERSET = Result.SUPERSET
INCOMPATIBLE = Result.INCOMPATIBLE


@dataclass(frozen=True, slots=True)
class Comparison:
    """libvirt's virCPUCompareResult plus why."""

    result: str  # identical | superset | incompatible
    missing: tuple[str, ...] = ()
    forbidden: tuple[str, ...] = ()
    reason: str = ""

    @property
    def compatible(self) -> bool:
        return self.result != INCOMPATIBLE

    def to_dict(self) -> dict[str, Any]:
        return {"result": self.result, "missing": list(self.missing),
                "forbidden": list(self.forbidden), "reason": self.reason}
