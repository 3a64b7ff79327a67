"""The shapes of a JSON or YAML inventory: a mapping of host names to CPUs,
rows of hypervisors or compute nodes, one hypervisor, any of them under
``hosts`` or ``hypervisors``; what each shape's members mean."""
from __future__ import annotations

import contextlib
import re
from collections import deque
from itertools import repeat
from operator import itemgetter
from pathlib import Path
from typing import Any, Iterator

from ...display import shown
from ...engine.cpu import Cpu
from ...engine.cpumap import CpuMap
from ...errors import CpuCompatError, InvalidInventory
from ...inputs.jsonstream import JsonStream, RepeatedKeys, SkippedValue, mapping_of
from .describe import cache_key, cpu_of, listed, problems, repeated_keys
from .found import Found
from .nova import CPU_KEYS, NAME_KEYS, NO_CPU_INFO_HINT, SHOW_KEYS, is_row_id, row_name

__all__ = ["HostReader", "ValueStream", "read_values", "from_value"]

_BLANK = re.compile(r"[\s\ufeff]*")
_LIVE = (None, 0, "0", False)  # a row's `deleted` when it is live
_LIVE_SET = frozenset(_LIVE)
_MIXED_KEYS = 100  # a top-level object with more keys than a hypervisor's is a mapping of hosts
_WRAPPERS = ("hosts", "hypervisors")


class HostReader:
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

    def host(self, found: Found, name: str, described: Any, repeats: bool, paths: bool = True) -> None:
        """Add host `name` described by `described` (`repeats`: some object
        in it may give a key twice or be unreadable), or its failure; a name
        already taken is a duplicate, its description never read.  A text
        naming no CPU is the path of a file only with `paths` (in mappings
        the user wrote, never in Nova's rows)."""
        if found.taken(name):
            found.duplicate(name, self.where)
            return
        try:
            twice, unreadable = problems(described) if repeats else ((), None)
            if unreadable is not None:
                raise InvalidInventory(f"its description holds {unreadable.reason}",
                                       source=f"{self.where}: host {shown(name)}")
            if twice:
                raise InvalidInventory(f"its description gives {listed(twice)} twice",
                                       source=f"{self.where}: host {shown(name)}")
            key = cache_key(described)
            cpu = self.seen.get(key) if key is not None else None
            if cpu is None:
                cpu = cpu_of(described, f"{self.where}: host {shown(name)}", self.base if paths else None,
                              self.cpumap)
                if key is not None:
                    self.seen[key] = cpu
        except CpuCompatError as exc:
            found.failure(name, str(exc), self.where)
            return
        found.hosts[name] = cpu  # a name not taken, as said above

    def row(self, found: Found, row: Any, repeats: bool) -> None:
        """A row of hypervisors or compute nodes; soft-deleted ones are skipped."""
        number = self.row_count
        self.row_count += 1
        if not isinstance(row, dict):
            raise InvalidInventory(f"row {number} is not an object", source=self.where)
        deleted = row.get("deleted")
        if deleted not in _LIVE:
            if is_row_id(deleted):
                return  # a soft-deleted compute_nodes row: `deleted` holds its id
            name = row_name(row, number)
            found.failure(name, str(InvalidInventory(
                f"its 'deleted' is {shown(deleted)!r}: neither 0 (a live row) nor the id of a deleted row",
                source=f"{self.where}: host {shown(name)}")), self.where)
            return
        self.live_rows += 1
        name = row_name(row, number)
        described = None
        for key in CPU_KEYS:
            if key in row:
                described = row[key]
                self.described = True
                break
        twice = repeated_keys(row) if repeats and isinstance(row, RepeatedKeys) else ()
        if twice:  # which of two columns describes the host is unknown
            found.failure(name, str(InvalidInventory(f"its row gives {listed(twice)} twice",
                                                     source=f"{self.where}: host {shown(name)}")), self.where)
            return
        self.host(found, name, described, repeats, paths=False)

    def run(self, found: Found, rows: list[Any]) -> None:
        """Rows read whole with no key given twice (a stream's run), each as
        `row` reads it; the usual one (live, its cpu_info seen before, named
        by a text in its first name column, a name not taken) in one step,
        with the counts kept once a run."""
        if self._run_at_once(found, rows):
            return
        cpu_key, name_key, hosts, failures, seen = CPU_KEYS[0], NAME_KEYS[0], found.hosts, found.failures, self.seen
        first = self.row_count
        quick = 0
        for number, row in enumerate(rows, first):
            if type(row) is dict and row.get("deleted") in _LIVE and cpu_key in row:
                described = row[cpu_key]
                cpu = seen.get(cache_key(described))
                name = row.get(name_key)
                # row_name's answer when the first name column holds a text; Found.taken, inline
                if cpu is not None and type(name) is str and name and name not in hosts and name not in failures:
                    hosts[name] = cpu
                    quick += 1
                    continue
            self.row_count = number
            self.row(found, row, False)
        self.row_count = first + len(rows)
        if quick:
            self.live_rows += quick
            self.described = True

    def _run_at_once(self, found: Found, rows: list[Any]) -> bool:
        """`run` with no Python code a row, when every row is the usual one
        (and no two give one name); False, having done nothing, otherwise."""
        hosts, failures = found.hosts, found.failures
        try:
            if set(map(type, rows)) != {dict} or not _LIVE_SET.issuperset(map(dict.get, rows, repeat("deleted"))):
                return False
            # seen's key of a shared value or a text is itself (see cache_key); others raise TypeError here
            cpus = list(map(self.seen.__getitem__, map(itemgetter(CPU_KEYS[0]), rows)))
            names = list(map(itemgetter(NAME_KEYS[0]), rows))
        except (KeyError, TypeError):  # a row without those, a CPU not seen yet, an unhashable 'deleted'
            return False
        # row_name's answers (texts, none empty), none a failure's (Found.taken)
        if set(map(type, names)) != {str} or not all(names) or (failures and not failures.keys().isdisjoint(names)):
            return False
        before = len(hosts)
        deque(map(hosts.setdefault, names, cpus), 0)  # adds each name not taken, changes no host
        if len(hosts) - before != len(names):  # a name taken already, or given twice
            for _ in range(len(hosts) - before):
                hosts.popitem()  # the last added first: hosts is as it was
            return False
        self.row_count += len(rows)
        self.live_rows += len(rows)
        self.described = True
        return True

    def unread_row(self, found: Found, partial: dict[str, Any], reason: str) -> None:
        """Report a row too large to read, named from `partial` (its cells read whole) when they can."""
        number = self.row_count
        self.row_count += 1
        if is_row_id(partial.get("deleted")):
            return  # a soft-deleted row, however large
        name = row_name(partial, number)
        found.failure(name, str(InvalidInventory(reason, source=f"{self.where}: host {shown(name)}")), self.where)

    def beside(self, found: Found, name: str, wrapper: str) -> None:
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

    def rows(self, stream: "JsonStream | ValueStream", found: Found) -> None:
        """The rows of the JSON array at the stream's position."""
        for ahead in stream.members("]"):
            if ahead is not None:  # rows read already, whole, no key given twice
                self.run(found, ahead)
                continue
            stream.element = f"row {self.row_count}"
            repeats = stream.repeats
            try:
                row = stream.value()
            except SkippedValue as exc:  # its host's name is inside it, unread
                found.failure(f"<row {self.row_count}>", str(exc), self.where)
                self.row_count += 1
                continue
            self.row(found, row, stream.repeats != repeats)

    def mapping(self, stream: "JsonStream | ValueStream", found: Found, paths: bool = True) -> None:
        """The host → CPU members of the JSON object at the stream's position
        (`paths`: see `host`)."""
        for _ in stream.members("}"):
            ahead = stream.member_run()
            if ahead is not None:  # members read already, whole, no key given twice
                self.member_run(stream, found, ahead, paths)
                continue
            name = stream.key()
            stream.element = ("host", name)
            repeats = stream.repeats
            try:
                described = stream.value()
            except SkippedValue as exc:
                self.skipped(found, name, exc)
                continue
            self.host(found, name, described, stream.repeats != repeats, paths)

    def member_run(self, stream: "JsonStream | ValueStream", found: Found, members: dict[str, Any],
                   paths: bool = True) -> None:
        """Members read whole with no key given twice (a stream's run), each
        as `host` reads it; in one step when each value's CPU is in `seen`
        (its key is the value itself, see cache_key) and no name is taken."""
        stream.element = ("host", next(reversed(members)))  # what an error just after the run names
        hosts, failures = found.hosts, found.failures
        try:
            cpus = list(map(self.seen.__getitem__, members.values()))
        except (KeyError, TypeError):  # a CPU not seen yet, an object (unhashable)
            cpus = None
        if cpus is not None and hosts.keys().isdisjoint(members) and (
                not failures or failures.keys().isdisjoint(members)):  # Found.taken, for each name
            hosts.update(zip(members, cpus))
            return
        for name, described in members.items():
            self.host(found, name, described, False, paths)

    def skipped(self, found: Found, name: str, exc: SkippedValue) -> None:
        """Report the member `name` whose value the stream passed over."""
        if found.taken(name):
            found.duplicate(name, self.where)
        else:
            found.failure(name, str(exc), self.where)

    def top_object(self, stream: "JsonStream | ValueStream") -> Found:
        """A top-level JSON object: ``{"hosts"|"hypervisors": rows or mapping}``
        (any other member is reported beside it, see `beside`), one hypervisor
        (``openstack hypervisor show -f json``), or a mapping of host names to
        CPUs, told apart as its members are read."""
        found = Found()
        pending: list[tuple[str, Any, bool]] | None = []  # members kept while the shape is unknown
        before: list[str] = []  # the names read before a wrapper, each reported beside it
        wrapper = None
        skipped: list[tuple[str, SkippedValue]] = []  # members too large to read: reported at the end
        for _ in stream.members("}"):
            if pending is None and wrapper is None:  # a plain mapping: a run of hosts, if any
                ahead = stream.member_run(_WRAPPERS)  # a wrapper is read as one below
                if ahead is not None:
                    before.extend(ahead)
                    self.member_run(stream, found, ahead)
                    continue
            name = stream.key()
            stream.element = ("key" if pending is not None or wrapper else "host", name)
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
            if holds_hosts and not (found.taken(name) if pending is None else any(name == k for k, _, _ in pending)):
                wrapper, pending, found = name, None, Found()  # the hosts are all under it
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
            if len(pending) > _MIXED_KEYS and not any(key in SHOW_KEYS for key, _, _ in pending):
                for member in pending:
                    self.host(found, *member)
                pending = None
        if pending is not None:
            if any(key in SHOW_KEYS for key, _, _ in pending):
                row = mapping_of([(key, value) for key, value, _ in pending])
                self.row(found, row, any(repeats for _, _, repeats in pending) or isinstance(row, RepeatedKeys))
            else:
                for member in pending:
                    self.host(found, *member)
        if wrapper is None:  # else each was reported beside the wrapper, as `before`
            for name, passed_over in skipped:
                self.skipped(found, name, passed_over)
        return found


def read_values(stream: "JsonStream | ValueStream", path: Path, cpumap: CpuMap) -> Found:
    """Hosts of the values of a JSON file (one value, or several concatenated:
    a shell loop over ``openstack hypervisor show -f json`` prints one object
    per host) or of a YAML document: each a list of rows or an object (see
    HostReader.top_object)."""
    reader = HostReader(path, cpumap)
    found = Found()
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


def from_value(value: Any, path: Path, cpumap: CpuMap, repeated: bool) -> Found:
    """Hosts of a parsed YAML value (`repeated`: some mapping in it gave a
    key twice, or some value is Unreadable), read by the very rules of a
    JSON file (see `read_values`)."""
    return read_values(ValueStream(value, repeated), path, cpumap)


_END = object()  # past the last value


class ValueStream:
    """A value already parsed (a YAML document), stepped through as HostReader
    steps through a JsonStream, so that one set of rules reads both.

    A key a mapping gave twice (a RepeatedKeys) comes again after its
    members, with no value: the rules report it as they report a JSON
    object's second member of that name.  With `checked`, every value read
    is one to check for keys given twice and unreadable parts.
    """

    def __init__(self, value: Any, checked: bool) -> None:
        self.next: Any = value  # the value at the position
        self.name = ""  # the key of the member at the position
        self.checked = checked
        self.repeats = 0
        self.element: str | tuple[str, str] = ""

    def skip(self, blank: object = None) -> str:
        """What the value at the position is: "{", "[", another character, or "" at the end."""
        if self.next is _END:
            return ""
        return "{" if isinstance(self.next, dict) else "[" if isinstance(self.next, list) else "."

    def value(self, limit: int = 0) -> Any:
        value, self.next = self.next, _END
        if self.checked:
            self.repeats += 1
        return value

    def member_run(self, refused: tuple[str, ...] = ()) -> None:
        return None  # a parsed value's members are read one by one

    def key(self) -> str:
        return self.name

    def members(self, close: str) -> Iterator[list[Any] | None]:
        container = self.next
        if isinstance(container, dict):
            for self.name, self.next in container.items():
                yield None
            for self.name in getattr(container, "repeated", ()):
                self.next = None
                yield None
        else:
            for self.next in container:
                yield None
        self.next = _END
