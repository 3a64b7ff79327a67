"""QEMU's CPU model list (QMP ``query-cpu-definitions``) as a value.

libvirt's QEMU driver decodes the host-model CPU against the models QEMU
offers, not every model of the map, and disables each model's blockers
(QEMU's ``unavailable-features``) that the host lacks
(virQEMUCapsInitHostCPUModel → x86Decode / x86DataToCPU).  The reader takes
a recorded QMP reply, as libvirt's tests/cputestdata ``*.json`` holds it.
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from ..engine.cpu import HypervisorModels
from ..display import shown
from ..errors import UnknownInputFormat
from .parse import read_text

__all__ = ["read_qemu_models", "parse_qemu_models"]


def read_qemu_models(path: str | Path) -> HypervisorModels:
    """The ``query-cpu-definitions`` reply in a file of QMP replies."""
    return parse_qemu_models(read_text(path), str(path))


def parse_qemu_models(text: str, source: str = "<input>") -> HypervisorModels:
    """The models of a ``query-cpu-definitions`` reply.

    `text` is one or more QMP replies (``{"return": ...}``) one after the
    other, or the bare list the reply returns; the first list of objects
    with a ``name`` is taken.
    """
    for reply in _json_values(text, source):
        definitions = reply.get("return") if isinstance(reply, dict) else reply
        if isinstance(definitions, list) and definitions and all(
                isinstance(d, dict) and isinstance(d.get("name"), str) for d in definitions):
            return HypervisorModels(tuple((d["name"], _blockers(d, source)) for d in definitions),
                                    source=source, unusable=frozenset(
                                        d["name"] for d in definitions if "unavailable-features" not in d))
    raise UnknownInputFormat("holds no QMP query-cpu-definitions reply (a list of CPU models)", source=source)


def _blockers(definition: dict[str, Any], source: str) -> tuple[str, ...]:
    blockers = definition.get("unavailable-features", [])
    if not isinstance(blockers, list) or not all(isinstance(b, str) for b in blockers):
        raise UnknownInputFormat(f"CPU model {shown(definition['name'])}: unavailable-features is not a list of names",
                                 source=source)
    return tuple(blockers)


def _json_values(text: str, source: str) -> list[Any]:
    decoder = json.JSONDecoder()
    values: list[Any] = []
    position = 0
    while True:
        while position < len(text) and text[position].isspace():
            position += 1
        if position >= len(text):
            return values
        try:
            value, position = decoder.raw_decode(text, position)
        except json.JSONDecodeError as exc:
            raise UnknownInputFormat(f"not QMP JSON: {exc.msg} (line {exc.lineno})", source=source) from None
        except ValueError:  # an integer of thousands of digits
            raise UnknownInputFormat("not QMP JSON: holds an integer too long to read", source=source) from None
        except RecursionError:  # thousands of nested brackets
            raise UnknownInputFormat("not QMP JSON: nested too deeply to be read", source=source) from None
        values.append(value)
