"""Loading a cpu_map (split or legacy layout) once while its files stay
unchanged (in this process, and through its compiled form for the next
ones: `compiled`), and the embedded default map."""
from __future__ import annotations

import functools
import os
from _thread import allocate_lock  # threading's Lock without importing threading (start-up)
from dataclasses import dataclass
from pathlib import Path

from ...display import shown
from ...errors import InvalidCpuMap
from ...packagedata import data_path
from .archmap import ArchMap, CpuMap
from .compiled import load_compiled, store_compiled
from .files import MAX_MAP_BYTES, MapFiles, Stamps, unchanged
from .values import MAX_ARCHES
from ..releases import DEFAULT_VERSION

__all__ = ["MAX_ARCHES", "default_cpu_map_path", "load_cpu_map", "embedded_cpu_map", "resolve_map"]



def default_cpu_map_path() -> Path:
    """Where the embedded default map (releases.DEFAULT_VERSION) lives inside the package."""
    return data_path("cpu_maps", DEFAULT_VERSION)


@dataclass(frozen=True, slots=True)
class _Cached:
    """A loaded map with the (device, inode, size, mtime, ctime) of every
    file it was read from, taken before reading: a change to any reloads."""

    stamps: Stamps
    cpumap: CpuMap
    size: int  # bytes read, for the cache's bound


_MAX_CACHED = 16
_MAX_CACHED_BYTES = 4 * MAX_MAP_BYTES
_cache_lock = allocate_lock()
_cache: dict[str, _Cached] = {}  # resolved index path → map; least recently used first


def load_cpu_map(path: str | os.PathLike[str] | None = None) -> CpuMap:
    """Load (once while none of its files changes) a cpu_map.

    `path` is a split-layout directory, its ``index.xml``, or a legacy
    ``cpu_map.xml``; None means the embedded default.  Raises
    InvalidCpuMap naming the file for a map that cannot be read or is
    past the limits in the `cpucompat.engine.cpumap` docstring.
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
    if cached is not None and unchanged(cached.stamps):
        with _cache_lock:
            if _cache.get(key) is cached:
                _cache[key] = _cache.pop(key)  # most recently used last
        return cached.cpumap
    compiled = load_compiled(index, key, lambda: _read_xml(index, key).cpumap)
    if compiled is not None:
        cpumap, stamps, size = compiled
        loaded = _Cached(stamps, cpumap, size)
    else:
        loaded = _read_xml(index, key)
    with _cache_lock:
        _cache.pop(key, None)
        _cache[key] = loaded
        while len(_cache) > 1 and (len(_cache) > _MAX_CACHED
                                   or sum(c.size for c in _cache.values()) > _MAX_CACHED_BYTES):
            del _cache[next(iter(_cache))]  # least recently used
    return loaded.cpumap


def _read_xml(index: Path, key: str) -> _Cached:
    """The map read from its XML, its compiled form written for the next process."""
    files = MapFiles()
    cpumap = _load(index, files)
    loaded = _Cached(tuple(files.stamps), cpumap, files.size)
    store_compiled(key, cpumap, loaded.stamps, loaded.size, files.digest.hexdigest())
    return loaded


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


def _load(index: Path, files: MapFiles) -> CpuMap:
    from .builder import ArchBuilder  # here: a compiled map needs neither it nor lxml

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
        builder = ArchBuilder(name, str(index.parent if layout == "split" else index), files)
        builder.load_arch(arch_el, index)
        arches[name] = builder.build()
    version = files.version(index.parent)
    return CpuMap(str(index.parent if layout == "split" else index), arches, layout, version)


@functools.lru_cache(maxsize=8)
def embedded_cpu_map() -> CpuMap:
    """The embedded default map (releases.DEFAULT_VERSION), loaded once."""
    return load_cpu_map(None)


def resolve_map(cpumap: CpuMap | None) -> CpuMap:
    """`cpumap`, or the embedded map when None: what every function taking
    an optional map works on."""
    return cpumap if cpumap is not None else embedded_cpu_map()
