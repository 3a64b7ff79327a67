"""The values a cpu_map defines: features, models, vendors, signatures.

Frozen and hashable; a feature is one bit of its arch's bitmasks.
"""
from __future__ import annotations

from dataclasses import dataclass

__all__ = ["MAX_FEATURES", "MAX_MODELS", "MAX_UINT", "MAX_STEPPING",
           "X86_REGISTERS", "ARCH_ALIASES", "arch_family", "Signature", "CpuidBit", "Feature", "Model", "Vendor"]

X86_REGISTERS = ("eax", "ebx", "ecx", "edx")

# what one arch of a map may hold (the limits of the package docstring)
MAX_FEATURES = 4096
MAX_MODELS = 2048
MAX_ARCHES = 8
MAX_UINT = 0xFFFF_FFFF  # libvirt reads the map's numbers as unsigned int
MAX_STEPPING = 15  # CPUID leaf 1 EAX[3:0]; libvirt parses steppings into a 16-bit bitmap

# Which cpu_map arch describes a given libvirt/Nova arch string.
ARCH_ALIASES = {
    "x86": "x86", "x86_64": "x86", "i686": "x86", "i386": "x86", "amd64": "x86",
    "ppc64": "ppc64", "ppc64le": "ppc64", "ppc": "ppc64",
    "arm": "arm", "aarch64": "arm", "armv7l": "arm", "arm64": "arm",
    "s390x": "s390", "s390": "s390",
}


def arch_family(arch: str | None) -> str:
    """The cpu_map arch describing a libvirt/Nova arch name (x86_64 → x86,
    aarch64 → arm); a CPU naming no arch is x86, an unknown name itself."""
    name = (arch or "x86").lower()
    return ARCH_ALIASES.get(name, name)


@dataclass(frozen=True, slots=True)
class Signature:
    """A CPUID family/model with an optional set of steppings."""

    family: int
    model: int
    steppings: frozenset[int] | None = None

    def matches(self, family: int, model: int, stepping: int) -> bool:
        return (self.family == family and self.model == model
                and (self.steppings is None or stepping in self.steppings))


@dataclass(frozen=True, slots=True)
class CpuidBit:
    """Where a feature lives: a CPUID leaf register or an MSR half."""

    kind: str  # "cpuid" or "msr"
    leaf: int  # eax_in, or the MSR index
    subleaf: int  # ecx_in (0 for MSRs)
    register: str  # eax/ebx/ecx/edx
    mask: int


@dataclass(frozen=True, slots=True, eq=False)
class Feature:
    """One CPU feature of a map: its bit in every bitmask of that map."""

    name: str
    bit: int
    migratable: bool = True
    data: tuple[CpuidBit, ...] = ()
    aliases: tuple[tuple[str, str], ...] = ()  # (alias, source)

    @property
    def mask(self) -> int:
        return 1 << self.bit


@dataclass(frozen=True, slots=True, eq=False)
class Model:
    """A named CPU model with its feature bitmask (libvirt's model data)."""

    name: str
    arch: str
    index: int
    features: int
    vendor: str | None = None
    own_features: int = 0
    removed: int = 0
    added: int = 0
    signatures: tuple[Signature, ...] = ()
    decode_host: bool = True
    decode_guest: bool = True
    parent: str | None = None
    alias_of: str | None = None  # set on a pure canonical alias (Broadwell-v3)
    canonical: str | None = None  # set on the model an alias names
    check_partial_compat: bool = False
    group: str | None = None
    pvr: tuple[tuple[int, int | None], ...] = ()

    def signature_matches(self, family: int, model: int, stepping: int) -> bool:
        return any(s.matches(family, model, stepping) for s in self.signatures)


@dataclass(frozen=True, slots=True)
class Vendor:
    """A CPU vendor of a map: its CPUID string (x86) or implementer id (arm)."""

    name: str
    string: str | None = None  # x86: the 12-byte CPUID vendor string
    value: int | None = None  # arm: implementer id

