"""QEMU's model list (query-cpu-definitions) read from recorded QMP replies."""
from __future__ import annotations

import json

import pytest

import cpucompat
from cpucompat.inputs.qmp import parse_qemu_models, read_qemu_models

DEFINITIONS = [{"name": "Haswell", "unavailable-features": ["hle", "rtm"], "static": False},
               {"name": "qemu64", "unavailable-features": []}]


def test_the_definitions_reply_is_found_among_other_replies():
    text = (json.dumps({"return": {"model": {"name": "base", "props": {}}}, "id": "model-expansion"})
            + "\n\n" + json.dumps({"return": DEFINITIONS, "id": "definitions"}, indent=2))
    models = parse_qemu_models(text, "replies.json")
    assert models.blockers == (("Haswell", ("hle", "rtm")), ("qemu64", ()))
    assert models.names == {"Haswell", "qemu64"}


def test_a_bare_list_is_the_reply_itself():
    assert parse_qemu_models(json.dumps(DEFINITIONS)).names == {"Haswell", "qemu64"}


@pytest.mark.parametrize("text, expect", [
    (json.dumps({"return": {"model": {"name": "host"}}}), "no QMP query-cpu-definitions reply"),
    ("{\"return\": [", "not QMP JSON"),
    (json.dumps([{"name": "Haswell", "unavailable-features": "hle"}]), "Haswell: unavailable-features"),
])
def test_other_input_is_refused_naming_it(text, expect):
    with pytest.raises(cpucompat.UnknownInputFormat, match=expect) as info:
        parse_qemu_models(text, "replies.json")
    assert str(info.value).startswith("replies.json: ")


def test_libvirts_recorded_replies_read(testdata_9):
    models = read_qemu_models(testdata_9 / "x86_64-cpuid-Core-i7-8700.json")
    assert "Skylake-Client-IBRS" in models.names
    assert dict(models.blockers)["phenom"] == ("mmxext", "fxsr-opt", "3dnowext", "3dnow", "sse4a", "npt")
