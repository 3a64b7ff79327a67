"""One exception hierarchy for everything cpucompat refuses.

Every message names the input (file, host, line where known) and the
problem; only the CLI turns these into exit codes.  Each subclass also
derives from the built-in error it refines, as packaging's
``InvalidVersion(ValueError)`` does: a bad value is a `ValueError`, a name
the map lacks a `LookupError`, a file that cannot be read or written an
`OSError`.
"""
from __future__ import annotations

from typing import Iterable


__all__ = ["CpuCompatError", "InvalidCpuMap", "InvalidCpuXml", "UnsafeXml", "UnknownInputFormat", "UnknownModel",
           "UnknownFeature", "UnknownArch", "IncompatibleVendors", "IncompatibleCpus", "NoSuitableModel",
           "InvalidConfig", "InvalidArgument", "InvalidInventory", "TooFewDomains", "PackageDataMissing",
           "UnreadableFile", "UnwritableFile", "UnsafeUri", "MissingDependency", "HostUnreachable", "RenderFailed",
           "PlacementError", "GenerationConflict", "suggest"]


class CpuCompatError(Exception):
    """Base of every error cpucompat raises on purpose.

    ``str(exc)`` is the whole message, starting with ``source`` when it
    is known; ``exc.source`` names the input alone.
    """

    def __init__(self, message: str, *, source: str | None = None) -> None:
        self.source = source
        self.problem = message  # without the source: one parsed CPU may stand for many hosts
        super().__init__(f"{source}: {message}" if source else message)


class InvalidCpuMap(CpuCompatError, ValueError):
    """A cpu_map directory or file that cannot be loaded."""


class InvalidCpuXml(CpuCompatError, ValueError):
    """XML describing a CPU that is malformed or not what libvirt accepts."""


class UnsafeXml(InvalidCpuXml):
    """XML refused before parsing: entities, DTDs, too large or too deep."""


class UnknownInputFormat(CpuCompatError, ValueError):
    """Input whose content matches none of the CPU description formats."""


class UnknownModel(CpuCompatError, LookupError):
    """A CPU model name the loaded cpu_map does not define."""


class UnknownFeature(CpuCompatError, LookupError):
    """A CPU feature name the loaded cpu_map does not define."""


class UnknownArch(CpuCompatError, LookupError):
    """An architecture the loaded cpu_map does not describe, or one whose
    CPUs cpucompat cannot compute with (its CPU driver is x86's)."""


class IncompatibleVendors(CpuCompatError, ValueError):
    """CPUs from different vendors where one common CPU is needed."""


class IncompatibleCpus(CpuCompatError, ValueError):
    """CPUs with nothing in common (libvirt: "CPUs are incompatible")."""


class NoSuitableModel(CpuCompatError, ValueError):
    """No model of the map can describe the given CPU data."""


class InvalidConfig(CpuCompatError, ValueError):
    """A configuration value cpucompat cannot work with."""


class InvalidArgument(CpuCompatError, ValueError):
    """Command-line arguments that contradict each other."""


class InvalidInventory(CpuCompatError, ValueError):
    """A fleet inventory that cannot be read."""


class UnsafeUri(InvalidInventory):
    """A libvirt URI that could run a program, open a local file or socket,
    or weaken host checks: refused before libvirt sees it."""


class TooFewDomains(InvalidInventory):
    """The fleet cannot be partitioned into `max_domains` domains in which no
    host gives up more than `max_loss` features: it takes `needed`."""

    def __init__(self, message: str, *, max_domains: int, max_loss: int | None, needed: int) -> None:
        super().__init__(message)
        self.max_domains, self.max_loss, self.needed = max_domains, max_loss, needed


class PackageDataMissing(CpuCompatError, LookupError):
    """The data shipped inside the package (``cpucompat.data``) is not there:
    cpucompat is imported from its source checkout without being installed."""


class UnreadableFile(CpuCompatError, OSError):
    """A file that cannot be read: missing, not a regular file (a FIFO, a
    device, a directory) or larger than the reader's bound.

    An `OSError` whose ``errno`` and ``strerror`` are None: the message
    (``str(exc)``) and ``source`` say what happened to which file."""


class UnwritableFile(CpuCompatError, OSError):
    """An output that cannot be written (or replaced) safely; an `OSError`
    as `UnreadableFile` is."""


class MissingDependency(CpuCompatError, ImportError):
    """An optional part cpucompat needs for this answer is not installed
    (libvirt-python, Graphviz's dot); the message says how to get it."""


class RenderFailed(CpuCompatError, RuntimeError):
    """A picture a helper program (Graphviz's dot) could not draw."""


class HostUnreachable(CpuCompatError, OSError):
    """A libvirt host that could not be connected to or asked for its CPU;
    an `OSError` as `UnreadableFile` is."""


class PlacementError(CpuCompatError, OSError):
    """Placement's REST API refused or failed a call (``status``: the HTTP
    status, None when it could not be reached); an `OSError` as
    `UnreadableFile` is."""

    def __init__(self, message: str, *, source: str | None = None, status: int | None = None) -> None:
        super().__init__(message, source=source)
        self.status = status


class GenerationConflict(PlacementError):
    """A resource provider changed between reading its generation and
    writing with it (HTTP 409 ``placement.concurrent_update``): read again."""


def suggest(name: str, candidates: Iterable[str], limit: int = 3) -> str:
    """Return ' (did you mean: a, b?)' for the nearest names, or ''.

    Case is ignored.  A name is near when it is similar as a whole
    (difflib ratio >= 0.6: ``Skylake-Clinet``) or similar to the start of a
    candidate (ratio >= 0.8 against a prefix of the same length:
    ``Skylaek`` -> ``Skylake-*``, ``skylake`` -> ``Skylake-*``).
    """
    folded = name.casefold()
    import difflib  # here: only an unknown name needs it

    matcher = difflib.SequenceMatcher()
    matcher.set_seq2(folded)  # SequenceMatcher caches what it learns about seq2
    scored = []
    for candidate in dict.fromkeys(candidates):
        other = candidate.casefold()
        matcher.set_seq1(other)
        whole = matcher.ratio()
        prefix = 0.0
        if len(folded) >= 3 and len(other) > len(folded):
            matcher.set_seq1(other[:len(folded)])
            prefix = matcher.ratio()
        if whole >= 0.6 or prefix >= 0.8:
            scored.append((-max(whole, prefix), -whole, candidate))
    close = [candidate for *_, candidate in sorted(scored)[:limit]]
    return f" (did you mean: {', '.join(close)}?)" if close else ""
