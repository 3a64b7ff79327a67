"""One arch of a map in its compiled form (compiled.py's JSON) and back:
`arch_value` writes an ArchMap's values as plain lists, `arch_map` reads
them, validating every value (the form is input cpucompat did not
necessarily write), as the XML loader would have built them."""
from __future__ import annotations

from typing import Any

from .archmap import ArchMap
from .values import (MAX_FEATURES, MAX_MODELS, MAX_STEPPING, MAX_UINT, X86_REGISTERS, CpuidBit, Feature, Model,
                     Signature, Vendor)

__all__ = ["MAX_NAME", "Invalid", "REFUSED", "arch_map", "arch_value", "checked_list", "checked_str", "checked_int"]

MAX_NAME = 4096  # longest name or path kept from a compiled map


class Invalid(Exception):
    """A compiled value that fails a check (never escapes compiled.py)."""


# what a value of the wrong shape or size raises while it is validated
REFUSED = (Invalid, ValueError, TypeError, KeyError, IndexError, AttributeError, RecursionError, OverflowError)


def arch_map(arch: str, source: str, value: dict[str, Any]) -> ArchMap:
    """The ArchMap of one arch's compiled values; Invalid (or one of
    `REFUSED`) when any fails a check."""
    vendors: dict[str, Vendor] = {}
    for name, string, number in checked_list(value["vendors"], MAX_MODELS):
        vendor = Vendor(checked_str(name), checked_str(string, optional=True),
                        None if number is None else checked_int(number, MAX_UINT))
        if vendor.name in vendors:
            raise Invalid
        vendors[vendor.name] = vendor
    features = []
    for bit, (name, migratable, data, aliases) in enumerate(checked_list(value["features"], MAX_FEATURES)):
        _bools(migratable)
        features.append(Feature(checked_str(name), bit, migratable,
                                tuple([_cpuid_bit(d) for d in checked_list(data, 64)]),
                                tuple([(checked_str(a), checked_str(s)) for a, s in aliases])
                                if checked_list(aliases, 64) else ()))
    beyond = ~((1 << len(features)) - 1)  # bits no feature has
    signatures_seen: dict[Any, tuple[Signature, ...]] = {}  # a model's variants share its signatures
    models: list[Model] = []
    known: set[str] = set()
    for position, entry in enumerate(checked_list(value["models"], MAX_MODELS)):
        (name, mask, vendor, own, removed, added, signatures, decode_host, decode_guest, parent, alias_of,
         canonical, partial, group, pvr) = checked_list(entry, 15, exactly=True)
        _strings(name, vendor, parent, alias_of, canonical, group, optional=(False, True, True, True, True, True))
        if (vendor is not None and vendor not in vendors) or (parent is not None and parent not in known) or (
                alias_of is not None and alias_of != parent):
            raise Invalid  # a model refers only to vendors and models before it, as the loader requires
        _bools(decode_host, decode_guest, partial)
        mask, own, removed, added = _masks(beyond, mask, own, removed, added)
        models.append(Model(  # positional, in the order of Model's fields (a model has many)
            name, arch, position, mask, vendor, own, removed, added,
            _signatures(signatures, signatures_seen) if signatures else (),
            decode_host, decode_guest, parent, alias_of, canonical, partial, group,
            tuple((checked_int(v, MAX_UINT), None if m is None else checked_int(m, MAX_UINT))
                  for v, m in checked_list(pvr, 256)) if pvr else ()))
        known.add(name)
    if len(known) != len(models) or len({f.name for f in features}) != len(features):
        raise Invalid
    return ArchMap(arch, source, vendors, tuple(features), tuple(models))


def _cpuid_bit(value: Any) -> CpuidBit:
    kind, leaf, subleaf, register, mask = checked_list(value, 5, exactly=True)
    if kind not in ("cpuid", "msr") or register not in X86_REGISTERS:
        raise Invalid
    for number in (leaf, subleaf, mask):  # one per feature: no call per number
        if type(number) is not int or not 0 <= number <= MAX_UINT:
            raise Invalid
    return CpuidBit(kind, leaf, subleaf, register, mask)


def _signatures(value: Any, seen: dict[Any, tuple[Signature, ...]]) -> tuple[Signature, ...]:
    """A model's signatures, the same values for the same list (interned)."""
    key = repr(checked_list(value, 256))  # numbers and lists of numbers, if valid: its repr is its value
    found = seen.get(key)
    if found is None:
        found = seen[key] = tuple(_signature(s) for s in value)
    return found


def _signature(value: Any) -> Signature:
    family, model, steppings = checked_list(value, 3, exactly=True)
    return Signature(checked_int(family, MAX_UINT), checked_int(model, MAX_UINT), None if steppings is None else
                     frozenset(checked_int(s, MAX_STEPPING) for s in checked_list(steppings, MAX_STEPPING + 1)))


def checked_list(value: Any, limit: int, *, exactly: bool = False) -> list[Any]:
    if not isinstance(value, list) or len(value) > limit or (exactly and len(value) != limit):
        raise Invalid
    return value


def checked_str(value: Any, *, optional: bool = False) -> Any:
    if (value is None and optional) or (isinstance(value, str) and len(value) <= MAX_NAME):
        return value
    raise Invalid


def _strings(*values: Any, optional: tuple[bool, ...]) -> None:
    for value, may_be_none in zip(values, optional):
        if not ((value is None and may_be_none) or (type(value) is str and len(value) <= MAX_NAME)):
            raise Invalid


def _bools(*values: Any) -> None:
    for value in values:
        if type(value) is not bool:
            raise Invalid


def _masks(beyond: int, *values: Any) -> list[int]:
    masks = []
    for value in values:
        if type(value) is not str or len(value) > MAX_FEATURES // 4 + 1:
            raise Invalid
        mask = int(value, 16) if value != "0" else 0
        if mask & beyond:
            raise Invalid
        masks.append(mask)
    return masks


def checked_int(value: Any, limit: int) -> int:
    if type(value) is not int or not 0 <= value <= limit:
        raise Invalid
    return value


def arch_value(archmap: ArchMap) -> dict[str, Any]:
    """The compiled form of one arch: what `arch_map` reads back."""
    return {
        "name": archmap.name,
        "vendors": [[v.name, v.string, v.value] for v in archmap.vendors.values()],
        "features": [[f.name, f.migratable, [[d.kind, d.leaf, d.subleaf, d.register, d.mask] for d in f.data],
                      [list(a) for a in f.aliases]] for f in archmap.features],
        "models": [[m.name, f"{m.features:x}", m.vendor, f"{m.own_features:x}", f"{m.removed:x}", f"{m.added:x}",
                    [[s.family, s.model, sorted(s.steppings) if s.steppings is not None else None]
                     for s in m.signatures],
                    m.decode_host, m.decode_guest, m.parent, m.alias_of, m.canonical, m.check_partial_compat,
                    m.group, [list(p) for p in m.pvr]] for m in archmap.models],
    }
