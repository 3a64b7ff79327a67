"""Loading a cpu_map (split or legacy layout) once while its files stay
unchanged (in this process, and through its compiled form for the next
ones: `compiled`), and the embedded default map."""
from __future__ import annotations

import functools
import os
from _thread import allocate_lock  # threading's Lock without importing threading (start-up)
from typing import TYPE_CHECKING

from ...display import shown
from ...errors import InvalidCpuMap
from ...packagedata import data_directory
from .archmap import ArchMap, CpuMap
from .compiled import load_compiled, store_compiled
from .files import MAX_MAP_BYTES, MapFiles, Stamps, unchanged
from .values import MAX_ARCHES
from ..releases import DEFAULT_VERSION

if TYPE_CHECKING:
    from pathlib import Path

__all__ = ["MAX_ARCHES", "default_cpu_map_path", "load_cpu_map", "embedded_cpu_map", "resolve_map"]

# Paths are strings until a map's XML is read: a map loaded from its
# compiled form needs no pathlib (its import, with urllib's, is ~4 ms of a
# one-shot command).


def embedded_map_directory(version: str = DEFAULT_VERSION) -> str:
    """Where the embedded map of a libvirt version (releases.KNOWN_VERSIONS) lives inside the package."""
    return data_directory("cpu_maps", version)


def default_cpu_map_path() -> Path:
    """Where the embedded default map (releases.DEFAULT_VERSION) lives inside the package."""
    from pathlib import Path

    return Path(embedded_map_directory())


class _Cached:
    """A loaded map with the (device, inode, size, mtime, ctime) of every
    file it was read from, taken before reading: a change to any reloads."""

    __slots__ = ("stamps", "cpumap", "size")  # a plain class: a dataclass costs ~1 ms of start-up to define

    def __init__(self, stamps: Stamps, cpumap: CpuMap, size: int) -> None:
        self.stamps = stamps
        self.cpumap = cpumap
        self.size = size  # bytes read, for the cache's bound


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
    index = _index_file(os.fspath(path) if path is not None else embedded_map_directory())
    try:
        key = os.path.realpath(index)  # a symbolic link loop stays, and read_regular says so
    except (OSError, ValueError) as exc:  # ValueError: a NUL byte in the path
        raise InvalidCpuMap(f"cannot read cpu_map: {getattr(exc, 'strerror', None) or exc}",
                            source=repr(index)) from None
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


def _read_xml(index: str, key: str) -> _Cached:
    """The map read from its XML, its compiled form written for the next process."""
    from pathlib import Path

    files = MapFiles()
    cpumap = _load(Path(index), files)
    loaded = _Cached(tuple(files.stamps), cpumap, files.size)
    store_compiled(key, cpumap, loaded.stamps, loaded.size, files.digest.hexdigest())
    return loaded


def _index_file(target: str) -> str:
    """The file a cpu_map path names: itself, or a directory's index.xml
    (split layout) or cpu_map.xml (legacy)."""
    if "\0" in target:
        raise InvalidCpuMap("cannot read cpu_map: embedded null byte", source=repr(target))
    if not os.path.isdir(target):
        return _plain(target)  # anything else is refused, or read, by read_regular
    for name in ("index.xml", "cpu_map.xml"):
        if os.path.exists(os.path.join(target, name)):
            return _plain(os.path.join(target, name))
    raise InvalidCpuMap("not a cpu_map directory: it holds neither index.xml (split layout, such "
                        "as /usr/share/libvirt/cpu_map) nor cpu_map.xml (legacy single file)",
                        source=str(target))


def _plain(path: str) -> str:
    """`path` spelled as pathlib spells it (``a//b/./c/`` → ``a/b/c``; ``..``
    kept; two leading slashes kept, as POSIX allows them a meaning), as a
    map's source has always been named."""
    parts = [part for part in path.split("/") if part and part != "."]
    root = "//" if path.startswith("//") and not path.startswith("///") else "/" if path.startswith("/") else ""
    return root + "/".join(parts) or "."


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
