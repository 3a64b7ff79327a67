"""Nova's own inventories: rows of the ``compute_nodes`` table (JSON, or
``mysql -B`` output read a line at a time), the API's hypervisors and
``openstack hypervisor show`` output; which key names a row's host and its
CPU, and which rows are soft-deleted."""
from __future__ import annotations

import re
from pathlib import Path
from typing import Any, BinaryIO, Callable, Iterator, Mapping

from ...errors import InvalidInventory, UnknownInputFormat
from ...inputs.jsonstream import MAX_VALUE_CHARS

__all__ = ["NAME_KEYS", "CPU_KEYS", "SHOW_KEYS", "NO_CPU_INFO_HINT", "row_name", "is_row_id", "is_mysql_batch",
           "mysql_rows"]

NAME_KEYS = ("hypervisor_hostname", "Hypervisor Hostname", "host", "name", "hostname")
CPU_KEYS = ("cpu_info", "CPU Info", "cpu")
SHOW_KEYS = ("hypervisor_hostname", "Hypervisor Hostname")  # an object holding one is one hypervisor
NO_CPU_INFO_HINT = ("rows have no cpu_info: `openstack hypervisor list` never prints it; use "
                    "`openstack hypervisor show HOST -f json` for each host (concatenated in one file), "
                    "or export nova's compute_nodes table (hypervisor_hostname, cpu_info, deleted)")
_BLANK = re.compile(r"[\s\ufeff]*")
_BYTES_BLANK = re.compile(rb"(?:\xef\xbb\xbf)?\s*")
_MYSQL_ESCAPE = re.compile(r"\\(.)")
_MYSQL_ESCAPES = {"t": "\t", "n": "\n", "0": "\0", "\\": "\\"}
_PROGRESS_LINES = 4096  # lines between two progress calls


def row_name(row: Mapping[str, Any], number: int) -> str:
    """The host a row of hypervisors or compute nodes describes."""
    for key in NAME_KEYS:  # a loop, not next(...): this runs once a host
        name = row.get(key)
        if name:
            return str(name)
    return f"<row {number}>"


def is_row_id(deleted: Any) -> bool:
    """Whether `deleted` marks a soft-deleted row: Nova sets it to the row's id."""
    if isinstance(deleted, bool):
        return deleted
    if isinstance(deleted, int):
        return deleted != 0
    return isinstance(deleted, str) and deleted != "0" and re.fullmatch("[0-9]+", deleted) is not None


def is_mysql_batch(head: bytes) -> bool:
    """Whether a file starting with `head` is ``mysql -B`` output with a cpu_info column."""
    match = _BYTES_BLANK.match(head)
    start = match.end() if match else 0
    end = head.find(b"\n", start)
    header = head[start:end if end >= 0 else len(head)].rstrip(b"\r").split(b"\t")
    return len(header) > 1 and b"cpu_info" in header


def _cell(cell: str) -> str | None:
    if cell == "NULL":
        return None
    if "\\" not in cell:
        return cell
    return _MYSQL_ESCAPE.sub(lambda m: _MYSQL_ESCAPES.get(m.group(1), m.group(0)), cell)


def mysql_rows(handle: BinaryIO, path: Path,
               on_read: Callable[[int], None] | None = None) -> Iterator[tuple[dict[str, str | None], str]]:
    """The rows of ``mysql -B`` output, a row at a time: a tab-separated
    header line, then rows with ``\\t``, ``\\n``, ``\\\\`` and ``\\0``
    escaped and NULL for null.  Each comes with "" or, for a line too long
    to read, why: its row then holds only the cells read whole (which may
    name the host).  `on_read(bytes)` is told now and then how far the file
    is read."""
    header: list[str] | None = None
    for number, (line, whole) in enumerate(_bounded_lines(handle, MAX_VALUE_CHARS), 1):
        if on_read is not None and number % _PROGRESS_LINES == 0:
            on_read(handle.tell())
        try:
            text = line.decode("utf-8").rstrip("\r\n")
        except UnicodeDecodeError as exc:
            if whole or exc.start < len(line) - 3:  # not a character cut at the limit
                raise UnknownInputFormat(f"line {number} is not UTF-8 text (byte {exc.start})",
                                         source=str(path)) from None
            text = line[:exc.start].decode("utf-8")
        if header is None:
            if not whole:
                raise InvalidInventory(f"line {number} is longer than {MAX_VALUE_CHARS >> 20} MiB: "
                                       "not a mysql -B header", source=str(path))
            text = text[_BLANK.match(text).end():]  # type: ignore[union-attr]  # blank lines and a BOM
            if text:
                header = text.split("\t")
        elif not whole:
            yield (dict(zip(header, map(_cell, text.split("\t")[:-1]))),
                   f"line {number} is longer than {MAX_VALUE_CHARS >> 20} MiB, not read")
        elif text:
            yield dict(zip(header, map(_cell, text.split("\t")))), ""


def _bounded_lines(handle: BinaryIO, limit: int) -> Iterator[tuple[bytes, bool]]:
    """The lines of `handle`, each with whether it is whole: a line longer
    than `limit` bytes gives its first `limit` bytes, and the rest is read
    past, never kept."""
    while line := handle.readline(limit + 1):
        if len(line) <= limit or line.endswith(b"\n"):
            yield line, True
            continue
        yield line[:limit], False
        while (rest := handle.readline(limit)) and not rest.endswith(b"\n"):
            pass
