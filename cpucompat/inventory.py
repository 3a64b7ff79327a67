"""A fleet inventory: host names and their CPUs, from any source.

One loader, format detected from content:

* ``sample``: the fleet shipped with cpucompat (real CPUs from libvirt's
  test data, decoded by cpucompat);
* a directory with one file per host (any format `parse` reads; the host
  name is the file name without a known extension: ``node1.dc1.xml`` is
  host ``node1.dc1``), or one subdirectory per host (the host name is the
  directory's; it holds ``capabilities.xml`` or a single host file);
* a JSON or YAML file mapping host names to a CPU (Nova ``cpu_info``
  object, CPU XML text, or a path to a file), optionally under ``hosts``;
  keys are read as written (YAML ``no:`` is host ``no``, ``1.10`` is
  ``1.10``) and a key given twice is reported, never overwritten;
* Nova's hypervisors with their ``cpu_info``: ``openstack hypervisor show
  HOST -f json`` output (one object, or several concatenated or in a list),
  the API's ``{"hypervisors": [...]}``, or rows of the ``compute_nodes``
  table (JSON rows or ``mysql -B`` output; soft-deleted rows are skipped);
* a text file listing libvirt URIs, one a line, or the URIs themselves
  (``qemu:///system``, ``qemu+ssh://host/system``): read concurrently, at
  most MAX_CONCURRENT_HOSTS at a time, each host given `timeout` seconds
  from when its own attempt starts.

A host that cannot be read is kept in ``failures`` with its reason; the
others load.  Host names are never merged: a duplicate is a failure, and
no failure ever replaces another.
"""
from __future__ import annotations

import collections
import functools
import json
import queue
import re
import sys
import threading
import time
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any, Iterable, Mapping

from .cpu import Cpu
from .cpumap import CpuMap, embedded_cpu_map
from .errors import CpuCompatError, InvalidInventory
from .parse import parse_cpu_info, parse_cpus, read_cpus, read_text

SAMPLE = "sample"
URI_SCHEMES = ("qemu:", "qemu+", "test:", "test+", "xen:", "lxc:")
# Extensions the directory loader strips from a file name to get the host
# name: the formats `parse` reads (the content decides the format).
HOST_FILE_SUFFIXES = (".xml", ".json", ".txt", ".cpuinfo")
HOST_DIRECTORY_FILE = "capabilities.xml"  # `virsh capabilities > HOST/capabilities.xml`
MAX_CONCURRENT_HOSTS = 16
MAX_INVENTORY_BYTES = 1 << 30  # a million hosts in JSON is a few hundred MiB


@dataclass(frozen=True)
class Inventory:
    """Hosts and their CPUs, plus the hosts that could not be read."""

    hosts: Mapping[str, Cpu]
    failures: Mapping[str, str] = field(default_factory=dict)
    source: str = ""


def sample_path() -> Path:
    """The shipped sample fleet (see data/fleet/SOURCE)."""
    return Path(str(resources.files("cpucompat.data") / "fleet" / "sample.json"))


def load_inventory(sources: str | Path | Iterable[str | Path], cpumap: CpuMap | None = None,
                   *, timeout: float = 30.0, progress: bool = False) -> Inventory:
    """Load one or several inventory sources into one Inventory.

    `timeout` bounds each live host's attempt; `progress` prints a
    "read N/M hosts" line on stderr while live hosts are read.
    """
    cpumap = cpumap if cpumap is not None else embedded_cpu_map()
    if isinstance(sources, (str, Path)):
        sources = [sources]
    found = _Found()
    uris: dict[str, str] = {}  # URI → where it was given
    repeated_uris: list[tuple[str, str]] = []
    names = []
    for source in sources:
        names.append(str(source))
        for uri in _load_source(str(source), found, cpumap):
            if uri in uris:
                repeated_uris.append((uri, f"given twice ({uris[uri]}, {source}); read once"))
            else:
                uris[uri] = str(source)
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
        found.merge(_from_text(read_text(sample_path(), max_bytes=MAX_INVENTORY_BYTES), sample_path(), cpumap), text)
        return []
    if text.startswith(URI_SCHEMES):
        return [text]
    path = Path(text)
    if path.is_dir():
        found.merge(_from_directory(path, cpumap), text)
        return []
    if not path.exists():
        raise InvalidInventory("no such file, directory or libvirt URI", source=text)
    content = read_text(path, max_bytes=MAX_INVENTORY_BYTES)
    listed = _listed_uris(content, path)
    if listed is None:
        found.merge(_from_text(content, path, cpumap), text)
        return []
    return listed


class _Found:
    """Hosts and failures as they are found; nothing is ever overwritten."""

    def __init__(self) -> None:
        self.hosts: dict[str, Cpu] = {}
        self.failures: dict[str, str] = {}

    def _taken(self, name: str) -> bool:
        return name in self.hosts or name in self.failures

    def _duplicate_key(self, name: str, where: str) -> str:
        key = f"{name} (duplicate{', ' + where if where else ''})"
        n = 2
        while self._taken(key):
            key = f"{name} (duplicate {n}{', ' + where if where else ''})"
            n += 1
        return key

    def host(self, name: str, cpu: Cpu, where: str = "") -> None:
        """Add a host, or report a second description of it (the first is kept)."""
        if self._taken(name):
            self.failures[self._duplicate_key(name, where)] = \
                "host name appears twice in the inventory; the first is kept"
        else:
            self.hosts[name] = cpu

    def failure(self, name: str, reason: str, where: str = "") -> None:
        """Record why `name` cannot be read, beside any earlier record of it."""
        self.failures[self._duplicate_key(name, where) if self._taken(name) else name] = reason

    def merge(self, other: "_Found", where: str) -> None:
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
        name = _host_name(entry.name) if entry.is_file() else entry.name
        try:
            cpu = _read_host_entry(entry, cpumap)
        except CpuCompatError as exc:
            found.failure(name, str(exc), entry.name)
            continue
        found.host(name, cpu, entry.name)
    return found


def _read_host_entry(entry: Path, cpumap: CpuMap) -> Cpu:
    if entry.is_dir():
        entry = _host_directory_file(entry)
    elif not entry.is_file():
        raise InvalidInventory("neither a file nor a directory (a broken link?)", source=str(entry))
    return read_cpus(entry, cpumap)[0]


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


def _from_text(text: str, path: Path, cpumap: CpuMap) -> _Found:
    start = _BLANK.match(text).end()  # no copy of what may be a GiB of text
    if text.startswith(("{", "["), start):
        value, repeated = _json_values(text, path)
    elif text.startswith("<", start):
        found = _Found()
        found.host(_host_name(path.name), parse_cpus(text, str(path), cpumap)[0])
        return found
    elif _is_mysql_batch(text, start):
        value, repeated = _mysql_batch_rows(text[start:]), False
    else:
        value, repeated = _yaml(text, path)
    return _from_value(value, path, cpumap, repeated)


class _Repeated(dict):
    """A JSON or YAML object that gave some keys twice: the first value of each
    is kept, and the repeated keys are listed so they can be reported."""

    __slots__ = ("repeated",)


def _object(pairs: list[tuple[str, Any]], noted: list[bool] | None = None) -> dict:
    """A dict of `pairs`; when a key repeats, a _Repeated one (and `noted` gets True)."""
    mapping = dict(pairs)
    if len(mapping) == len(pairs):
        return mapping
    if noted is not None:
        noted.append(True)
    first: dict[str, Any] = {}
    repeated = []
    for key, value in pairs:
        if key in first:
            repeated.append(key)
        else:
            first[key] = value
    mapping = _Repeated(first)
    mapping.repeated = tuple(dict.fromkeys(repeated))
    return mapping


def _json_values(text: str, path: Path) -> tuple[Any, bool]:
    """One JSON value, or the list of several concatenated ones (a shell loop
    over ``openstack hypervisor show -f json`` prints one object per host),
    and whether some object gave a key twice."""
    noted: list[bool] = []

    def as_dict(pairs: list[tuple[str, Any]]) -> dict:  # the hook of every object: kept cheap
        mapping = dict(pairs)
        return mapping if len(mapping) == len(pairs) else _object(pairs, noted)

    decoder = json.JSONDecoder(object_pairs_hook=as_dict)
    values = []
    end = 0
    try:
        while True:
            end = _BLANK.match(text, end).end()
            if end == len(text):
                break
            value, end = decoder.raw_decode(text, end)
            values.append(value)
    except ValueError as exc:
        raise InvalidInventory(f"invalid JSON: {exc}", source=str(path)) from None
    if len(values) == 1:
        return values[0], bool(noted)
    rows: list[Any] = []
    for value in values:
        rows.extend(value) if isinstance(value, list) else rows.append(value)
    return rows, bool(noted)


def _is_mysql_batch(text: str, start: int) -> bool:
    end = text.find("\n", start)
    header = text[start:end if end >= 0 else len(text)].rstrip("\r").split("\t")
    return len(header) > 1 and "cpu_info" in header


def _mysql_batch_rows(text: str) -> list[dict[str, Any]]:
    """Rows of ``mysql -B`` output: a tab-separated header line, then rows with
    ``\\t``, ``\\n``, ``\\\\`` and ``\\0`` escaped and NULL for null."""
    escapes = {"t": "\t", "n": "\n", "0": "\0", "\\": "\\"}

    def value(cell: str) -> str | None:
        if cell == "NULL":
            return None
        return re.sub(r"\\(.)", lambda m: escapes.get(m.group(1), m.group(0)), cell)

    lines = text.rstrip("\n").split("\n")
    header = lines[0].split("\t")
    return [dict(zip(header, map(value, line.split("\t")))) for line in lines[1:] if line]


@functools.lru_cache(maxsize=1)
def _yaml_loader() -> type:
    """PyYAML's safe loader, reading mapping keys as written and keeping
    repeated keys visible (PyYAML's own loader turns ``no:`` into False,
    ``0123`` into 83 and silently keeps the last of two equal keys)."""
    import yaml

    class Loader(yaml.SafeLoader):
        def __init__(self, stream: str) -> None:
            super().__init__(stream)
            self.noted: list[bool] = []  # True once a mapping gave a key twice

        def construct_mapping(self, node: yaml.Node, deep: bool = False) -> dict:
            if not isinstance(node, yaml.MappingNode):
                raise yaml.constructor.ConstructorError(None, None, f"expected a mapping, found {node.id}",
                                                        node.start_mark)
            own = sum(1 for key, _ in node.value if key.tag != "tag:yaml.org,2002:merge")
            self.flatten_mapping(node)  # merged (<<) pairs first, then the mapping's own
            cut = len(node.value) - own
            pairs = []
            for key_node, value_node in node.value[cut:]:
                if not isinstance(key_node, yaml.ScalarNode):
                    raise yaml.constructor.ConstructorError("while reading a mapping", node.start_mark,
                                                            "found a key that is not a plain value",
                                                            key_node.start_mark)
                pairs.append((key_node.value, self.construct_object(value_node, deep=True)))
            mapping = _object(pairs, self.noted)
            for key_node, value_node in reversed(node.value[:cut]):  # the first merged mapping wins
                if isinstance(key_node, yaml.ScalarNode) and key_node.value not in mapping:
                    mapping[key_node.value] = self.construct_object(value_node, deep=True)
            return mapping

    Loader.add_constructor("tag:yaml.org,2002:map", lambda loader, node: loader.construct_mapping(node))
    return Loader


def _yaml(text: str, path: Path) -> tuple[Any, bool]:
    """The YAML document and whether some mapping gave a key twice."""
    try:
        import yaml
    except ImportError:
        raise InvalidInventory("YAML inventories need PyYAML (pip install pyyaml)", source=str(path)) from None
    loader = _yaml_loader()(text)
    try:
        return loader.get_single_data(), bool(loader.noted)
    except yaml.YAMLError as exc:
        raise InvalidInventory(f"invalid YAML: {exc}", source=str(path)) from None
    finally:
        loader.dispose()


# -- values: mappings of hosts and rows of hypervisors ----------------------

_NAME_KEYS = ("hypervisor_hostname", "Hypervisor Hostname", "host", "name", "hostname")
_CPU_KEYS = ("cpu_info", "CPU Info", "cpu")
NO_CPU_INFO_HINT = ("rows have no cpu_info: `openstack hypervisor list` never prints it; use "
                    "`openstack hypervisor show HOST -f json` for each host (concatenated in one file), "
                    "or export nova's compute_nodes table (hypervisor_hostname, cpu_info, deleted)")


def _from_value(value: Any, path: Path, cpumap: CpuMap, repeated: bool) -> _Found:
    """Hosts of a parsed JSON/YAML value; `repeated`: some object in it gave a key twice."""
    where = str(path)
    if isinstance(value, dict):
        for wrapper in ("hosts", "hypervisors"):
            if isinstance(value.get(wrapper), (dict, list)):
                if wrapper in getattr(value, "repeated", ()):
                    raise InvalidInventory(f"key {wrapper!r} appears twice", source=where)
                value = value[wrapper]
                break
        else:
            if "hypervisor_hostname" in value or "Hypervisor Hostname" in value:
                value = [value]  # one `openstack hypervisor show -f json`
    if isinstance(value, dict):
        rows = list(value.items())
    elif isinstance(value, list):
        rows = _rows(value, where)
    else:
        raise InvalidInventory("expected an object of hosts or a list of compute nodes", source=where)
    found = _Found()
    seen: dict[object, Cpu] = {}  # fleets repeat a few CPUs many times: parse each once
    for name, described in rows:
        label = f"{where}: host {name}"
        try:
            twice = _repeated_keys(described) if repeated else ()
            if twice:
                raise InvalidInventory(f"its description gives {', '.join(map(repr, twice))} twice",
                                       source=label)
            key = _cache_key(described)
            cpu = seen.get(key) if key is not None else None
            if cpu is None:
                cpu = _cpu_of(described, label, path.parent, cpumap)
                if key is not None:
                    seen[key] = cpu
        except CpuCompatError as exc:
            found.failure(name, str(exc), where)
            continue
        found.host(name, cpu, where)
    for name in getattr(value, "repeated", ()):
        found.failure(name, f"{where}: host {name} is given twice in this file; the first is kept", where)
    return found


def _rows(value: list, where: str) -> list[tuple[str, Any]]:
    """(host name, CPU) of each live row of hypervisors or compute nodes."""
    rows: list[tuple[str, Any]] = []
    described = False
    for i, row in enumerate(value):
        if not isinstance(row, dict):
            raise InvalidInventory(f"row {i} is not an object", source=where)
        if row.get("deleted") not in (None, 0, "0", False):
            continue  # a soft-deleted compute_nodes row: `deleted` holds its id
        name = next((row[k] for k in _NAME_KEYS if row.get(k)), None)
        cpu_key = next((k for k in _CPU_KEYS if k in row), None)
        described = described or cpu_key is not None
        cpu = row[cpu_key] if cpu_key is not None else None
        if getattr(row, "repeated", ()):
            cpu = row  # which of two columns describes the host is unknown: refused for its repeats
        rows.append((str(name) if name is not None else f"<row {i}>", cpu))
    if rows and not described:
        raise InvalidInventory(NO_CPU_INFO_HINT, source=where)
    return rows


def _repeated_keys(described: Any) -> list[str]:
    """Keys given twice anywhere in a host's description (each object visited once)."""
    found: list[str] = []
    stack, visited = [described], set()
    while stack:
        item = stack.pop()
        if id(item) in visited or not isinstance(item, (dict, list)):
            continue
        visited.add(id(item))
        found.extend(getattr(item, "repeated", ()))
        stack.extend(item.values() if isinstance(item, dict) else item)
    return found


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


def _cpu_of(described: Any, where: str, base: Path, cpumap: CpuMap) -> Cpu:
    if described is None or described == "" or described == {}:
        raise InvalidInventory("no CPU information", source=where)
    if isinstance(described, dict):
        return parse_cpu_info(described, where, cpumap)
    if isinstance(described, str):
        stripped = described.lstrip()
        if stripped.startswith("{"):  # cpu_info as the API and the database store it: JSON text
            try:
                value = json.loads(described, object_pairs_hook=_object)
            except ValueError:
                return parse_cpus(described, where, cpumap)[0]  # its error names the problem
            twice = _repeated_keys(value)
            if twice:
                raise InvalidInventory(f"its cpu_info gives {', '.join(map(repr, twice))} twice", source=where)
            return parse_cpu_info(value, where, cpumap)
        if stripped.startswith(("<", "[", '"')) or "flags" in stripped[:2000]:
            return parse_cpus(described, where, cpumap)[0]
        path = Path(described) if Path(described).is_absolute() else base / described
        return read_cpus(path, cpumap)[0]
    raise InvalidInventory(f"CPU given as {type(described).__name__}, expected an object, XML or a path",
                           source=where)


# -- live hosts ----------------------------------------------------------------

def _from_uris(uris: list[str], cpumap: CpuMap, timeout: float, progress: bool) -> _Found:
    """Read hosts over libvirt, MAX_CONCURRENT_HOSTS at a time, each within `timeout`
    seconds of its own start.

    libvirt calls cannot be cancelled: an attempt past its deadline is
    reported and abandoned on a daemon thread, which neither delays the
    next host nor keeps the process alive at exit.
    """
    from .live import host_cpu_from_libvirt

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
