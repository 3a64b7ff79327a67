"""Which kind of inventory a file is, told from its content, and the reader
each kind goes to: JSON and ``mysql -B`` output a row (a host) at a time,
a URI list, one host's CPU XML, or YAML read whole."""
from __future__ import annotations

import os
import re
from pathlib import Path
from typing import BinaryIO, Callable

from ...engine.cpumap import CpuMap
from ...errors import CpuCompatError, InvalidInventory
from ...inputs.jsonstream import JsonStream
from ...inputs.parse import parse_cpus, read_text
from ...inputs.yamlread import read_yaml
from ...safefile import open_regular
from .files import host_name, one_cpu
from .found import Found, OnProgress
from .nova import CPU_KEYS, is_mysql_batch, mysql_rows
from .shapes import HostReader, from_value, read_values

__all__ = ["URI_SCHEMES", "MAX_INVENTORY_BYTES", "load_file", "is_uri"]

URI_SCHEMES = ("qemu:", "qemu+", "test:", "test+", "xen:", "lxc:")
MAX_INVENTORY_BYTES = 64 << 20  # for inventories read whole (URI lists; YAML and XML have lower limits);
# JSON and mysql -B are read a row at a time, each row at most jsonstream.MAX_VALUE_CHARS
_BLANK = re.compile(r"[\s\ufeff]*")
_HEAD_BYTES = 1 << 16  # enough to see how a file starts: its first character, a mysql -B header
_BYTES_BLANK = re.compile(rb"(?:\xef\xbb\xbf)?\s*")


def load_file(path: Path, found: Found, where: str, cpumap: CpuMap,
              on_progress: OnProgress | None = None) -> list[str]:
    """Load a file's hosts into `found`, or return the URIs it lists.

    JSON and ``mysql -B`` output are read one row (one host) at a time, so
    a million hosts never sit in memory as one document, and `on_progress`
    hears how many of the file's bytes are read; other formats are read whole.
    """
    try:
        with open_regular(path, error=InvalidInventory) as handle:
            head = handle.read(_HEAD_BYTES)
            handle.seek(0)
            first = head[_BYTES_BLANK.match(head).end():][:1]  # type: ignore[union-attr]
            on_read = None
            if on_progress is not None:
                size = os.fstat(handle.fileno()).st_size

                def on_read(done: int) -> None:
                    on_progress(done, size, "bytes")
            if first in (b"{", b"["):
                found.merge(_from_json(handle, path, cpumap, on_read), where)
                return []
            if is_mysql_batch(head):
                found.merge(_from_mysql_batch(handle, path, cpumap, on_read), where)
                return []
    except OSError as exc:
        raise CpuCompatError(f"cannot read: {exc.strerror or exc}", source=str(path)) from None
    text = read_text(path, max_bytes=MAX_INVENTORY_BYTES)
    listed = _listed_uris(text, path)
    if listed is None:
        found.merge(_from_text(text, path, cpumap), where)
        return []
    return listed


def _from_text(text: str, path: Path, cpumap: CpuMap) -> Found:
    """One host's CPU XML (named after the file), or a YAML inventory."""
    start = _BLANK.match(text).end()  # type: ignore[union-attr]  # no copy of what may be a GiB of text
    if text.startswith("<", start):
        found = Found()
        found.host(host_name(path.name), one_cpu(parse_cpus(text, str(path), cpumap), str(path)))
        return found
    value, repeated, unreadable = read_yaml(text, str(path))
    return from_value(value, path, cpumap, repeated or unreadable)


def _from_json(handle: BinaryIO, path: Path, cpumap: CpuMap,
               on_read: Callable[[int], None] | None = None) -> Found:
    """Hosts of a JSON file, a row (a host) at a time."""
    return read_values(JsonStream(handle, path, on_read=on_read, shared=CPU_KEYS[0]), path, cpumap)


def _from_mysql_batch(handle: BinaryIO, path: Path, cpumap: CpuMap,
                      on_read: Callable[[int], None] | None = None) -> Found:
    """Hosts of ``mysql -B`` output (see nova.mysql_rows), a row at a time."""
    reader = HostReader(path, cpumap)
    found = Found()
    for row, unread in mysql_rows(handle, path, on_read):
        if unread:
            reader.unread_row(found, row, unread)
        else:
            reader.row(found, row, False)
    reader.check_described()
    return found


def _listed_uris(text: str, path: Path) -> list[str] | None:
    """The URIs of a URI list (one a line, '#' comments), or None for other content."""
    first = next((line.strip() for line in text[:4096].splitlines()
                  if line.strip() and not line.lstrip().startswith("#")), "")
    if not is_uri(first):
        return None
    uris = []
    for n, line in enumerate(text.splitlines(), 1):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        if not is_uri(line):
            raise InvalidInventory(f"line {n} is not a libvirt URI (a URI list holds one URI a line)",
                                   source=str(path))
        uris.append(line)
    return uris


def is_uri(line: str) -> bool:
    """Whether `line` is a libvirt URI (of a driver cpucompat reads)."""
    return line.startswith(URI_SCHEMES) and not any(c.isspace() for c in line)
