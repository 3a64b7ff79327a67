"""The ``cpucompat:*`` flavor extra specs and the aggregate metadata key
cpucompat reads, and the size Nova stores them in.

On its own so that the filter (which names them in its logs) and the
scheduling decisions (which read them) share one definition, and every
value is held to Nova's limit before any name in it is looked up.
"""
from __future__ import annotations

from typing import Any, Mapping

from ..errors import CpuCompatError

__all__ = ["SPEC_MODE", "SPEC_MODEL", "SPEC_FLAGS", "AGGREGATE_MODEL", "MAX_SPEC", "bounded_specs"]

SPEC_MODE, SPEC_MODEL, SPEC_FLAGS = "cpucompat:cpu_mode", "cpucompat:cpu_model", "cpucompat:cpu_flags"
AGGREGATE_MODEL = "cpucompat_cpu_model"
MAX_SPEC = 255  # Nova stores extra spec values and aggregate metadata in VARCHAR(255) columns


def bounded_specs(extra_specs: Mapping[str, Any] | None, aggregate_model: str | None = None) -> dict[str, str]:
    """A flavor's extra specs as text.  Raises CpuCompatError for a
    ``cpucompat:*`` value or an aggregate model longer than Nova stores."""
    specs = {str(k): str(v) for k, v in (extra_specs or {}).items()}
    for key in (SPEC_MODE, SPEC_MODEL, SPEC_FLAGS):
        if len(specs.get(key, "")) > MAX_SPEC:  # refused before any lookup of its names
            raise CpuCompatError(f"value of {len(specs[key])} characters, more than the {MAX_SPEC} "
                                 "Nova stores", source=key)
    if aggregate_model and len(aggregate_model) > MAX_SPEC:
        raise CpuCompatError(f"value of {len(aggregate_model)} characters, more than the {MAX_SPEC} Nova "
                             "stores", source=f"aggregate {AGGREGATE_MODEL}")
    return specs
