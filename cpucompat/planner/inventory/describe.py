"""One host's description (cpu_info object or JSON text, CPU XML, /proc/cpuinfo
text, or the path of a file) turned into its Cpu, with the problems that
make it unreadable named."""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Iterable

from ...display import shown
from ...engine.cpu import Cpu
from ...engine.cpumap import CpuMap
from ...errors import InvalidInventory, UnknownInputFormat
from ...inputs.jsonruns import SharedValue
from ...inputs.jsonstream import Unreadable, mapping_of
from ...inputs.parse import detect_format, parse_cpu_info, parse_cpus, read_cpus
from ...inputs.yamlread import TOO_DEEP
from .files import one_cpu

__all__ = ["listed", "problems", "repeated_keys", "cache_key", "cpu_of"]


def listed(keys: Iterable[str], most: int = 5) -> str:
    """Keys for a message: quoted, each cut to a sane length, at most `most` of them."""
    keys = list(keys)
    more = f" and {len(keys) - most} more" if len(keys) > most else ""
    return ", ".join(repr(shown(key)) for key in keys[:most]) + more


def problems(described: Any) -> tuple[list[str], Unreadable | None]:
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


def repeated_keys(described: Any) -> list[str]:
    """Keys given twice anywhere in a host's description."""
    return problems(described)[0]


def cache_key(described: Any) -> object:
    """What hosts of one description share their parsed CPU under: the text,
    a shared value itself (one object for every row that repeats it), or a
    dict's CPU fields."""
    if isinstance(described, str) or type(described) is SharedValue:
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


def cpu_of(described: Any, where: str, base: Path | None, cpumap: CpuMap) -> Cpu:
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
                return one_cpu(parse_cpus(described, where, cpumap), where)  # its error names the problem
            twice = repeated_keys(value)
            if twice:
                raise InvalidInventory(f"its cpu_info gives {listed(twice)} twice", source=where)
            return parse_cpu_info(value, where, cpumap)
        try:
            detect_format(described, where)
        except UnknownInputFormat:  # no CPU description: the path of a file holding one
            if base is None:  # Nova's data (cpu_info) is never a file name
                raise InvalidInventory("its CPU is neither cpu_info JSON, CPU XML nor /proc/cpuinfo text "
                                       "(a value from Nova is never read as a file name)", source=where) from None
            path = Path(described) if Path(described).is_absolute() else base / described
            return one_cpu(read_cpus(path, cpumap), str(path))
        return one_cpu(parse_cpus(described, where, cpumap), where)
    except RecursionError:  # thousands of nested brackets: json gives up
        raise InvalidInventory(TOO_DEEP, source=where) from None

