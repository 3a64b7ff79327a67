"""libvirt's CPU vocabulary, written once: modes, match, check, feature
policies, fallback and comparison results.

Each is a `StrEnum`, so a member equals (and hashes as) its string and
JSON shows the string; the tuples list the values a CPU definition may
hold, for membership tests on text read from input.  Values and meanings
are libvirt's (docs/formatdomain.rst, "CPU model and topology";
virCPUCompareResult).
"""
from __future__ import annotations

from enum import StrEnum

__all__ = ["Mode", "Match", "Check", "Policy", "Fallback", "Result", "MODES", "MATCHES", "CHECKS", "POLICIES",
           "FALLBACKS", "RESULTS", "MODELESS_MODES", "PROVIDED", "REMOVED"]


class Mode(StrEnum):
    """A guest CPU's ``<cpu mode=...>``."""

    CUSTOM = "custom"  # a named model plus features
    HOST_MODEL = "host-model"  # the model and features closest to the host, fixed at start
    HOST_PASSTHROUGH = "host-passthrough"  # the host CPU itself
    MAXIMUM = "maximum"  # everything the hypervisor can offer


class Match(StrEnum):
    """A custom CPU's ``<cpu match=...>``: how a host may differ from it."""

    MINIMUM = "minimum"
    EXACT = "exact"
    STRICT = "strict"


class Check(StrEnum):
    """``<cpu check=...>``: how the hypervisor checks the CPU it started."""

    # libvirt chooses the check that suits the CPU's mode
    DEFAULT = "default"
    NONE = "none"  # libvirt checks nothing: the hypervisor decides (QEMU only warns)
    PARTIAL = "partial"  # libvirt checks before start, the hypervisor does not
    FULL = "full"  # the started CPU is checked too


class Policy(StrEnum):
    """A ``<feature policy=...>``."""

    FORCE = "force"
    REQUIRE = "require"
    OPTIONAL = "optional"
    DISABLE = "disable"
    FORBID = "forbid"


class Fallback(StrEnum):
    """``<model fallback=...>``: may the hypervisor pick another model."""

    ALLOW = "allow"
    FORBID = "forbid"


class Result(StrEnum):
    """What comparing a guest CPU with a host CPU answers (virCPUCompareResult)."""

    IDENTICAL = "identical"
    SUPERSET = "superset"
    INCOMPATIBLE = "incompatible"


MODES = tuple(Mode)
MATCHES = tuple(Match)
CHECKS = tuple(Check)
POLICIES = tuple(Policy)
FALLBACKS = tuple(Fallback)
RESULTS = tuple(Result)

# modes that name no model: the guest sees the host's CPU (or all QEMU can offer)
MODELESS_MODES = (Mode.HOST_PASSTHROUGH, Mode.MAXIMUM)
# policies that give the guest a feature, and those that take it away
PROVIDED = (Policy.REQUIRE, Policy.FORCE)
REMOVED = (Policy.DISABLE, Policy.FORBID)
