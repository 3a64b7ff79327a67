"""A fleet inventory: host names and their CPUs, from any source.

One loader, format detected from content:

* ``sample``: the fleet shipped with cpucompat (real CPUs from libvirt's
  test data, decoded by cpucompat);
* a directory with one file per host (any format `parse` reads; the host
  name is the file name without a known extension: ``node1.dc1.xml`` is
  host ``node1.dc1``), or one subdirectory per host (the host name is the
  directory's; it holds ``capabilities.xml`` or a single host file);
* a JSON or YAML file mapping host names to a CPU (Nova ``cpu_info``
  object, CPU XML text, or the path of a regular file: these inventories
  are the user's own), optionally under ``hosts``
  (members beside it are reported, never read as hosts);
  keys are read as written (YAML ``no:`` is host ``no``, ``1.10`` is
  ``1.10``) and a key given twice is reported, never overwritten;
* Nova's hypervisors with their ``cpu_info``: ``openstack hypervisor show
  HOST -f json`` output (one object, or several concatenated or in a list),
  the API's ``{"hypervisors": [...]}`` (pages of it concatenated too), or
  rows of the ``compute_nodes`` table (JSON rows or ``mysql -B`` output;
  soft-deleted rows are skipped, a ``deleted`` that is no row id is a
  failure); their values are Nova's data, never read as file names;
* a text file listing libvirt URIs, one a line, or the URIs themselves
  (``qemu:///system``, ``qemu+ssh://host/system``): read concurrently, at
  most MAX_CONCURRENT_HOSTS attempts within their deadline at a time, each
  host given `timeout` seconds from when its own attempt starts (see
  _from_uris for attempts past it).  Every URI is checked first
  (`cpucompat.inputs.uris`: nothing that runs a program or opens a local file or
  socket); only URIs given directly, with `trust_given_uris`, skip it.

A host that cannot be read is kept in ``failures`` with its reason; the
others load.  Host names are never merged: a duplicate is a failure, and
no failure ever replaces another.

JSON and ``mysql -B`` files are read a row (a host) at a time, and the
hosts of one CPU description share one parsed Cpu: memory grows with the
number of hosts (their names), not with the size of their descriptions.
A row past jsonstream.MAX_VALUE_CHARS (1 MiB; a cpu_info is a few KiB) is
passed over unread and its host listed, as is a host whose description
holds an integer too long to read.  Names are kept exact, even those
that are not text (a lone surrogate, a file name that is not UTF-8):
the outputs escape them.  Files are
opened only when regular (never a FIFO or device); YAML is read whole,
within inputs.yamlread.MAX_YAML_BYTES.
"""
from __future__ import annotations

import collections
import contextlib
import json
import queue
import re
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO, Iterable, Mapping

from ..engine.cpu import Cpu
from ..engine.cpumap import CpuMap, embedded_cpu_map
from ..packagedata import data_path
from ..display import shown
from ..errors import CpuCompatError, InvalidInventory, UnknownInputFormat, UnsafeUri
from ..inputs.jsonstream import MAX_VALUE_CHARS, JsonStream, RepeatedKeys, SkippedValue, Unreadable, mapping_of
from ..inputs.parse import detect_format, parse_cpu_info, parse_cpus, read_cpus, read_text
from ..inputs.uris import check_uri
from ..inputs.yamlread import TOO_DEEP, read_yaml
from ..safefile import open_regular

__all__ = ["SAMPLE", "URI_SCHEMES", "HOST_FILE_SUFFIXES", "HOST_DIRECTORY_FILE", "MAX_CONCURRENT_HOSTS",
           "MAX_INVENTORY_BYTES", "DUPLICATE", "TOO_DEEP", "Inventory", "sample_path", "load_inventory",
           "NO_CPU_INFO_HINT"]

SAMPLE = "sample"
URI_SCHEMES = ("qemu:", "qemu+", "test:", "test+", "xen:", "lxc:")
# Extensions the directory loader strips from a file name to get the host
# name: the formats `parse` reads (the content decides the format).
HOST_FILE_SUFFIXES = (".xml", ".json", ".txt", ".cpuinfo")
HOST_DIRECTORY_FILE = "capabilities.xml"  # `virsh capabilities > HOST/capabilities.xml`
MAX_CONCURRENT_HOSTS = 16
MAX_INVENTORY_BYTES = 64 << 20  # for inventories read whole (URI lists; YAML and XML have lower limits);
# JSON and mysql -B are read a row at a time, each row at most jsonstream.MAX_VALUE_CHARS
DUPLICATE = "host name appears twice in the inventory; only its first description is used"


@dataclass(frozen=True)
class Inventory:
    """Hosts and their CPUs, plus the hosts that could not be read."""

    hosts: Mapping[str, Cpu]
    failures: Mapping[str, str] = field(default_factory=dict)
    source: str = ""


def sample_path() -> Path:
    """The shipped sample fleet (see data/fleet/SOURCE)."""
    return data_path("fleet", "sample.json")


def load_inventory(sources: str | Path | Iterable[str | Path], cpumap: CpuMap | None = None,
                   *, timeout: float = 30.0, progress: bool = False,
                   trust_given_uris: bool = False) -> Inventory:
    """Load one or several inventory sources into one Inventory.

    `timeout` bounds each live host's attempt; `progress` prints a
    "read N/M hosts" line on stderr while live hosts are read.  Every
    libvirt URI is checked by `cpucompat.inputs.uris.check_uri` before libvirt
    opens it (a refused one is an unreadable host), except, with
    `trust_given_uris`, the URIs given as `sources` themselves; URIs read
    from files are always checked.
    """
    cpumap = cpumap if cpumap is not None else embedded_cpu_map()
    if isinstance(sources, (str, Path)):
        sources = [sources]
    found = _Found()
    uris: dict[str, str] = {}  # URI → where it was given
    repeated_uris: list[tuple[str, str]] = []
    refused: dict[str, str] = {}  # URI → why it is not opened
    names = []
    for source in sources:
        names.append(str(source))
        for uri in _load_source(str(source), found, cpumap):
            if uri in uris:
                repeated_uris.append((uri, f"given twice ({shown(uris[uri])}, {shown(source)}); read once"))
                continue
            uris[uri] = str(source)
            if not (trust_given_uris and uri == str(source)):
                try:
                    check_uri(uri)
                except UnsafeUri as exc:
                    refused[uri] = str(exc)
    for uri, reason in refused.items():
        del uris[uri]
        found.failure(uri, reason, "")
    if uris:
        found.merge(_from_uris(list(uris), cpumap, timeout, progress), "")
    for uri, reason in repeated_uris:
        found.failure(uri, f"{uri}: {reason}", "")
    if not found.hosts and not found.failures:
        raise InvalidInventory("inventory holds no hosts", source=", ".join(names))
    return Inventory(found.hosts, found.failures, ", ".join(names))


def _load_source(text: str, found: "_Found", cpumap: CpuMap) -> list[str]:
    """Load 'sample', a directory or a file into `found`; return the URIs the
    source names instead (a URI, or a file listing URIs)."""
    if text == SAMPLE:
        return _load_file(sample_path(), found, text, cpumap)
    if text.startswith(URI_SCHEMES):
        return [text]
    path = Path(text)
    if path.is_dir():
        found.merge(_from_directory(path, cpumap), text)
        return []
    if not path.exists():
        raise InvalidInventory("no such file, directory or libvirt URI", source=text)
    return _load_file(path, found, text, cpumap)


class _Found:
    """Hosts and failures as they are found; nothing is ever overwritten."""

    def __init__(self) -> None:
        self.hosts: dict[str, Cpu] = {}
        self.failures: dict[str, str] = {}

    def taken(self, name: str) -> bool:
        return name in self.hosts or name in self.failures

    def _duplicate_key(self, name: str, where: str) -> str:
        key = f"{name} (duplicate{', ' + where if where else ''})"
        n = 2
        while self.taken(key):
            key = f"{name} (duplicate {n}{', ' + where if where else ''})"
            n += 1
        return key

    def host(self, name: str, cpu: Cpu, where: str = "") -> None:
        """Add a host, or report it as a duplicate when its name is taken."""
        if self.taken(name):
            self.duplicate(name, where)
        else:
            self.hosts[name] = cpu

    def duplicate(self, name: str, where: str = "") -> None:
        """Report a second description of `name`, whether or not the first could be read."""
        self.failures[self._duplicate_key(name, where)] = DUPLICATE

    def failure(self, name: str, reason: str, where: str = "") -> None:
        """Record why `name` cannot be read, beside any earlier record of it."""
        self.failures[self._duplicate_key(name, where) if self.taken(name) else name] = reason

    def merge(self, other: "_Found", where: str) -> None:
        if not self.hosts and not self.failures:  # nothing to collide with: take them as they are
            self.hosts, self.failures = other.hosts, other.failures
            return
        for name, cpu in other.hosts.items():
            self.host(name, cpu, where)
        for name, reason in other.failures.items():
            self.failure(name, reason, where)


def _listed_uris(text: str, path: Path) -> list[str] | None:
    """The URIs of a URI list (one a line, '#' comments), or None for other content."""
    first = next((line.strip() for line in text[:4096].splitlines()
                  if line.strip() and not line.lstrip().startswith("#")), "")
    if not _is_uri(first):
        return None
    uris = []
    for n, line in enumerate(text.splitlines(), 1):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        if not _is_uri(line):
            raise InvalidInventory(f"line {n} is not a libvirt URI (a URI list holds one URI a line)",
                                   source=str(path))
        uris.append(line)
    return uris


def _is_uri(line: str) -> bool:
    return line.startswith(URI_SCHEMES) and not any(c.isspace() for c in line)


# -- directories ---------------------------------------------------------------

def _host_name(file_name: str) -> str:
    """`node1.dc1.example.com.xml` → `node1.dc1.example.com`: only a known extension goes."""
    for suffix in HOST_FILE_SUFFIXES:
        if file_name.lower().endswith(suffix) and len(file_name) > len(suffix):
            return file_name[:-len(suffix)]
    return file_name


def _from_directory(path: Path, cpumap: CpuMap) -> _Found:
    found = _Found()
    for entry in sorted(path.iterdir()):
        if entry.name.startswith("."):
            continue
        name = entry.name if entry.is_dir() else _host_name(entry.name)
        try:
            cpu = _read_host_entry(entry, cpumap)
        except CpuCompatError as exc:
            found.failure(name, str(exc), entry.name)
            continue
        found.host(name, cpu, entry.name)
    return found


def _one_cpu(cpus: list[Cpu], where: str) -> Cpu:
    """The CPU a host's description gives: the first, and an empty one
    (``[]``, ``<cpus/>``) is that host's error, not an IndexError."""
    if not cpus:
        raise InvalidInventory("describes no CPU", source=where)
    return cpus[0]


def _read_host_entry(entry: Path, cpumap: CpuMap) -> Cpu:
    if entry.is_dir():
        entry = _host_directory_file(entry)
    try:  # only a regular file is read: a FIFO, device or broken link is refused, naming what it is
        return _one_cpu(read_cpus(entry, cpumap), str(entry))
    except RecursionError:  # thousands of nested brackets: json gives up
        raise InvalidInventory(TOO_DEEP, source=str(entry)) from None


def _host_directory_file(directory: Path) -> Path:
    """The file describing the host of a per-host directory."""
    if (directory / HOST_DIRECTORY_FILE).is_file():
        return directory / HOST_DIRECTORY_FILE
    files = sorted(f for f in directory.iterdir() if f.is_file() and not f.name.startswith("."))
    if len(files) == 1:
        return files[0]
    listed = ", ".join(f.name for f in files[:5]) + (", ..." if len(files) > 5 else "")
    raise InvalidInventory(f"a host directory needs {HOST_DIRECTORY_FILE} or a single host file; it holds "
                           + (f"{len(files)}: {listed}" if files else "none"), source=str(directory))


# -- files ---------------------------------------------------------------------

_BLANK = re.compile(r"[\s\ufeff]*")
_HEAD_BYTES = 1 << 16  # enough to see how a file starts: its first character, a mysql -B header
_BYTES_BLANK = re.compile(rb"(?:\xef\xbb\xbf)?\s*")
_MIXED_KEYS = 100  # a top-level object with more keys than a hypervisor's is a mapping of hosts
_WRAPPERS = ("hosts", "hypervisors")


def _load_file(path: Path, found: _Found, where: str, cpumap: CpuMap) -> list[str]:
    """Load a file's hosts into `found`, or return the URIs it lists.

    JSON and ``mysql -B`` output are read one row (one host) at a time, so
    a million hosts never sit in memory as one document; other formats are
    read whole.
    """
    try:
        with open_regular(path, error=InvalidInventory) as handle:
            head = handle.read(_HEAD_BYTES)
            handle.seek(0)
            first = head[_BYTES_BLANK.match(head).end():][:1]
            if first in (b"{", b"["):
                found.merge(_from_json(handle, path, cpumap), where)
                return []
            if _is_mysql_batch(head):
                found.merge(_from_mysql_batch(handle, path, cpumap), where)
                return []
    except OSError as exc:
        raise CpuCompatError(f"cannot read: {exc.strerror or exc}", source=str(path)) from None
    text = read_text(path, max_bytes=MAX_INVENTORY_BYTES)
    listed = _listed_uris(text, path)
    if listed is None:
        found.merge(_from_text(text, path, cpumap), where)
        return []
    return listed


def _from_text(text: str, path: Path, cpumap: CpuMap) -> _Found:
    """One host's CPU XML (named after the file), or a YAML inventory."""
    start = _BLANK.match(text).end()  # no copy of what may be a GiB of text
    if text.startswith("<", start):
        found = _Found()
        found.host(_host_name(path.name), _one_cpu(parse_cpus(text, str(path), cpumap), str(path)))
        return found
    value, repeated, unreadable = read_yaml(text, str(path))
    return _from_value(value, path, cpumap, repeated or unreadable)


def _from_json(handle: BinaryIO, path: Path, cpumap: CpuMap) -> _Found:
    """Hosts of a JSON file: one value, or several concatenated (a shell
    loop over ``openstack hypervisor show -f json`` prints one object per
    host), each a list of rows or an object (see _HostReader.top_object)."""
    stream = JsonStream(handle, path)
    reader = _HostReader(path, cpumap)
    found = _Found()
    while (start := stream.skip(_BLANK)) != "":
        stream.element = ""
        if start == "[":
            reader.rows(stream, found)
        elif start == "{":
            found.merge(reader.top_object(stream), str(path))
        else:
            stream.value()  # a JSON syntax error, or a value that is no inventory
            raise InvalidInventory("expected an object of hosts or a list of compute nodes", source=str(path))
    reader.check_described()
    return found


def _is_mysql_batch(head: bytes) -> bool:
    start = _BYTES_BLANK.match(head).end()
    end = head.find(b"\n", start)
    header = head[start:end if end >= 0 else len(head)].rstrip(b"\r").split(b"\t")
    return len(header) > 1 and b"cpu_info" in header


_MYSQL_ESCAPE = re.compile(r"\\(.)")
_MYSQL_ESCAPES = {"t": "\t", "n": "\n", "0": "\0", "\\": "\\"}


def _from_mysql_batch(handle: BinaryIO, path: Path, cpumap: CpuMap) -> _Found:
    """Hosts of ``mysql -B`` output, a row at a time: a tab-separated header
    line, then rows with ``\\t``, ``\\n``, ``\\\\`` and ``\\0`` escaped and
    NULL for null."""

    def value(cell: str) -> str | None:
        if cell == "NULL":
            return None
        if "\\" not in cell:
            return cell
        return _MYSQL_ESCAPE.sub(lambda m: _MYSQL_ESCAPES.get(m.group(1), m.group(0)), cell)

    reader = _HostReader(path, cpumap)
    found = _Found()
    header: list[str] | None = None
    for number, (line, whole) in enumerate(_bounded_lines(handle, MAX_VALUE_CHARS), 1):
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
            text = text[_BLANK.match(text).end():]  # blank lines and a byte order mark before the header
            if text:
                header = text.split("\t")
        elif not whole:  # the cells read whole may name the host
            reader.unread_row(found, dict(zip(header, map(value, text.split("\t")[:-1]))),
                              f"line {number} is longer than {MAX_VALUE_CHARS >> 20} MiB, not read")
        elif text:
            reader.row(found, dict(zip(header, map(value, text.split("\t")))), False)
    reader.check_described()
    return found


def _bounded_lines(handle: BinaryIO, limit: int) -> Iterable[tuple[bytes, bool]]:
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


# -- values: mappings of hosts and rows of hypervisors ----------------------

_NAME_KEYS = ("hypervisor_hostname", "Hypervisor Hostname", "host", "name", "hostname")
_CPU_KEYS = ("cpu_info", "CPU Info", "cpu")
_SHOW_KEYS = ("hypervisor_hostname", "Hypervisor Hostname")  # an object holding one is one hypervisor
NO_CPU_INFO_HINT = ("rows have no cpu_info: `openstack hypervisor list` never prints it; use "
                    "`openstack hypervisor show HOST -f json` for each host (concatenated in one file), "
                    "or export nova's compute_nodes table (hypervisor_hostname, cpu_info, deleted)")


def _row_name(row: Mapping[str, Any], number: int) -> str:
    """The host a row of hypervisors or compute nodes describes."""
    for key in _NAME_KEYS:  # a loop, not next(...): this runs once a host
        name = row.get(key)
        if name:
            return str(name)
    return f"<row {number}>"


def _is_row_id(deleted: Any) -> bool:
    """Whether `deleted` marks a soft-deleted row: Nova sets it to the row's id."""
    if isinstance(deleted, bool):
        return deleted
    if isinstance(deleted, int):
        return deleted != 0
    return isinstance(deleted, str) and deleted != "0" and re.fullmatch("[0-9]+", deleted) is not None


class _HostReader:
    """Turns the rows and (host, CPU) members of one file into hosts and
    failures as they are read.

    Fleets repeat a few CPUs many times: each distinct description (CPU
    text, or cpu_info object) is parsed once, and its hosts share one Cpu.
    """

    def __init__(self, path: Path, cpumap: CpuMap) -> None:
        self.where = str(path)
        self.base = path.parent
        self.cpumap = cpumap
        self.seen: dict[object, Cpu] = {}
        self.row_count = 0  # rows so far, soft-deleted ones included: the next row's number
        self.live_rows = 0
        self.described = False  # some live row has a CPU column

    def host(self, found: _Found, name: str, described: Any, repeats: bool, paths: bool = True) -> None:
        """Add host `name` described by `described` (`repeats`: some object
        in it may give a key twice or be unreadable), or its failure; a name
        already taken is a duplicate, its description never read.  A text
        naming no CPU is the path of a file only with `paths` (in mappings
        the user wrote, never in Nova's rows)."""
        if found.taken(name):
            found.duplicate(name, self.where)
            return
        try:
            twice, unreadable = _problems(described) if repeats else ((), None)
            if unreadable is not None:
                raise InvalidInventory(f"its description holds {unreadable.reason}",
                                       source=f"{self.where}: host {shown(name)}")
            if twice:
                raise InvalidInventory(f"its description gives {_listed(twice)} twice",
                                       source=f"{self.where}: host {shown(name)}")
            key = _cache_key(described)
            cpu = self.seen.get(key) if key is not None else None
            if cpu is None:
                cpu = _cpu_of(described, f"{self.where}: host {shown(name)}", self.base if paths else None,
                              self.cpumap)
                if key is not None:
                    self.seen[key] = cpu
        except CpuCompatError as exc:
            found.failure(name, str(exc), self.where)
            return
        found.host(name, cpu, self.where)

    def row(self, found: _Found, row: Any, repeats: bool) -> None:
        """A row of hypervisors or compute nodes; soft-deleted ones are skipped."""
        number = self.row_count
        self.row_count += 1
        if not isinstance(row, dict):
            raise InvalidInventory(f"row {number} is not an object", source=self.where)
        deleted = row.get("deleted")
        if deleted not in (None, 0, "0", False):
            if _is_row_id(deleted):
                return  # a soft-deleted compute_nodes row: `deleted` holds its id
            name = _row_name(row, number)
            found.failure(name, str(InvalidInventory(
                f"its 'deleted' is {shown(deleted)!r}: neither 0 (a live row) nor the id of a deleted row",
                source=f"{self.where}: host {shown(name)}")), self.where)
            return
        self.live_rows += 1
        name = _row_name(row, number)
        described = None
        for key in _CPU_KEYS:
            if key in row:
                described = row[key]
                self.described = True
                break
        twice = _repeated_keys(row) if repeats and getattr(row, "repeated", ()) else ()
        if twice:  # which of two columns describes the host is unknown
            found.failure(name, str(InvalidInventory(f"its row gives {_listed(twice)} twice",
                                                     source=f"{self.where}: host {shown(name)}")), self.where)
            return
        self.host(found, name, described, repeats, paths=False)

    def unread_row(self, found: _Found, partial: dict, reason: str) -> None:
        """Report a row too large to read, named from `partial` (its cells read whole) when they can."""
        number = self.row_count
        self.row_count += 1
        if _is_row_id(partial.get("deleted")):
            return  # a soft-deleted row, however large
        name = _row_name(partial, number)
        found.failure(name, str(InvalidInventory(reason, source=f"{self.where}: host {shown(name)}")), self.where)

    def beside(self, found: _Found, name: str, wrapper: str) -> None:
        """Report member `name` of an object whose hosts are under `wrapper`:
        nothing beside the hosts is read as one, nor dropped unsaid."""
        if wrapper == "hypervisors" and name == "hypervisors_links":
            return  # the API's link to its next page
        found.failure(name, str(InvalidInventory(f"beside {wrapper!r}, which holds this file's hosts: not read",
                                                 source=f"{self.where}: key {shown(name)}")), self.where)

    def check_described(self) -> None:
        """Refuse rows none of which has a CPU (a file can say why, and what has one)."""
        if self.live_rows and not self.described:
            raise InvalidInventory(NO_CPU_INFO_HINT, source=self.where)

    def rows(self, stream: JsonStream, found: _Found) -> None:
        """The rows of the JSON array at the stream's position."""
        for _ in stream.members("]"):
            stream.element = f"row {self.row_count}"
            repeats = stream.repeats
            try:
                row = stream.value()
            except SkippedValue as exc:  # its host's name is inside it, unread
                found.failure(f"<row {self.row_count}>", str(exc), self.where)
                self.row_count += 1
                continue
            self.row(found, row, stream.repeats != repeats)

    def mapping(self, stream: JsonStream, found: _Found, paths: bool = True) -> None:
        """The host → CPU members of the JSON object at the stream's position
        (`paths`: see `host`)."""
        for _ in stream.members("}"):
            name = stream.key()
            stream.element = f"host {shown(name)}"
            repeats = stream.repeats
            try:
                described = stream.value()
            except SkippedValue as exc:
                self.skipped(found, name, exc)
                continue
            self.host(found, name, described, stream.repeats != repeats, paths)

    def skipped(self, found: _Found, name: str, exc: SkippedValue) -> None:
        """Report the member `name` whose value the stream passed over."""
        if found.taken(name):
            found.duplicate(name, self.where)
        else:
            found.failure(name, str(exc), self.where)

    def top_object(self, stream: JsonStream) -> _Found:
        """A top-level JSON object: ``{"hosts"|"hypervisors": rows or mapping}``
        (any other member is reported beside it, see `beside`), one hypervisor
        (``openstack hypervisor show -f json``), or a mapping of host names to
        CPUs, told apart as its members are read."""
        found = _Found()
        pending: list[tuple[str, Any, bool]] | None = []  # members kept while the shape is unknown
        before: list[str] = []  # the names read before a wrapper, each reported beside it
        wrapper = None
        skipped: list[tuple[str, SkippedValue]] = []  # members too large to read: reported at the end
        for _ in stream.members("}"):
            name = stream.key()
            stream.element = f"key {shown(name)}" if pending is not None or wrapper else f"host {shown(name)}"
            holds_hosts = name in _WRAPPERS and stream.skip() in ("{", "[")
            if wrapper is not None:
                if name == wrapper:
                    raise InvalidInventory(f"key {wrapper!r} appears twice", source=self.where)
                if holds_hosts:
                    raise InvalidInventory(f"both {wrapper!r} and {shown(name)!r} list hosts", source=self.where)
                with contextlib.suppress(SkippedValue):  # beside the hosts: reported, never read
                    stream.value()
                self.beside(found, name, wrapper)
                continue
            given = found.taken(name) if pending is None else any(name == key for key, _, _ in pending)
            if holds_hosts and not given:
                wrapper, pending, found = name, None, _Found()  # the hosts are all under it
                stream.element = ""
                if stream.skip() == "[":
                    self.rows(stream, found)
                else:
                    self.mapping(stream, found, paths=wrapper != "hypervisors")
                for sibling in before:
                    self.beside(found, sibling, wrapper)
                continue
            before.append(name)
            repeats = stream.repeats
            try:
                described = stream.value()
            except SkippedValue as exc:
                skipped.append((name, exc))
                continue
            if pending is None:
                self.host(found, name, described, stream.repeats != repeats)
                continue
            pending.append((name, described, stream.repeats != repeats))
            if len(pending) > _MIXED_KEYS and not any(key in _SHOW_KEYS for key, _, _ in pending):
                for member in pending:
                    self.host(found, *member)
                pending = None
        if pending is not None:
            if any(key in _SHOW_KEYS for key, _, _ in pending):
                row = mapping_of([(key, value) for key, value, _ in pending])
                self.row(found, row, any(repeats for _, _, repeats in pending) or isinstance(row, RepeatedKeys))
            else:
                for member in pending:
                    self.host(found, *member)
        if wrapper is None:  # else each was reported beside the wrapper, as `before`
            for name, passed_over in skipped:
                self.skipped(found, name, passed_over)
        return found


def _from_value(value: Any, path: Path, cpumap: CpuMap, repeated: bool) -> _Found:
    """Hosts of a parsed YAML value (`repeated`: some mapping in it gave a
    key twice, or some value is Unreadable), shaped as a JSON file's are (see _HostReader.top_object)."""
    where = str(path)
    reader = _HostReader(path, cpumap)
    found = _Found()
    wrapper, siblings = "", []
    if isinstance(value, dict):
        wrappers = [key for key in value if key in _WRAPPERS and isinstance(value[key], (dict, list))]
        if len(wrappers) > 1:
            raise InvalidInventory(f"both {wrappers[0]!r} and {wrappers[1]!r} list hosts", source=where)
        if wrappers:
            wrapper = wrappers[0]
            twice = getattr(value, "repeated", ())
            if wrapper in twice:
                raise InvalidInventory(f"key {wrapper!r} appears twice", source=where)
            siblings = [key for key in value if key != wrapper] + list(twice)
            value = value[wrapper]
        elif any(key in value for key in _SHOW_KEYS):
            value = [value]  # one hypervisor
    if isinstance(value, dict):
        for name, described in value.items():
            reader.host(found, name, described, repeated, paths=wrapper != "hypervisors")
        for name in getattr(value, "repeated", ()):
            found.duplicate(name, where)
    elif isinstance(value, list):
        for row in value:
            reader.row(found, row, repeated)
        reader.check_described()
    else:
        raise InvalidInventory("expected an object of hosts or a list of compute nodes", source=where)
    for name in siblings:
        reader.beside(found, name, wrapper)
    return found


def _listed(keys: Iterable[str], most: int = 5) -> str:
    """Keys for a message: quoted, each cut to a sane length, at most `most` of them."""
    keys = list(keys)
    more = f" and {len(keys) - most} more" if len(keys) > most else ""
    return ", ".join(repr(shown(key)) for key in keys[:most]) + more


def _problems(described: Any) -> tuple[list[str], Unreadable | None]:
    """Keys given twice anywhere in a host's description, and a value in it
    that could not be read, if any (each object visited once)."""
    found: list[str] = []
    stack, visited = [described], set()
    while stack:
        item = stack.pop()
        if isinstance(item, Unreadable):
            return found, item
        if id(item) in visited or not isinstance(item, (dict, list)):
            continue
        visited.add(id(item))
        found.extend(getattr(item, "repeated", ()))
        stack.extend(item.values() if isinstance(item, dict) else item)
    return found, None


def _repeated_keys(described: Any) -> list[str]:
    """Keys given twice anywhere in a host's description."""
    return _problems(described)[0]


def _cache_key(described: Any) -> object:
    if isinstance(described, str):
        return described
    if isinstance(described, dict) and isinstance(described.get("features", []), list):
        key = (described.get("arch"), described.get("model"), described.get("vendor"),
               tuple(described.get("features", ())))
        try:
            hash(key)
        except TypeError:  # odd values (lists) are parsed, and refused, one by one
            return None
        return key
    return None


def _cpu_of(described: Any, where: str, base: Path | None, cpumap: CpuMap) -> Cpu:
    """The CPU `described` by an object, CPU text, or the path of a file
    (relative to `base`; with no `base`, a text is never a path)."""
    if described is None or described == "" or described == {}:
        raise InvalidInventory("no CPU information", source=where)
    if not isinstance(described, (dict, str)):
        raise InvalidInventory(f"CPU given as {type(described).__name__}, expected an object, XML or a path",
                               source=where)
    try:
        if isinstance(described, dict):
            return parse_cpu_info(described, where, cpumap)
        if described.lstrip().startswith("{"):  # cpu_info as the API and the database store it: JSON text
            try:
                value = json.loads(described, object_pairs_hook=mapping_of)
            except ValueError:
                return _one_cpu(parse_cpus(described, where, cpumap), where)  # its error names the problem
            twice = _repeated_keys(value)
            if twice:
                raise InvalidInventory(f"its cpu_info gives {_listed(twice)} twice", source=where)
            return parse_cpu_info(value, where, cpumap)
        try:
            detect_format(described, where)
        except UnknownInputFormat:  # no CPU description: the path of a file holding one
            if base is None:  # Nova's data (cpu_info) is never a file name
                raise InvalidInventory("its CPU is neither cpu_info JSON, CPU XML nor /proc/cpuinfo text "
                                       "(a value from Nova is never read as a file name)", source=where) from None
            path = Path(described) if Path(described).is_absolute() else base / described
            return _one_cpu(read_cpus(path, cpumap), str(path))
        return _one_cpu(parse_cpus(described, where, cpumap), where)
    except RecursionError:  # thousands of nested brackets: json gives up
        raise InvalidInventory(TOO_DEEP, source=where) from None


# -- live hosts ----------------------------------------------------------------

def _from_uris(uris: list[str], cpumap: CpuMap, timeout: float, progress: bool) -> _Found:
    """Read hosts over libvirt, MAX_CONCURRENT_HOSTS at a time, each within `timeout`
    seconds of its own start.

    libvirt calls cannot be cancelled: an attempt past its deadline is
    reported and abandoned on a daemon thread, which neither delays the
    next host nor keeps the process alive at exit.  It no longer holds a
    slot (else hung hosts would starve every host after them), so each
    hung host adds a thread and its connection beyond the limit until
    libvirt gives up.
    """
    from ..inputs.live import host_cpu_from_libvirt

    answers: queue.SimpleQueue = queue.SimpleQueue()

    def attempt(uri: str) -> None:
        try:
            answers.put((uri, host_cpu_from_libvirt(uri, cpumap), None))
        except CpuCompatError as exc:
            answers.put((uri, None, str(exc)))
        except Exception as exc:  # a bug must still answer, or the host would wait out its timeout
            answers.put((uri, None, f"internal error: {type(exc).__name__}: {exc}"))

    found = _Found()
    waiting = collections.deque(uris)
    running: dict[str, float] = {}  # URI → deadline
    done = 0
    while waiting or running:
        while waiting and len(running) < MAX_CONCURRENT_HOSTS:
            uri = waiting.popleft()
            running[uri] = time.monotonic() + timeout
            threading.Thread(target=attempt, args=(uri,), name=f"cpucompat {uri}", daemon=True).start()
        try:
            uri, cpu, error = answers.get(timeout=max(0.0, min(running.values()) - time.monotonic()))
        except queue.Empty:
            now = time.monotonic()
            late = [uri for uri, deadline in running.items() if deadline <= now]
            for uri in late:
                del running[uri]
                found.failure(uri, f"{uri}: no answer within {timeout:g} s")
            done += len(late)
        else:
            if running.pop(uri, None) is None:
                continue  # answered after its deadline: already reported
            if error is None:
                found.host(uri, cpu)
            else:
                found.failure(uri, error)
            done += 1
        if progress:
            print(f"\rread {done}/{len(uris)} hosts", end="", file=sys.stderr, flush=True)
    if progress:
        print(file=sys.stderr)
    return found
