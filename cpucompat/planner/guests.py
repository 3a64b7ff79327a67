"""A guests file: running guests, each on its host, with its CPU if known;
checked against a Fleet for the guests that have nowhere to go."""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from ..errors import CpuCompatError, InvalidInventory
from ..inputs.jsonstream import RepeatedKeys, mapping_of
from ..inputs.parse import parse_cpus, read_cpus, read_text
from .fleet import Fleet
from .inventory import MAX_INVENTORY_BYTES
from .results import Guest, StrandedGuests

__all__ = ["stranded_guests"]


def stranded_guests(path: str, fleet: Fleet) -> tuple[StrandedGuests, list[dict[str, Any]]]:
    """The stranded guests of a guests file, and every entry that could not
    be checked, with why (none is dropped), in the order of the file.

    The file is JSON: a list of {name, host[, cpu]}, or an object of
    name → {host[, cpu]}; cpu is CPU XML or a file name.
    """
    members: list[str] = []  # the keys of the object decoded last: the file's own, when it is one

    def pairs_hook(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
        members[:] = [key for key, _ in pairs]
        return mapping_of(pairs)

    text = read_text(path, max_bytes=MAX_INVENTORY_BYTES)  # a regular file only, bounded
    try:
        value = json.loads(text, object_pairs_hook=pairs_hook)
    except (ValueError, RecursionError) as exc:
        raise InvalidInventory(f"cannot read guests: {exc if isinstance(exc, ValueError) else 'nested too deeply'}",
                               source=path) from None
    if isinstance(value, list):
        entries = [(row.get("name") if isinstance(row, dict) else None, row) for row in value]
    elif isinstance(value, dict):
        entries = [(name, value[name]) for name in members]
    else:
        raise InvalidInventory(f"expected a list or an object of guests, not {type(value).__name__}", source=path)
    guests: list[Guest] = []
    entry_of: list[int] = []  # the entry of each guest
    unchecked: list[dict[str, Any]] = []
    first: dict[str, int] = {}  # name → its entry, in an object of guests
    for i, (name, row) in enumerate(entries):
        name = name if isinstance(name, str) and name else f"guest-{i}"
        where = f"{path}: entry {i} ({name})"
        try:
            if isinstance(value, dict) and first.setdefault(name, i) != i:
                raise InvalidInventory(f"guest {name} is given again; only its first entry ({first[name]}) "
                                       "is checked", source=where)
            guest = _guest(row, name, where, Path(path).parent, fleet)
        except CpuCompatError as exc:
            unchecked.append({"guest": name, "entry": i, "reason": str(exc)})
            continue
        guests.append(guest)
        entry_of.append(i)
    result = fleet.stranded(guests)
    # what cannot be answered for a guest is its own problem (its reason names its CPU's source)
    unchecked += [{"guest": u.guest.name, "entry": entry_of[u.index], "reason": u.reason} for u in result.unchecked]
    unchecked.sort(key=lambda u: u["entry"])
    return result, unchecked


def _guest(row: object, name: str, where: str, base: Path, fleet: Fleet) -> Guest:
    if not isinstance(row, dict):
        raise InvalidInventory(f"expected an object {{name, host[, cpu]}}, not {json.dumps(row)[:40]}",
                               source=where)
    if isinstance(row, RepeatedKeys):
        raise InvalidInventory(f"gives {', '.join(map(repr, row.repeated))} twice", source=where)
    host = row.get("host")
    if not isinstance(host, str) or not host:
        raise InvalidInventory("has no host name (\"host\")", source=where)
    if host in fleet.failures:
        raise InvalidInventory(f"its host {host} is unreadable: {fleet.failures[host]}", source=where)
    if host not in fleet.class_of:
        raise InvalidInventory(f"its host {host} is not in the inventory", source=where)
    text = row.get("cpu")
    if text is None or text == "":
        return Guest(name, host, None)
    if not isinstance(text, str):
        raise InvalidInventory(f"cpu must be CPU XML or a file name, not {type(text).__name__}", source=where)
    if text.lstrip().startswith("<"):
        return Guest(name, host, parse_cpus(text, where, fleet.cpumap)[0])
    return Guest(name, host, read_cpus(base / text, fleet.cpumap)[0])

