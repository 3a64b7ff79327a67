"""Turning a map's XML elements into values: libvirt's cpu_map rules
(inheritance, aliases, numbers it accepts)."""
from __future__ import annotations

from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Mapping

from ...display import shown
from ...errors import InvalidCpuMap
from .archmap import ArchMap
from .files import MapFiles
from .values import (MAX_FEATURES, MAX_MODELS, MAX_STEPPING, MAX_UINT, X86_REGISTERS, CpuidBit, Feature, Model,
                     Signature, Vendor)

if TYPE_CHECKING:
    from lxml import etree

__all__ = ["MAX_FEATURES", "MAX_MODELS", "MAX_UINT", "MAX_STEPPING", "ArchBuilder"]



def _int(value: str | None, what: str, where: str, *, limit: int = MAX_UINT) -> int:
    """A number of the map as libvirt reads it (unsigned, at most `limit`)."""
    if value is None:
        return 0
    try:
        number = int(value, 0)
    except ValueError:  # also a decimal of more than 4,300 digits
        number = -1
    if not 0 <= number <= limit:
        raise InvalidCpuMap(f"{what} '{shown(value)}' is not a number from 0 to {limit:#x}", source=where)
    return number


def _steppings(text: str, where: str) -> frozenset[int]:
    out: set[int] = set()
    for part in text.split(","):
        part = part.strip()
        if not part:
            continue
        lo, dash, hi = part.partition("-")
        first = _int(lo, "stepping", where, limit=MAX_STEPPING)
        last = _int(hi, "stepping", where, limit=MAX_STEPPING) if dash else first
        if last < first:  # libvirt's virBitmapParse refuses a falling range
            raise InvalidCpuMap(f"stepping range '{shown(part)}' falls", source=where)
        out.update(range(first, last + 1))
    return frozenset(out)


@dataclass
class ArchBuilder:
    arch: str
    source: str
    files: MapFiles
    vendors: dict[str, Vendor] = field(default_factory=dict)
    features: list[Feature] = field(default_factory=list)
    feature_index: dict[str, int] = field(default_factory=dict)
    models: list[Model] = field(default_factory=list)
    model_index: dict[str, int] = field(default_factory=dict)

    def load_arch(self, arch_el: etree._Element, index: Path) -> None:
        # libvirt loads inline vendors, features and models first, then
        # follows includes (also inside <group>) in document order.
        self._load_elements(arch_el, str(index), None)
        for child in arch_el:
            if child.tag == "include":
                self._load_include(child, index, None)
            elif child.tag == "group":
                for inc in child.iter("include"):
                    self._load_include(inc, index, child.get("name"))

    def _load_include(self, inc: etree._Element, index: Path, group: str | None) -> None:
        path, root = self.files.include(inc.get("filename"), index)
        self._load_elements(root, str(path), group)

    def _load_elements(self, container: etree._Element, where: str, group: str | None) -> None:
        for el in container.findall("vendor"):
            self._vendor(el, where)
        for el in container.findall("feature"):
            self._feature(el, where)
        for el in container.findall("model"):
            self._model(el, where, group)

    def _vendor(self, el: etree._Element, where: str) -> None:
        name = el.get("name")
        if not name:
            raise InvalidCpuMap("<vendor> without a name", source=where)
        if name in self.vendors:
            raise InvalidCpuMap(f"CPU vendor {shown(name)} already defined", source=where)
        string = el.get("string")
        if self.arch == "x86" and (string is None or len(string) != 12):
            raise InvalidCpuMap(f"vendor {shown(name)} needs a 12-character string", source=where)
        value = el.get("value")
        self.vendors[name] = Vendor(name, string, _int(value, "vendor value", where) if value else None)

    def _new_name(self, el: etree._Element, known: dict[str, int], limit: int, twice: str, where: str) -> str:
        """The name of a new ``<feature>`` or ``<model>``: given, not defined
        before (`twice` says so, ``{}`` standing for the name), and within
        the arch's `limit` of such elements."""
        name = el.get("name")
        if not name:
            raise InvalidCpuMap(f"<{el.tag}> without a name", source=where)
        if name in known:
            raise InvalidCpuMap(twice.format(shown(name)), source=where)
        if len(known) >= limit:
            raise InvalidCpuMap(f"arch {shown(self.arch)} has more than {limit} {el.tag}s (libvirt's "
                                "maps have a few hundred)", source=where)
        return str(name)

    @staticmethod
    def _reference(el: etree._Element, known: Mapping[str, object], before: str, after: str, where: str) -> str:
        """The name an element refers to (a model's ancestor or vendor),
        which must be defined before it."""
        name = el.get("name")
        if name not in known:
            raise InvalidCpuMap(f"{before} {shown(name)} {after}", source=where)
        return str(name)

    def _feature(self, el: etree._Element, where: str) -> None:
        name = self._new_name(el, self.feature_index, MAX_FEATURES, "CPU feature {} already defined", where)
        data: list[CpuidBit] = []
        aliases: list[tuple[str, str]] = []
        for item in el:
            if item.tag == "alias":
                aliases.append((item.get("name", ""), item.get("source", "")))
            elif item.tag == "cpuid":
                leaf = item.get("eax_in", item.get("function"))
                if leaf is None:
                    raise InvalidCpuMap(f"feature {shown(name)}: <cpuid> without eax_in", source=where)
                for reg in X86_REGISTERS:
                    mask = _int(item.get(reg), f"feature {shown(name)} {reg}", where)
                    if mask:
                        data.append(CpuidBit("cpuid", _int(leaf, "eax_in", where),
                                             _int(item.get("ecx_in"), "ecx_in", where), reg, mask))
            elif item.tag == "msr":
                index = _int(item.get("index"), f"feature {shown(name)} msr index", where)
                for reg in ("eax", "edx"):
                    mask = _int(item.get(reg), f"feature {shown(name)} {reg}", where)
                    if mask:
                        data.append(CpuidBit("msr", index, 0, reg, mask))
        if self.arch == "x86" and not data:
            raise InvalidCpuMap(f"feature {shown(name)} has no CPUID or MSR data", source=where)
        feature = Feature(name, len(self.features), el.get("migratable") != "no",
                          tuple(data), tuple(aliases))
        self.feature_index[name] = feature.bit
        self.features.append(feature)

    def _feature_bit(self, name: str | None, model: str, where: str) -> int:
        if not name or name not in self.feature_index:
            raise InvalidCpuMap(f"feature {shown(name)} required by CPU model {shown(model)} not found",
                                source=where)
        return 1 << self.feature_index[name]

    def _model(self, el: etree._Element, where: str, group: str | None) -> None:
        name = self._new_name(el, self.model_index, MAX_MODELS, "multiple definitions of CPU model '{}'", where)
        decode = el.find("decode")
        decode_host = decode_guest = True
        if decode is not None:
            decode_host = decode.get("host", "on") == "on"
            decode_guest = decode.get("guest", "on") == "on"
        vendor = None
        signatures: tuple[Signature, ...] = ()
        data = 0
        parent = None
        ancestor_el = el.find("model")
        if ancestor_el is not None:
            parent = self._reference(ancestor_el, self.model_index, "ancestor model",
                                     f"not found for CPU model {shown(name)}", where)
            ancestor = self.models[self.model_index[parent]]
            vendor, signatures, data = ancestor.vendor, ancestor.signatures, ancestor.features
        sig_els = el.findall("signature")
        if sig_els:
            sigs = []
            for s in sig_els:
                family = _int(s.get("family"), "signature family", where)
                if family == 0:
                    raise InvalidCpuMap(f"invalid CPU signature family in model {shown(name)}", source=where)
                stepping = s.get("stepping")
                sigs.append(Signature(family, _int(s.get("model"), "signature model", where),
                                      _steppings(stepping, where) if stepping else None))
            signatures = tuple(sigs)
        vendor_el = el.find("vendor")
        if vendor_el is not None:
            vendor = self._reference(vendor_el, self.vendors, "unknown vendor",
                                     f"referenced by CPU model {shown(name)}", where)
        own = removed = added = 0
        for f in el.findall("feature"):
            bit = self._feature_bit(f.get("name"), name, where)
            if f.get("removed") == "yes":
                removed |= bit
            elif f.get("added") == "yes":
                added |= bit
            else:
                own |= bit
        data |= own
        pvr = tuple((_int(p.get("value"), "pvr value", where),
                     _int(p.get("mask"), "pvr mask", where) if p.get("mask") else None)
                    for p in el.findall("pvr"))
        is_alias = (parent is not None and not sig_els and vendor_el is None
                    and el.find("feature") is None)
        model = Model(
            name=name, arch=self.arch, index=len(self.models), features=data,
            vendor=vendor, own_features=own, removed=removed, added=added,
            signatures=signatures, decode_host=decode_host, decode_guest=decode_guest,
            parent=parent, alias_of=parent if is_alias else None,
            check_partial_compat=(el.find("check") is not None
                                  and el.find("check").get("partial") == "compat"),
            group=group, pvr=pvr)
        if is_alias and parent is not None:
            target_pos = self.model_index[parent]
            target = self.models[target_pos]
            if target.canonical is not None:
                raise InvalidCpuMap(f"CPU model {shown(parent)} has two canonical names: "
                                    f"{shown(target.canonical)} and {shown(name)}", source=where)
            self.models[target_pos] = replace(target, canonical=name)
        self.model_index[name] = model.index
        self.models.append(model)

    def build(self) -> ArchMap:
        return ArchMap(self.arch, self.source, dict(self.vendors), tuple(self.features), tuple(self.models))

