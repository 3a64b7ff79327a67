"""Raw x86 CPUID/MSR dumps (libvirt's ``<cpudata arch='x86'>``) as values.

Turning the registers into a feature bitmask, a vendor and a signature is
the first half of libvirt's x86Decode; choosing a model is in decode.py.
"""
from __future__ import annotations

from dataclasses import dataclass, field

from .cpumap import ArchMap
from .cpuxml import cpudata_element, serialize

__all__ = ["SIGNATURE_MASK", "CpuidDump", "DecodedData", "signature_parts", "signature_value", "decode_data",
           "encode_dump"]

# Reserved bits of CPUID leaf 1 EAX, masked as libvirt's x86DataToSignature does.
SIGNATURE_MASK = 0x0FFF3FFF


@dataclass(frozen=True, slots=True)
class CpuidDump:
    """CPUID leaves ((eax_in, ecx_in) → eax, ebx, ecx, edx) and MSRs."""

    leaves: tuple[tuple[tuple[int, int], tuple[int, int, int, int]], ...]
    msrs: tuple[tuple[int, tuple[int, int]], ...] = ()
    source: str | None = field(default=None, compare=False, hash=False)

    def to_xml(self) -> str:
        """libvirt's ``<cpudata arch='x86'>`` form of this dump."""
        return serialize(cpudata_element(self))

    def leaf(self, eax_in: int, ecx_in: int = 0) -> tuple[int, int, int, int] | None:
        for key, regs in self.leaves:
            if key == (eax_in, ecx_in):
                return regs
        return None


@dataclass(frozen=True, slots=True)
class DecodedData:
    """What a dump says before any model is chosen."""

    vendor: str | None
    signature: int  # leaf 1 EAX with reserved bits masked; 0 when absent
    features: int  # bitmask over the ArchMap, TSX quirk already applied

    @property
    def family_model_stepping(self) -> tuple[int, int, int]:
        return signature_parts(self.signature)


def signature_parts(signature: int) -> tuple[int, int, int]:
    """(family, model, stepping) of a leaf-1 EAX value."""
    family = ((signature >> 20) & 0xFF) + ((signature >> 8) & 0xF)
    model = ((signature >> 12) & 0xF0) + ((signature >> 4) & 0xF)
    return family, model, signature & 0xF


_REGISTER_INDEX = {"eax": 0, "ebx": 1, "ecx": 2, "edx": 3}


def signature_value(family: int, model: int, stepping: int) -> int:
    """Leaf 1 EAX of a (family, model, stepping): the inverse of `signature_parts`."""
    sig = 0
    if family > 0xF:
        sig |= (family - 0xF) << 20
        family = 0xF
    sig |= (model >> 4) << 16
    sig |= family << 8
    sig |= (model & 0xF) << 4
    return sig | (stepping & 0xF)


def decode_data(dump: CpuidDump, archmap: ArchMap) -> DecodedData:
    """Vendor, signature and feature bits of a dump over `archmap`."""
    return archmap.cached(_decode_data, 1024)(dump, archmap)


def _decode_data(dump: CpuidDump, archmap: ArchMap) -> DecodedData:
    leaves = dict(dump.leaves)
    msrs = dict(dump.msrs)
    vendor = None
    leaf0 = leaves.get((0, 0))
    if leaf0 is not None:
        string = b"".join(r.to_bytes(4, "little") for r in (leaf0[1], leaf0[3], leaf0[2]))
        found = archmap.vendor_by_string.get(string.decode("latin-1"))
        vendor = found.name if found else None
    leaf1 = leaves.get((1, 0))
    signature = (leaf1[0] & SIGNATURE_MASK) if leaf1 else 0
    bits = 0
    for (kind, leaf, subleaf, register), entries in archmap.decode_words.items():
        if kind == "cpuid":
            regs = leaves.get((leaf, subleaf))
            if regs is None:
                continue
            word = regs[_REGISTER_INDEX[register]]
        else:
            pair = msrs.get(leaf)
            if pair is None:
                continue
            word = pair[0] if register == "eax" else pair[1]
        for mask, bit in entries:
            if word & mask == mask:
                bits |= 1 << bit
    bits = _drop_broken_tsx(bits, vendor, signature, archmap)
    return DecodedData(vendor, signature, bits)


def _drop_broken_tsx(bits: int, vendor: str | None, signature: int, archmap: ArchMap) -> int:
    # libvirt x86DataFilterTSX: Haswell-era Intel parts whose TSX was
    # disabled by microcode still report hle/rtm in CPUID.
    if vendor != "Intel":
        return bits
    family, model, stepping = signature_parts(signature)
    if family == 6 and ((model == 63 and stepping < 4) or model in (60, 69, 70)):
        for name in ("hle", "rtm"):
            feature = archmap.feature_by_name.get(name)
            if feature is not None:
                bits &= ~feature.mask
    return bits


def encode_dump(archmap: ArchMap, bits: int, vendor: str | None = None,
                signature: tuple[int, int, int] | None = None) -> CpuidDump:
    """The CPUID dump a CPU with exactly these features would give: the
    inverse of `decode_data`, for tests and synthetic fleets."""
    words: dict[tuple[str, int, int], list[int]] = {}
    for feature in archmap.iter_features(bits):
        for d in feature.data:
            regs = words.setdefault((d.kind, d.leaf, d.subleaf), [0, 0, 0, 0])
            regs[_REGISTER_INDEX[d.register]] |= d.mask
    leaf1 = words.setdefault(("cpuid", 1, 0), [0, 0, 0, 0])
    if signature is not None:
        leaf1[0] = signature_value(*signature)
    if vendor is not None:
        raw = (archmap.vendors[vendor].string or "").encode("latin-1")
        words[("cpuid", 0, 0)] = [0xD, int.from_bytes(raw[0:4], "little"),
                                  int.from_bytes(raw[8:12], "little"), int.from_bytes(raw[4:8], "little")]
    leaves = tuple(((leaf, sub), tuple(regs)) for (kind, leaf, sub), regs in sorted(words.items()) if kind == "cpuid")
    msrs = tuple((leaf, (regs[0], regs[3])) for (kind, leaf, _), regs in sorted(words.items()) if kind == "msr")
    return CpuidDump(leaves, msrs)  # type: ignore[arg-type]
