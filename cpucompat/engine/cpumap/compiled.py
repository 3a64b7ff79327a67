"""A map's values compiled into one small JSON file, so that a one-shot
command loads a map in a millisecond or two instead of parsing ~200 XML
files (15-20 ms, and lxml's import).

The first load of a map (an embedded one or a user's ``--cpu-map``) from
its XML writes the compiled form to the cache directory; later loads read
it back when every file the map was read from is unchanged (the same
device, inode, size, mtime and ctime), or, when only their stamps changed
(the package reinstalled, the files copied), when their content still has
the SHA-256 digest the compiled form records.  Anything else (another map,
another cpucompat, a changed file) compiles the map again.

Where: ``$CPUCOMPAT_CACHE_DIR`` if set (empty: no cache), else
``$XDG_CACHE_HOME/cpucompat``, else ``~/.cache/cpucompat``.  A compiled map
is written atomically (a new file renamed over the old: two processes
writing at once leave one whole file; see `_write`).  A cache file is input cpucompat did
not necessarily write, so it is read only from a directory and file of this
user's that no one else may write, bounded in size, checked against its
CRC-32, and every value validated before use; one that fails any check is
ignored and rewritten, never an error.  An arch's values are validated and
built when the arch is first used (`Arches`): one that fails then is taken
from the map's XML instead, read again, and the compiled form rewritten.  The newest `MAX_CACHED_MAPS`
compiled maps are kept.  A cache that cannot be written
(read-only, missing, full) only means the next run parses the XML again.

The compiled form is keyed by the map's path, `FORMAT` and the stamps of
the modules that turn XML into values (this one, compiledarch, builder,
values): change what a map compiles to and bump `FORMAT`.
"""
from __future__ import annotations

import functools
import os
import stat
import zlib
from typing import Any, Callable

from ...errors import InvalidCpuMap
from .archmap import ArchMap, CpuMap
from .files import MAX_FILE_BYTES, MAX_FILES, MAX_MAP_BYTES, Stamps, feed_digest, restamped, unchanged
from .compiledarch import MAX_NAME, REFUSED, Invalid, arch_map, arch_value, checked_int, checked_list, checked_str
from .values import MAX_ARCHES

__all__ = ["FORMAT", "MAX_CACHED_MAPS", "MAX_COMPILED_BYTES", "cache_directory", "load_compiled", "store_compiled"]

FORMAT = 1
MAX_COMPILED_BYTES = 2 * MAX_MAP_BYTES  # a compiled map is smaller than its XML (12.8.0: ~170 KiB from 1.2 MB)
MAX_CACHED_MAPS = 32  # compiled maps kept, the newest
_HEADER = b"cpucompat-compiled-map %d %08x\n"  # FORMAT, CRC-32 of the JSON after it
_MAX_STAMP = 1 << 64  # a file's device, inode, size, mtime or ctime (ns)


def cache_directory() -> str | None:
    """The directory compiled maps live in (see the module docstring), or
    None when the cache is turned off or no home is known."""
    chosen = os.environ.get("CPUCOMPAT_CACHE_DIR")
    if chosen is not None:
        return chosen or None
    xdg = os.environ.get("XDG_CACHE_HOME", "")
    if os.path.isabs(xdg):  # the XDG spec: a relative value is ignored
        return os.path.join(xdg, "cpucompat")
    home = os.path.expanduser("~")  # $HOME, else the passwd entry's
    return os.path.join(home, ".cache", "cpucompat") if os.path.isabs(home) else None


def _cache_file(index: str) -> str | None:
    directory = cache_directory()
    if directory is None:
        return None
    key = f"{FORMAT}\0{index}\0{_compiler()}".encode("utf-8", "surrogateescape")
    return os.path.join(directory, f"map-{zlib.crc32(key):08x}-{len(key):x}.json")


@functools.cache  # the code does not change under a running process
def _compiler() -> str:
    """The stamps of the code that compiles a map: an edited or reinstalled
    cpucompat compiles its maps again."""
    here = os.path.dirname(__file__)
    stamps = []
    for name in ("compiled.py", "compiledarch.py", "builder.py", "values.py"):
        module_file = os.path.join(here, name)
        try:
            status = os.stat(module_file)
            stamps.append(f"{status.st_size}:{status.st_mtime_ns}:{status.st_ino}")
        except OSError:
            stamps.append("-")
    return ",".join(stamps)


def _private(status: os.stat_result) -> bool:
    """Ours and writable by no one else (a cache anyone can write is no cache)."""
    return status.st_uid == os.geteuid() and not status.st_mode & (stat.S_IWGRP | stat.S_IWOTH)


# -- reading -------------------------------------------------------------------

def load_compiled(index: str, key: str, reread: Callable[[], CpuMap]) -> tuple[CpuMap, Stamps, int] | None:
    """The map whose index file is `index` (resolved path `key`), its files'
    stamps and size, from its compiled form; None when there is none, it is
    stale, or it fails any check (the caller then reads the XML).  Its
    arches are built on first use; `reread` reads the map's XML (and
    compiles it again) for an arch whose compiled values fail a check."""
    path = _cache_file(key)
    if path is None:
        return None
    try:
        if not _private(os.stat(os.path.dirname(path))):
            return None
        with os.fdopen(os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC | os.O_NOFOLLOW), "rb") as file:
            status = os.fstat(file.fileno())
            if not stat.S_ISREG(status.st_mode) or not _private(status) or status.st_size > MAX_COMPILED_BYTES:
                return None
            data = file.read(MAX_COMPILED_BYTES + 1)
    except (OSError, ValueError):  # absent, unreadable, a symbolic link, a NUL in the path
        return None
    try:
        compiled = _parse(data)
        if compiled["index"] != key or compiled["compiler"] != _compiler():
            return None  # another map or cpucompat whose key name collides: recompiled and replaced
        stamps = _stamps(compiled["files"])
        fresh = unchanged(stamps)
        if not fresh and _content_digest(stamps) != compiled["digest"]:
            return None
        cpumap = _cpu_map(compiled, index, reread)
        size = checked_int(compiled["size"], MAX_MAP_BYTES)
    except REFUSED:
        return None
    if not fresh:  # the same bytes under new stamps (reinstalled, copied): recorded for next time
        stamps = restamped(stamps)
        _write(path, {**compiled, "files": [[p, list(s)] for p, s in stamps]})
    return cpumap, stamps, size


def _parse(data: bytes) -> dict[str, Any]:
    import json

    header, newline, body = data.partition(b"\n")
    if not newline:
        raise Invalid
    if header + b"\n" != _HEADER % (FORMAT, zlib.crc32(body)):
        raise Invalid  # another format, or truncated or corrupted
    compiled = json.loads(body)
    if not isinstance(compiled, dict) or compiled.get("format") != FORMAT:
        raise Invalid
    return compiled


def _content_digest(stamps: Stamps) -> str | None:
    """The SHA-256 of the map's files (as `MapFiles` digests them while
    reading), read again; None when one cannot be read."""
    import hashlib

    from ...safefile import read_regular

    digest = hashlib.sha256()
    size = 0
    try:
        for path, stamp in stamps:
            if not stamp:
                if os.path.lexists(path):
                    return None
                feed_digest(digest, None)
            else:
                data = read_regular(path, max_bytes=MAX_FILE_BYTES)
                size += len(data)
                if size > MAX_MAP_BYTES:  # the loader's bound on a map
                    return None
                feed_digest(digest, data)
    except OSError:  # UnreadableFile is one
        return None
    return digest.hexdigest()


def _stamps(value: Any) -> Stamps:
    if not isinstance(value, list) or not 0 < len(value) <= MAX_FILES + 1:  # a map's files and its SOURCE
        raise Invalid
    stamps = []
    for path, stamp in value:  # ~200 files: no call per number
        if type(path) is not str or len(path) > MAX_NAME or type(stamp) is not list or len(stamp) > 5:
            raise Invalid
        for n in stamp:
            if type(n) is not int or not 0 <= n <= _MAX_STAMP:
                raise Invalid
        stamps.append((path, tuple(stamp)))
    return tuple(stamps)


def _cpu_map(compiled: dict[str, Any], index: str, reread: Callable[[], CpuMap]) -> CpuMap:
    layout = compiled["layout"]
    if layout not in ("split", "legacy"):
        raise Invalid
    source = (os.path.dirname(index) or ".") if layout == "split" else index  # as the loader names it
    arches: dict[str, Callable[[], ArchMap]] = {}
    for arch in checked_list(compiled["arches"], MAX_ARCHES):
        name = checked_str(arch["name"])
        if name in arches:
            raise Invalid
        arches[name] = functools.partial(_build_arch, name, source, arch, reread)
    if not arches:
        raise Invalid
    return CpuMap(source, arches, layout, checked_str(compiled["version"], optional=True))


def _build_arch(name: str, source: str, value: dict[str, Any], reread: Callable[[], CpuMap]) -> ArchMap:
    """One arch from its compiled values, on its first use; from the XML
    when they fail a check (as a whole map failing one is)."""
    try:
        return arch_map(name, source, value)
    except REFUSED:
        pass
    arches = reread().arches
    if name not in arches:  # the map's files changed since it was loaded
        raise InvalidCpuMap(f"the map no longer describes arch '{name}': it changed while in use", source=source)
    return arches[name]


# -- writing -------------------------------------------------------------------

def store_compiled(key: str, cpumap: CpuMap, stamps: Stamps, size: int, digest: str) -> None:
    """Write the compiled form of `cpumap`, just read from the files of
    `stamps` (whose content has SHA-256 `digest`), for the next process;
    silently nothing when the cache cannot be written."""
    path = _cache_file(key)
    if path is None:
        return
    compiled = {"format": FORMAT, "index": key, "compiler": _compiler(), "digest": digest, "size": size,
                "files": [[p, list(s)] for p, s in stamps], "layout": cpumap.layout, "version": cpumap.version,
                "arches": [arch_value(archmap) for archmap in cpumap.arches.values()]}
    try:
        os.makedirs(os.path.dirname(path), mode=0o700, exist_ok=True)
        if not _private(os.stat(os.path.dirname(path))):
            return
    except OSError:
        return
    _write(path, compiled)
    _prune(os.path.dirname(path))


def _prune(directory: str) -> None:
    """Keep the newest `MAX_CACHED_MAPS` compiled maps (a map path seen once,
    a test's or a fuzzer's, does not stay forever)."""
    try:
        found = []
        with os.scandir(directory) as entries:
            for entry in entries:
                if entry.name.startswith("map-") and entry.name.endswith(".json"):
                    found.append((entry.stat(follow_symlinks=False).st_mtime_ns, entry.path))
        for _, old in sorted(found)[:-MAX_CACHED_MAPS]:
            os.unlink(old)
    except OSError:
        pass


def _write(path: str, compiled: dict[str, Any]) -> None:
    """Replace the compiled map at `path` atomically: a new file renamed
    over it, so a reader sees the old file or the new one, whole.  Mode
    0644 whatever the umask (a group-writable file would be ignored);
    no fsync: a cache lost in a crash is compiled again."""
    import json
    import tempfile

    body = json.dumps(compiled, separators=(",", ":")).encode("ascii")
    temp = None
    try:
        fd, temp = tempfile.mkstemp(dir=os.path.dirname(path), prefix=".map-", suffix=".tmp")
        with os.fdopen(fd, "wb") as handle:
            os.fchmod(handle.fileno(), 0o644)
            handle.write(_HEADER % (FORMAT, zlib.crc32(body)) + body)
        os.replace(temp, path)
    except OSError:  # read-only, full, a directory in the way: the next run compiles again
        if temp is not None:
            try:
                os.unlink(temp)
            except OSError:
                pass
