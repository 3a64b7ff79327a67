"""Reading the files of one map, bounded (see the package docstring's limits).

lxml (and the hardened parser) is imported only when a map's XML is read,
and pathlib's paths come from the loader then: a map loaded from its
compiled form (`compiled`) needs neither.
"""
from __future__ import annotations

import os
import re
from typing import TYPE_CHECKING, Any

from ...display import shown
from ...errors import InvalidCpuMap, InvalidCpuXml
from ...safefile import read_regular

if TYPE_CHECKING:
    from pathlib import Path  # the XML reader's paths; a compiled map's are strings

    from lxml import etree

__all__ = ["MAX_FILE_BYTES", "MAX_MAP_BYTES", "MAX_FILES", "MAX_SOURCE_BYTES", "MapFiles", "Stamps", "unchanged",
           "restamped", "feed_digest"]

MAX_FILE_BYTES = 4 * 1024 * 1024
MAX_MAP_BYTES = 16 * 1024 * 1024
MAX_FILES = 4096
MAX_SOURCE_BYTES = 64 * 1024  # the SOURCE file naming the map's libvirt version

# a file name within the map's directory, as libvirt's maps name them (compiled
# by re's own cache on first use: a map loaded compiled reads no include)
_INCLUDE_NAME = r"[A-Za-z0-9][A-Za-z0-9_.+-]{0,254}"

# (path, (device, inode, size, mtime, ctime)); () for a file looked for and absent (a map without SOURCE)
Stamps = tuple[tuple[str, tuple[int, ...]], ...]


def _stamp(path: str) -> tuple[int, ...]:
    try:
        status = os.stat(path)
    except FileNotFoundError:
        return ()
    return (status.st_dev, status.st_ino, status.st_size, status.st_mtime_ns, status.st_ctime_ns)


def feed_digest(digest: Any, data: bytes | None) -> None:
    """Add one file of a map, in reading order, to a hashlib digest of the
    map's content (None: the file is absent); `compiled` keys a compiled
    map by it."""
    digest.update(b"absent\0" if data is None else b"%d\0" % len(data))
    digest.update(data or b"")


def restamped(stamps: Stamps) -> Stamps:
    """The same files with their stamps now."""
    return tuple((path, _stamp(path)) for path, _ in stamps)


def unchanged(stamps: Stamps) -> bool:
    try:
        return all(_stamp(path) == stamp for path, stamp in stamps)
    except OSError:
        return False


class MapFiles:
    """Reads the files of one map: regular files only, each and all of
    them together bounded, each stamped before it is read."""

    def __init__(self) -> None:
        import hashlib  # here, not at the top: a map loaded compiled never reads its files

        self.stamps: list[tuple[str, tuple[int, ...]]] = []
        self.count = 0
        self.size = 0
        self.digest = hashlib.sha256()  # of every file's content in reading order (feed_digest)

    def read(self, path: Path, *, max_bytes: int = MAX_FILE_BYTES) -> bytes:
        self.count += 1
        if self.count > MAX_FILES:
            raise InvalidCpuMap(f"the map has more than {MAX_FILES} files", source=str(path))
        try:
            self.stamps.append((str(path), _stamp(str(path))))
        except (OSError, ValueError):
            pass  # read_regular says why it cannot be read
        data = read_regular(path, max_bytes=max_bytes, error=InvalidCpuMap)
        feed_digest(self.digest, data)
        self.size += len(data)
        if self.size > MAX_MAP_BYTES:
            raise InvalidCpuMap(f"the map's files hold more than {MAX_MAP_BYTES} bytes together",
                                source=str(path))
        return data

    def xml(self, path: Path) -> etree._Element:
        from ...xmlsafe import parse_xml

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
        if not re.fullmatch(_INCLUDE_NAME, name):
            raise InvalidCpuMap(f"<include filename='{shown(name)}'> is not the plain name of a file in the "
                                "map's directory", source=str(index))
        path = index.parent / name
        return path, self.xml(path)

    def version(self, directory: Path) -> str | None:
        """The first line of the map's SOURCE file (where it was taken from)."""
        source_file = directory / "SOURCE"
        if not source_file.exists():
            self.stamps.append((str(source_file), ()))  # its later creation changes the map's version
            feed_digest(self.digest, None)
            return None
        first = self.read(source_file, max_bytes=MAX_SOURCE_BYTES).decode("utf-8", "replace").strip()
        return first.splitlines()[0] if first else None
