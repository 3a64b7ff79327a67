"""Reading libvirt's cpu_map into immutable per-arch tables.

Both layouts libvirt has shipped load into the same values:

* the split layout (libvirt >= 4.7): ``index.xml`` with ``<include>`` and
  ``<group>`` elements, ``x86_vendors.xml``, ``x86_features.xml`` and one
  ``x86_<Model>.xml`` per model;
* the legacy single ``cpu_map.xml`` (libvirt 0.7.5 - 4.6) with inline
  vendors, features and models, ``<cpuid function=...>`` and
  ``<model name='Parent'/>`` inheritance.

Every feature gets one bit, numbered in feature-file order, so feature
sets are plain ``int`` bitmasks and listing the bits lowest-first gives
libvirt's output order.  Models keep map order, which is libvirt's
decode order (walked newest-first).

A map may come from anywhere (``--cpu-map``, nova.conf), so loading one
costs memory linear in its size, and its size is bounded.  The limits sit
far above any map libvirt has shipped (12.8.0: 176 x86 models, 400
features, 204 files, the largest 40 KiB; the legacy single ``cpu_map.xml``
of 4.6: about 300 KiB); a map past one is refused with one line naming
the file:

* each file at most `MAX_FILE_BYTES` (4 MiB), all of a map's files
  together at most `MAX_MAP_BYTES` (16 MiB), at most `MAX_FILES` (4,096)
  of them; only regular files are read (a FIFO, a device such as
  ``/dev/zero`` or a directory is refused before a byte is read);
* per arch at most `MAX_FEATURES` (4,096) features and `MAX_MODELS`
  (2,048) models, and at most `MAX_ARCHES` (8) arches;
* an ``<include filename=...>`` is a plain file name in the map's own
  directory (letters, digits, ``_.+-``), as in every map libvirt ships:
  ``../../etc/shadow``, ``/etc/shadow`` or a hidden file is refused (a
  symbolic link is followed, to a regular file only);
* numbers are libvirt's: unsigned 32-bit, steppings 0-15.
"""
from __future__ import annotations

import functools
import os
import re
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable, Iterator, Sequence

from lxml import etree

from . import names as _names
from ..display import MAX_SHOWN, shown
from ..errors import InvalidCpuMap, InvalidCpuXml, UnknownArch, UnknownFeature, UnknownModel, suggest
from ..packagedata import data_path
from .rules import DEFAULT_VERSION
from ..safefile import read_regular
from ..xmlsafe import parse_xml

__all__ = ["X86_REGISTERS", "ARCH_ALIASES", "Signature", "CpuidBit", "Feature", "Model", "Vendor", "ArchMap",
           "CpuMap", "default_cpu_map_path", "load_cpu_map", "embedded_cpu_map"]

X86_REGISTERS = ("eax", "ebx", "ecx", "edx")

MAX_FILE_BYTES = 4 * 1024 * 1024
MAX_MAP_BYTES = 16 * 1024 * 1024
MAX_FILES = 4096
MAX_FEATURES = 4096
MAX_MODELS = 2048
MAX_ARCHES = 8
MAX_SOURCE_BYTES = 64 * 1024  # the SOURCE file naming the map's libvirt version
MAX_UINT = 0xFFFF_FFFF  # libvirt reads the map's numbers as unsigned int
MAX_STEPPING = 15  # CPUID leaf 1 EAX[3:0]; libvirt parses steppings into a 16-bit bitmap

# Which cpu_map arch describes a given libvirt/Nova arch string.
ARCH_ALIASES = {
    "x86": "x86", "x86_64": "x86", "i686": "x86", "i386": "x86", "amd64": "x86",
    "ppc64": "ppc64", "ppc64le": "ppc64", "ppc": "ppc64",
    "arm": "arm", "aarch64": "arm", "armv7l": "arm", "arm64": "arm",
    "s390x": "s390", "s390": "s390",
}


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
    name: str
    string: str | None = None  # x86: the 12-byte CPUID vendor string
    value: int | None = None  # arm: implementer id


class ArchMap:
    """Everything one ``<arch>`` of a cpu_map defines, indexed for speed."""

    def __init__(self, name: str, source: str, vendors: dict[str, Vendor],
                 features: tuple[Feature, ...], models: tuple[Model, ...]) -> None:
        self.name = name
        self.source = source
        self.vendors = vendors
        self.features = features
        self.models = models
        self.feature_by_name = {f.name: f for f in features}
        self.mask_by_name = {f.name: f.mask for f in features}
        self.model_by_name = {m.name: m for m in models}
        self._model_by_folded = {m.name.lower(): m for m in models}
        self.all_features = (1 << len(features)) - 1
        # names of each (byte position, byte value) of a bitmask, for `names`,
        # and their ranks in name order, for `sorted_names`: 256 short tuples
        # per 8 features, memory linear in the feature count
        names = [f.name for f in features]
        self._byte_names = _byte_table(names)
        self._by_name = tuple(sorted(names))
        rank = {name: r for r, name in enumerate(self._by_name)}
        self._byte_ranks = _byte_table([rank[n] for n in names])
        self.non_migratable = 0
        for f in features:
            if not f.migratable:
                self.non_migratable |= f.mask
        self.vendor_by_string = {v.string: v for v in vendors.values() if v.string}
        self.feature_aliases = _names.alias_table(self)
        # decode table: (kind, leaf, subleaf, register) -> [(mask, bit)]
        words: dict[tuple[str, int, int, str], list[tuple[int, int]]] = {}
        for f in features:
            if len(f.data) == 1:
                d = f.data[0]
                words.setdefault((d.kind, d.leaf, d.subleaf, d.register), []).append((d.mask, f.bit))
        self.decode_words = {k: tuple(v) for k, v in words.items()}

    def __repr__(self) -> str:
        return f"<ArchMap {self.name} from {self.source}: {len(self.models)} models, {len(self.features)} features>"

    # -- names -------------------------------------------------------------
    def feature(self, name: str, *, source: str | None = None) -> Feature:
        """The feature called `name` in any accepted spelling."""
        canonical = self.canonical_feature(name)
        if canonical is None:
            raise UnknownFeature(self._unknown("feature", name, self.feature_by_name), source=source)
        return self.feature_by_name[canonical]

    def canonical_feature(self, name: str) -> str | None:
        """libvirt's spelling of `name`, or None when the map lacks it."""
        if name in self.feature_by_name:
            return name
        return self.feature_aliases.get(_names.fold(name))

    def model(self, name: str, *, source: str | None = None) -> Model:
        """The model called `name` (exact, then case-insensitive)."""
        found = self.model_by_name.get(name) or self._model_by_folded.get(name.lower())
        if found is None:
            raise UnknownModel(self._unknown("model", name, self.model_by_name), source=source)
        return found

    def _unknown(self, kind: str, name: str, known: Iterable[str]) -> str:
        """'unknown CPU model ...' with the nearest names, an untrusted
        `name` shown clipped and escaped (a 10 MB name gets no suggestion)."""
        near = suggest(name, (k for k in known if len(k) <= MAX_SHOWN)) if len(name) <= MAX_SHOWN else ""
        return f"unknown CPU {kind} '{shown(name)}' in cpu_map {self.source} ({self.name})" + shown(near, 1000)

    # -- bitmasks ----------------------------------------------------------
    def bits(self, feature_names: Iterable[str], *, source: str | None = None) -> int:
        mask = 0
        for n in feature_names:
            mask |= self.feature(n, source=source).mask
        return mask

    def names(self, bits: int) -> list[str]:
        """Feature names of a bitmask, in feature-file order."""
        return _table_values(self._byte_names, bits & self.all_features)

    def sorted_names(self, bits: int) -> list[str]:
        """Feature names of a bitmask sorted by name (libvirt's expanded
        lists), sorting small ints (their ranks) instead of strings."""
        ranks = _table_values(self._byte_ranks, bits & self.all_features)
        ranks.sort()
        return list(map(self._by_name.__getitem__, ranks))

    def known_mask(self, names: Iterable[str]) -> int:
        """Bitmask of those of `names` the map knows; the rest are ignored."""
        masks = self.mask_by_name
        mask = 0
        for name in names:
            mask |= masks.get(name, 0)
        return mask

    def iter_features(self, bits: int) -> Iterator[Feature]:
        features = self.features
        while bits:
            low = bits & -bits
            yield features[low.bit_length() - 1]
            bits ^= low


def _byte_table(values: Sequence[Any]) -> tuple[tuple[tuple[Any, ...], ...], ...]:
    """For each byte position of a bitmask over `values` (bit i ↔ values[i])
    and each byte value, the values of the bits it sets, in bit order;
    built by doubling (bit b's half extends the half below it)."""
    count = len(values)
    rows = []
    for i in range((count + 7) // 8 or 1):
        row: list[tuple[Any, ...]] = [()]
        for index in range(8 * i, 8 * i + 8):
            if index < count:
                value = values[index]
                row += [rest + (value,) for rest in row]
            else:
                row += row
        rows.append(tuple(row))
    return tuple(rows)


def _table_values(table: tuple[tuple[tuple[Any, ...], ...], ...], bits: int) -> list[Any]:
    out: list[Any] = []
    for index, byte in enumerate(bits.to_bytes(len(table), "little")):
        if byte:
            out.extend(table[index][byte])
    return out


class CpuMap:
    """A loaded cpu_map: one ArchMap per ``<arch>`` it describes."""

    def __init__(self, source: str, arches: dict[str, ArchMap], layout: str,
                 version: str | None) -> None:
        self.source = source
        self.arches = arches
        self.layout = layout  # "split" or "legacy"
        self.version = version

    def __repr__(self) -> str:
        return f"<CpuMap {self.source} ({self.layout}, {', '.join(self.arches)})>"

    def arch(self, arch: str | None = "x86") -> ArchMap:
        """The ArchMap for a libvirt arch name (x86_64, aarch64, ...)."""
        key = ARCH_ALIASES.get((arch or "x86").lower(), (arch or "").lower())
        if key not in self.arches:
            raise UnknownArch(f"cpu_map {self.source} describes no arch '{arch}'"
                              f" (it has: {', '.join(self.arches)})")
        return self.arches[key]

    @property
    def x86(self) -> ArchMap:
        return self.arch("x86")


# -- loading ---------------------------------------------------------------

def default_cpu_map_path() -> Path:
    """Where the embedded default map (rules.DEFAULT_VERSION) lives inside the package."""
    return data_path("cpu_maps", DEFAULT_VERSION)


@dataclass(frozen=True, slots=True)
class _Cached:
    """A loaded map with the (device, inode, size, mtime, ctime) of every
    file it was read from, taken before reading: a change to any reloads."""

    stamps: tuple[tuple[str, tuple[int, ...]], ...]
    cpumap: CpuMap
    size: int  # bytes read, for the cache's bound


# a file name within the map's directory, as libvirt's maps name them
_INCLUDE_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.+-]{0,254}")
_MAX_CACHED = 16
_MAX_CACHED_BYTES = 4 * MAX_MAP_BYTES
_cache_lock = threading.Lock()
_cache: dict[str, _Cached] = {}  # resolved index path → map; least recently used first


def load_cpu_map(path: str | os.PathLike[str] | None = None) -> CpuMap:
    """Load (once while none of its files changes) a cpu_map.

    `path` is a split-layout directory, its ``index.xml``, or a legacy
    ``cpu_map.xml``; None means the embedded default.  Raises
    InvalidCpuMap naming the file for a map that cannot be read or is
    past the limits in the module docstring.
    """
    if path is not None and not os.fspath(path):
        raise InvalidCpuMap("the cpu_map path is empty (it would name the current directory)")
    index = _index_file(Path(path) if path is not None else default_cpu_map_path())
    try:
        key = str(index.resolve())
    except (OSError, RuntimeError) as exc:  # RuntimeError: a symbolic link loop
        raise InvalidCpuMap(f"cannot read cpu_map: {exc}", source=str(index)) from None
    with _cache_lock:
        cached = _cache.get(key)
    if cached is not None and _unchanged(cached.stamps):
        with _cache_lock:
            if _cache.get(key) is cached:
                _cache[key] = _cache.pop(key)  # most recently used last
        return cached.cpumap
    files = _MapFiles()
    cpumap = _load(index, files)
    loaded = _Cached(tuple(files.stamps), cpumap, files.size)
    with _cache_lock:
        _cache.pop(key, None)
        _cache[key] = loaded
        while len(_cache) > 1 and (len(_cache) > _MAX_CACHED
                                   or sum(c.size for c in _cache.values()) > _MAX_CACHED_BYTES):
            del _cache[next(iter(_cache))]  # least recently used
    return loaded.cpumap


def _index_file(target: Path) -> Path:
    """The file a cpu_map path names: itself, or a directory's index.xml
    (split layout) or cpu_map.xml (legacy)."""
    try:
        if not target.is_dir():
            return target  # anything else is refused, or read, by read_regular
        for name in ("index.xml", "cpu_map.xml"):
            if (target / name).exists():
                return target / name
    except (OSError, ValueError) as exc:  # ValueError: a NUL byte in the path
        raise InvalidCpuMap(f"cannot read cpu_map: {getattr(exc, 'strerror', None) or exc}",
                            source=repr(str(target))) from None
    raise InvalidCpuMap("not a cpu_map directory: it holds neither index.xml (split layout, such "
                        "as /usr/share/libvirt/cpu_map) nor cpu_map.xml (legacy single file)",
                        source=str(target))


def _stamp(path: str) -> tuple[int, ...]:
    status = os.stat(path)
    return (status.st_dev, status.st_ino, status.st_size, status.st_mtime_ns, status.st_ctime_ns)


def _unchanged(stamps: tuple[tuple[str, tuple[int, ...]], ...]) -> bool:
    try:
        return all(_stamp(path) == stamp for path, stamp in stamps)
    except OSError:
        return False


class _MapFiles:
    """Reads the files of one map: regular files only, each and all of
    them together bounded, each stamped before it is read."""

    def __init__(self) -> None:
        self.stamps: list[tuple[str, tuple[int, ...]]] = []
        self.count = 0
        self.size = 0

    def read(self, path: Path, *, max_bytes: int = MAX_FILE_BYTES) -> bytes:
        self.count += 1
        if self.count > MAX_FILES:
            raise InvalidCpuMap(f"the map has more than {MAX_FILES} files", source=str(path))
        try:
            self.stamps.append((str(path), _stamp(str(path))))
        except (OSError, ValueError):
            pass  # read_regular says why it cannot be read
        data = read_regular(path, max_bytes=max_bytes, error=InvalidCpuMap)
        self.size += len(data)
        if self.size > MAX_MAP_BYTES:
            raise InvalidCpuMap(f"the map's files hold more than {MAX_MAP_BYTES} bytes together",
                                source=str(path))
        return data

    def xml(self, path: Path) -> etree._Element:
        data = self.read(path)
        try:
            return parse_xml(data, str(path))
        except InvalidCpuXml as exc:  # the same message, as a map error
            raise InvalidCpuMap(str(exc)) from None

    def include(self, filename: str | None, index: Path) -> tuple[Path, etree._Element]:
        """The file an ``<include filename=...>`` of `index` names, parsed.

        libvirt joins the name to its cpu_map directory, and every map it
        ships includes plain names (``x86_EPYC-Genoa-v2.xml``); any other
        name (``../../etc/shadow``, ``/etc/shadow``, a hidden file, control
        characters) is refused rather than followed."""
        name = filename or ""
        if not _INCLUDE_NAME.fullmatch(name):
            raise InvalidCpuMap(f"<include filename='{shown(name)}'> is not the plain name of a file in the "
                                "map's directory", source=str(index))
        path = index.parent / name
        return path, self.xml(path)

    def version(self, directory: Path) -> str | None:
        """The first line of the map's SOURCE file (where it was taken from)."""
        source_file = directory / "SOURCE"
        if not source_file.exists():
            return None
        first = self.read(source_file, max_bytes=MAX_SOURCE_BYTES).decode("utf-8", "replace").strip()
        return first.splitlines()[0] if first else None


def _load(index: Path, files: _MapFiles) -> CpuMap:
    root = files.xml(index)
    if root.tag != "cpus":
        raise InvalidCpuMap(f"root element is <{shown(root.tag)}>, expected <cpus>", source=str(index))
    arch_elements = root.findall("arch")
    if not arch_elements:
        raise InvalidCpuMap("no <arch> element", source=str(index))
    has_includes = root.find(".//include") is not None
    layout = "split" if has_includes else "legacy"
    arches: dict[str, ArchMap] = {}
    if len(arch_elements) > MAX_ARCHES:
        raise InvalidCpuMap(f"more than {MAX_ARCHES} <arch> elements (libvirt's maps have three)",
                            source=str(index))
    for arch_el in arch_elements:
        name = arch_el.get("name")
        if not name:
            raise InvalidCpuMap("<arch> without a name", source=str(index))
        if name in arches:  # libvirt reads the first one only
            raise InvalidCpuMap(f"<arch name='{shown(name)}'> given twice", source=str(index))
        builder = _ArchBuilder(name, str(index.parent if layout == "split" else index), files)
        builder.load_arch(arch_el, index)
        arches[name] = builder.build()
    version = files.version(index.parent)
    return CpuMap(str(index.parent if layout == "split" else index), arches, layout, version)


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
class _ArchBuilder:
    arch: str
    source: str
    files: _MapFiles
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

    def _feature(self, el: etree._Element, where: str) -> None:
        name = el.get("name")
        if not name:
            raise InvalidCpuMap("<feature> without a name", source=where)
        if name in self.feature_index:
            raise InvalidCpuMap(f"CPU feature {shown(name)} already defined", source=where)
        if len(self.features) >= MAX_FEATURES:
            raise InvalidCpuMap(f"arch {shown(self.arch)} has more than {MAX_FEATURES} features (libvirt's "
                                "maps have a few hundred)", source=where)
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
        name = el.get("name")
        if not name:
            raise InvalidCpuMap("<model> without a name", source=where)
        if name in self.model_index:
            raise InvalidCpuMap(f"multiple definitions of CPU model '{shown(name)}'", source=where)
        if len(self.models) >= MAX_MODELS:
            raise InvalidCpuMap(f"arch {shown(self.arch)} has more than {MAX_MODELS} models (libvirt's "
                                "maps have a few hundred)", source=where)
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
            parent = ancestor_el.get("name")
            if parent not in self.model_index:
                raise InvalidCpuMap(f"ancestor model {shown(parent)} not found for CPU model {shown(name)}",
                                    source=where)
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
            vendor = vendor_el.get("name")
            if vendor not in self.vendors:
                raise InvalidCpuMap(f"unknown vendor {shown(vendor)} referenced by CPU model {shown(name)}",
                                    source=where)
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
        if is_alias:
            target_pos = self.model_index[parent]
            target = self.models[target_pos]
            if target.canonical is not None:
                raise InvalidCpuMap(f"CPU model {shown(parent)} has two canonical names: "
                                    f"{shown(target.canonical)} and {shown(name)}", source=where)
            self.models[target_pos] = _replace(target, canonical=name)
        self.model_index[name] = model.index
        self.models.append(model)

    def build(self) -> ArchMap:
        return ArchMap(self.arch, self.source, dict(self.vendors), tuple(self.features), tuple(self.models))


def _replace(model: Model, **changes: object) -> Model:
    values = {name: getattr(model, name) for name in Model.__dataclass_fields__}
    values.update(changes)
    return Model(**values)  # type: ignore[arg-type]


@functools.lru_cache(maxsize=8)
def embedded_cpu_map() -> CpuMap:
    """The embedded default map (rules.DEFAULT_VERSION), loaded once."""
    return load_cpu_map(None)
