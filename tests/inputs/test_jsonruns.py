"""Runs of rows decoded by orjson read exactly as the json module reads them:
same values, same keys given twice, same errors at the same places."""
from __future__ import annotations

import io
import json
import random
import tempfile
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import cpucompat
from cpucompat.inputs import jsonruns, jsonstream
from cpucompat.inputs.jsonruns import RunDecoder, SharedValue
from cpucompat.inputs.jsonstream import JsonStream, RepeatedKeys, mapping_of
from cpucompat.planner.inventory import load_inventory

CPUS = [{"arch": "x86_64", "model": model, "vendor": "Intel",
         "topology": {"cells": 1, "sockets": 2, "cores": 8, "threads": 2},
         "features": ["vmx", "invtsc", "pdpe1gb", "aes"][:n]}
        for model in ("Haswell-noTSX", "Nehalem", "Skylake-Server") for n in range(4)]

# rows that are odd in every way a run must not misread; runs read them
ODD = [
    lambda i, cpu: {"hypervisor_hostname": f"a:{i}", "cpu_info": cpu, "note": 'a "cpu_info": {} }, {'},
    lambda i, cpu: {"hypervisor_hostname": f"b{i}", "cells": [{"id": 0}, {"id": 1}], "cpu_info": cpu},
    lambda i, cpu: {"hypervisor_hostname": f"c\u00e9{i}\u2603", "cpu_info": json.dumps(cpu)},
    lambda i, cpu: {"hypervisor_hostname": f"d{i}", "wrapped": {"cpu_info": cpu}, "cpu_info": cpu},
    lambda i, cpu: {"hypervisor_hostname": f"f{i}", "cpu_info": dict(cpu, extra="x" * 200), "ratio": 1.5e300},
    lambda i, cpu: [i, "not a row", {"cpu_info": cpu}],
]
# rows orjson would read otherwise than the json module: the json module reads them
OTHERWISE = ['{"hypervisor_hostname": "twice-%d", "cpu_info": %s, "cpu_info": {}}',
         '{"hypervisor_hostname": "inner-%d", "cpu_info": %s, "x": {"a": 1, "a": 2}}',
         '{"hypervisor_hostname": "escaped-%d", "cpu_info": %s, "k\\u003a": 1, "k:": 2}',
         '{"hypervisor_hostname": "spelled-%d", "cpu_info": %s, "k\\u0062": 1, "kb": 2}',
         '{"hypervisor_hostname": "nul-%d", "cpu_info": %s, "v": ["\\u0000", 0]}',
         '{"hypervisor_hostname": "nan-%d", "cpu_info": %s, "v": NaN, "w": -Infinity}',
         '{"hypervisor_hostname": "big-%d", "cpu_info": %s, "v": 1000000000000000000000, "w": -9223372036854775809}']


def _dump(path: Path, rows: int, seed: int, odd: float, otherwise: float = 0.0) -> Path:
    """A compute_nodes dump of plain rows (in a layout json.dumps writes),
    with a share `odd` of ODD rows and `otherwise` of OTHERWISE ones."""
    rng = random.Random(seed)
    separator = rng.choice([",\n", ", ", ","])
    texts = []
    for i in range(rows):
        cpu = rng.choice(CPUS)
        if rng.random() < otherwise:
            texts.append(rng.choice(OTHERWISE) % (i, json.dumps(cpu)))
            continue
        row = (rng.choice(ODD)(i, cpu) if rng.random() < odd else
               {"id": i, "hypervisor_hostname": f"cmp-{i:06d}", "cpu_info": cpu, "deleted": 0})
        texts.append(json.dumps(row, indent=rng.choice([None, None, 1]),
                                separators=None if separator != "," else (",", ":")))
    path.write_text("[" + separator.join(texts) + "]")
    return path


def _streamed(path: Path) -> tuple[list[object], list[bool], int]:
    """The elements JsonStream reads, whether each was seen giving a key
    twice (anywhere in it), and how many elements orjson's runs gave."""
    values, twice, in_runs = [], [], 0
    with open(path, "rb") as handle:
        stream = JsonStream(handle, path, shared="cpu_info")
        assert stream.skip() == "["
        for ahead in stream.members("]"):
            if ahead is None:
                repeats = stream.repeats
                values.append(stream.value())
                twice.append(stream.repeats != repeats)
            else:
                values.extend(ahead)
                twice.extend([False] * len(ahead))
                in_runs += len(ahead)
    return values, twice, in_runs


def _repeated(value: object) -> list[tuple[str, ...]]:
    """The keys each object in `value` gave twice, in order."""
    if isinstance(value, dict):
        own = [value.repeated] if isinstance(value, RepeatedKeys) else []
        return own + [keys for member in value.values() for keys in _repeated(member)]
    if isinstance(value, list):
        return [keys for member in value for keys in _repeated(member)]
    return []


@pytest.mark.parametrize("seed", range(4))
@pytest.mark.parametrize(("odd", "otherwise"), [(0.0, 0.0), (0.3, 0.0), (0.3, 0.01), (0.1, 0.2)])
def test_runs_read_every_row_as_the_json_module_reads_it(tmp_path, seed, odd, otherwise):
    path = _dump(tmp_path / "dump.json", 3000, seed, odd, otherwise)
    expected = json.loads(path.read_text(), object_pairs_hook=mapping_of)
    values, twice, in_runs = _streamed(path)
    assert values == expected
    assert _repeated(values) == _repeated(expected)
    assert twice == [bool(_repeated(row)) for row in expected]
    if not otherwise:
        assert in_runs > len(expected) / 2  # most rows come in runs, odd ones too


def test_equal_cpu_info_texts_share_one_value_and_the_rest_are_their_own(tmp_path):
    path = _dump(tmp_path / "dump.json", 3000, 7, 0.0)
    values, _, _ = _streamed(path)
    infos = [row["cpu_info"] for row in values]
    shared = {id(info) for info in infos if type(info) is SharedValue}
    assert 0 < len(shared) <= 2 * len(CPUS) and sum(type(info) is SharedValue for info in infos) > 2500
    assert all(type(info) is SharedValue or type(info) is dict for info in infos)


def test_a_text_starting_as_a_learnt_one_is_read_as_its_own():
    decoder = RunDecoder("cpu_info")
    alike = [dict(CPUS[3], features=CPUS[3]["features"][:3] + [last]) for last in ("aes", "sse4_2", "avx")]

    def rows_of(cpus: list[dict[str, object]], first: int) -> tuple[str, list[dict[str, object]]]:
        rows = [{"hypervisor_hostname": f"cmp-{first + i}", "cpu_info": cpu} for i, cpu in enumerate(cpus)]
        return ", ".join(map(json.dumps, rows)) + ", {}]", rows

    for first, cpus in enumerate(([alike[0]] * 500, [alike[0], alike[1]] * 250, [alike[2], alike[1], alike[0]] * 200)):
        text, rows = rows_of(cpus, 1000 * first)
        decoded = decoder.decode(text.encode(), 0)
        assert decoded is not None
        values, end = decoded
        assert values == rows[:len(values)] and len(values) > 100 and text[end:end + 2] == ", "
        assert all(type(row["cpu_info"]) is SharedValue for row in values)
        assert len({id(row["cpu_info"]) for row in values}) == len(set(map(json.dumps, cpus)))


def test_a_huge_integer_in_a_shared_value_read_again_deeper_in_a_row_stays_exact(tmp_path, monkeypatch):
    cpu = dict(CPUS[5], serial=123456789012345678901234567890)
    rows = [{"hypervisor_hostname": f"cmp-{i}", "cpu_info": cpu} for i in range(400)]
    rows[150] = {"hypervisor_hostname": "wrapped", "wrapped": {"cpu_info": cpu}, "cpu_info": cpu}
    path = tmp_path / "dump.json"
    path.write_text(json.dumps(rows))
    monkeypatch.setattr(jsonruns, "_RUN", 1000)
    monkeypatch.setattr(jsonruns, "RUN_MOST", 4000)
    monkeypatch.setattr(jsonstream, "RUN_MOST", 4000)  # the json module reads a refused run up to there
    values, _, in_runs = _streamed(path)
    assert values == rows and in_runs > 300
    assert all(type(row["cpu_info"]["serial"]) is int for row in values)


@pytest.mark.parametrize("number", [10 ** 19, -(2 ** 63) - 1, 2 ** 64, 10 ** 30])
def test_an_integer_past_64_bits_in_a_flat_row_stays_exact(tmp_path, number):
    rows = [{"id": i, "hypervisor_hostname": f"cmp-{i}", "cpu_info": CPUS[i % 12], "deleted": 0} for i in range(2000)]
    rows[1234]["id"] = number
    path = tmp_path / "dump.json"
    path.write_text(json.dumps(rows))
    values, _, in_runs = _streamed(path)
    assert values == rows and type(values[1234]["id"]) is int and in_runs > 1000


def test_a_run_is_cut_only_between_rows_whatever_the_strings_hold():
    # names of several-byte characters too: the run is cut, and its end given, in the file's bytes
    rows = [json.dumps({"name": f'{i}"}}, {{"x": 1}}, {{ hôte-€-𝄞', "cells": [{"id": 0}, {"id": 1}],
                        "cpu_info": CPUS[0]}, ensure_ascii=False) for i in range(200)]
    data = (", ".join(rows) + "]").encode()
    decoded = RunDecoder("cpu_info").decode(data, 0)
    assert decoded is not None
    values, end = decoded
    assert values == [json.loads(row) for row in rows[:len(values)]] and data[end:end + 3] == b', {'
    assert end == sum(len(row.encode()) + 2 for row in rows[:len(values)]) - 2


def test_a_key_given_twice_deep_in_a_large_dump_is_that_hosts_reason(tmp_path):
    rows = [json.dumps({"hypervisor_hostname": f"cmp-{i}", "cpu_info": CPUS[i % len(CPUS)]}) for i in range(5000)]
    rows[3001] = '{"hypervisor_hostname": "cmp-3001", "cpu_info": %s, "cpu_info": {}}' % json.dumps(CPUS[0])
    rows[4002] = rows[4002].replace('"model"', '"vendor": "AMD", "model"').replace('"vendor": "Intel", ', '"vendor": "Intel", "vendor": "X", ')
    path = tmp_path / "dump.json"
    path.write_text("[" + ",\n".join(rows) + "]")
    inventory = load_inventory(path)
    assert set(inventory.failures) == {"cmp-3001", "cmp-4002"}
    assert "gives 'cpu_info' twice" in inventory.failures["cmp-3001"]
    assert "gives 'vendor' twice" in inventory.failures["cmp-4002"]
    assert len(inventory.hosts) == 4998


@pytest.mark.parametrize("broken", ['"cpu_info": {"a" 1}', '"cpu_info": tru', '"cpu_info": {"a": "\\x"}'])
def test_invalid_json_deep_in_a_large_dump_is_placed_as_json_places_it(tmp_path, broken):
    rows = [json.dumps({"hypervisor_hostname": f"cmp-{i}", "cpu_info": CPUS[i % len(CPUS)]}) for i in range(5000)]
    rows[3333] = '{"hypervisor_hostname": "cmp-3333", %s}' % broken
    path = tmp_path / "dump.json"
    path.write_text("[" + ",\n".join(rows) + "]")
    with pytest.raises(ValueError) as expected:
        json.loads(path.read_text())
    with pytest.raises(cpucompat.InvalidInventory) as error:
        load_inventory(path)
    assert str(error.value).startswith(f"{path}: invalid JSON in row 3333: ")
    assert str(error.value).endswith(str(expected.value).rsplit(": ", 1)[1])


# Small runs (a few rows each) and short shared texts, so that generated
# files have many runs, many cuts inside rows and many shared values.
KEYS = st.sampled_from(["cpu_info", "id", "a", "k:", "x\\", 'q"', "\u00e9", "cpu_info\x00", ""])
def _rarely(usual: st.SearchStrategy, rare: st.SearchStrategy) -> st.SearchStrategy:
    """`usual`, and one time in ten `rare` (which makes a run the json module's)."""
    return st.integers(0, 9).flatmap(lambda n: rare if n == 0 else usual)


TEXTS = _rarely(st.text(st.sampled_from('ab:,{}[]"\\ \n\u00e9\u2603\U0001f600'), max_size=12),
                st.text(st.sampled_from("a:\x00"), max_size=4))
VALUES = st.recursive(
    st.none() | st.booleans() | _rarely(st.integers(-1000, 1000), st.integers(-(2 ** 70), 2 ** 70))
    | st.floats(allow_nan=False) | TEXTS,
    lambda inner: st.lists(inner, max_size=4) | st.lists(st.tuples(KEYS, inner), max_size=4),
    max_leaves=12)


def _text(value, rng: random.Random) -> str:
    """`value` as JSON, pairs as objects (which may repeat a key), in a random layout."""
    if isinstance(value, list) and value and all(isinstance(v, tuple) for v in value):
        blank = rng.choice(["", " ", "\n "])
        return "{" + f",{blank}".join(json.dumps(k, ensure_ascii=rng.random() < 0.5) + f"{blank}:{blank}"
                                      + _text(v, rng) for k, v in value) + "}"
    if isinstance(value, list):
        return "[" + ", ".join(_text(v, rng) for v in value) + "]"
    return json.dumps(value, ensure_ascii=rng.random() < 0.5)


@settings(max_examples=150, deadline=None)
@given(st.lists(st.lists(st.tuples(KEYS, VALUES), max_size=5), min_size=1, max_size=40),
       st.lists(VALUES.filter(lambda v: isinstance(v, list)), min_size=1, max_size=3), st.randoms())
def test_runs_read_any_rows_as_the_json_module_reads_them(rows, shared, rng):
    texts = [_text(value, rng) for value in shared]
    parts = []
    for row in rows:
        members = [json.dumps(k) + ": " + _text(v, rng) for k, v in row]
        members.insert(rng.randrange(len(members) + 1), '"cpu_info": ' + rng.choice(texts))
        parts.append("{" + ", ".join(members) + "}")
    text = "[" + rng.choice([",", ", ", ",\n"]).join(parts) + "]"
    expected = json.loads(text, object_pairs_hook=mapping_of)
    with tempfile.TemporaryDirectory() as tmp, pytest.MonkeyPatch.context() as patch:
        patch.setattr(jsonruns, "_RUN", 16)
        patch.setattr(jsonruns, "RUN_MOST", 256)
        patch.setattr(jsonstream, "RUN_MOST", 256)  # a failed run is read by the json module up to there
        patch.setattr(jsonruns, "_HEAD", 2)
        path = Path(tmp) / "rows.json"
        path.write_text(text)
        values, twice, _ = _streamed(path)
    assert values == expected
    assert _repeated(values) == _repeated(expected)
    for row, seen in zip(parts, twice):  # even an object a repeated key's value drops is seen
        noted: list[bool] = []
        json.loads(row, object_pairs_hook=lambda pairs: mapping_of(pairs, noted))
        assert seen == bool(noted)


def test_a_row_past_the_limit_among_runs_is_passed_over_and_the_rest_read(tmp_path):
    rows = [json.dumps({"hypervisor_hostname": f"cmp-{i}", "cpu_info": CPUS[i % len(CPUS)]}) for i in range(6000)]
    rows[3000] = json.dumps({"hypervisor_hostname": "big", "cpu_info": CPUS[0], "note": "}, {" * (1 << 19)})
    path = tmp_path / "dump.json"
    path.write_text("[" + ",\n".join(rows) + "]")
    inventory = load_inventory(path)
    assert list(inventory.failures) == ["<row 3000>"]
    assert "larger than 1 MiB of text, not read" in inventory.failures["<row 3000>"]
    assert len(inventory.hosts) == 5999 and "cmp-2999" in inventory.hosts and "cmp-3001" in inventory.hosts


# Names and cpu_info texts of several-byte characters (2, 3 and 4 bytes in UTF-8), written as they are
WIDE = ["h\u00f4te", "\u20ac", "\U0001d11e", "\u96fb\u8166"]


def _wide_rows(count: int) -> list[dict[str, object]]:
    return [{"id": i, "hypervisor_hostname": f"{WIDE[i % 4]}-{i}", "deleted": 0,
             "cpu_info": dict(CPUS[i % len(CPUS)], model=f"{WIDE[i % 3]}-{CPUS[i % len(CPUS)]['model']}")}
            for i in range(count)]


@pytest.mark.parametrize("chunk", [4099, 1 << 22])  # chunk ends cutting characters, or none
def test_several_byte_characters_in_names_and_shared_values_are_read_in_runs(tmp_path, monkeypatch, chunk):
    rows = _wide_rows(3000)
    path = tmp_path / "dump.json"
    path.write_text(json.dumps(rows, ensure_ascii=False), encoding="utf-8")
    monkeypatch.setattr(JsonStream, "chunk", chunk)
    values, _, in_runs = _streamed(path)
    assert values == rows and in_runs > 2000
    assert sum(type(row["cpu_info"]) is SharedValue for row in values) > 2000


@pytest.mark.parametrize("separator", [",\n", ", "])
@pytest.mark.parametrize("broken", ['"cpu_info": {"a" 1}', '"cpu_info": tru', '"x": "\\u00e9", "y" 2'])
def test_an_error_after_several_byte_characters_is_placed_in_characters(tmp_path, monkeypatch, separator, broken):
    rows = [json.dumps(row, ensure_ascii=False) for row in _wide_rows(3000)]
    rows[2500] = '{"hypervisor_hostname": "\u20ac-\U0001d11e", %s}' % broken
    path = tmp_path / "dump.json"
    path.write_text("[" + separator.join(rows) + "]", encoding="utf-8")
    monkeypatch.setattr(JsonStream, "chunk", 4099)  # many reads before the error, each dropping some characters
    with pytest.raises(ValueError) as expected:
        json.loads(path.read_text(encoding="utf-8"))
    with pytest.raises(cpucompat.InvalidInventory) as error:
        load_inventory(path)
    assert str(error.value).startswith(f"{path}: invalid JSON in row 2500: ")
    assert str(error.value).endswith(str(expected.value).rsplit(": ", 1)[1])


@pytest.mark.parametrize("where", ["name", "cpu_info", "between", "end"])
def test_bytes_not_utf8_inside_a_run_are_refused_naming_the_byte(tmp_path, where):
    data = bytearray(json.dumps(_wide_rows(3000), ensure_ascii=False).encode())
    at = {"name": data.index("\u20ac-2001".encode()) + 1,  # inside a three-byte character
          "cpu_info": data.index(b'"features"', len(data) // 2),
          "between": data.index(b"}}, {", len(data) // 3) + 3,
          "end": len(data) - 1}[where]
    data[at] = 0xFF if where != "end" else 0xE2  # at the end: a character cut short
    path = tmp_path / "dump.json"
    path.write_bytes(bytes(data) if where != "end" else bytes(data[:at + 1]))
    with pytest.raises(ValueError):
        bytes(data).decode()
    with pytest.raises(cpucompat.UnknownInputFormat) as error:
        load_inventory(path)
    named = at - 1 if where == "name" else at  # a character cut short is named by its first byte
    assert str(error.value) == f"{path}: not UTF-8 text (byte {named})"


class _Unseekable(io.BytesIO):
    """A file that cannot be read again (a pipe): the stream counts as it drops."""

    def seekable(self) -> bool:
        return False


@pytest.mark.parametrize("seekable", [True, False])
def test_an_error_is_placed_alike_whether_the_file_can_be_read_again(tmp_path, monkeypatch, seekable):
    rows = [json.dumps(row, ensure_ascii=False) for row in _wide_rows(3000)]
    rows[2700] = '{"hypervisor_hostname": "\u20ac", "cpu_info": {"a" 1}}'
    text = "[" + ",\n ".join(rows) + "]"
    path = tmp_path / "dump.json"
    path.write_text(text, encoding="utf-8")
    monkeypatch.setattr(JsonStream, "chunk", 4099)
    with pytest.raises(ValueError) as expected:
        json.loads(text)
    with open(path, "rb") as file, pytest.raises(cpucompat.InvalidInventory) as error:
        handle = file if seekable else _Unseekable(file.read())
        stream = JsonStream(handle, path, shared="cpu_info")  # type: ignore[arg-type]
        stream.skip()
        for ahead in stream.members("]"):
            if ahead is None:
                stream.value()
    assert str(error.value).endswith(str(expected.value).rsplit(": ", 1)[1])


@pytest.mark.parametrize("broken", [False, True])
def test_a_row_past_the_limit_after_several_byte_characters_is_placed_in_characters(tmp_path, broken):
    rows = [json.dumps({"hypervisor_hostname": f"{WIDE[i % 4]}-{i}", "cpu_info": CPUS[i % len(CPUS)]},
                       ensure_ascii=False) for i in range(3000)]
    big = {"hypervisor_hostname": "big", "cpu_info": CPUS[0], "note": "\u00e9" * (1 << 20)}
    rows[2000] = json.dumps(big, ensure_ascii=False)
    text = "[" + ",\n".join(rows) + "]"
    data = bytearray(text.encode())
    at = data.index(b'"note": "') + 9 + 2 * 50_000 + 1  # inside the note: the second byte of an '\u00e9'
    if broken:
        data[at] = 0x41
    path = tmp_path / "dump.json"
    path.write_bytes(bytes(data))
    if broken:  # bytes passed over unread are checked too
        with pytest.raises(cpucompat.UnknownInputFormat) as error:
            load_inventory(path)
        assert str(error.value) == f"{path}: not UTF-8 text (byte {at - 1})"
        return
    inventory = load_inventory(path)
    char = text.index(rows[2000])
    place = f"(line 2001 column 1, char {char})"
    assert list(inventory.failures) == ["<row 2000>"] and place in inventory.failures["<row 2000>"]
    assert len(inventory.hosts) == 2999


def _members_streamed(path: Path) -> list[tuple[str, object, bool]]:
    """The members of the object JsonStream reads (in runs where it can),
    each with whether it was seen giving a key twice (anywhere in it)."""
    members = []
    with open(path, "rb") as handle:
        stream = JsonStream(handle, path)
        assert stream.skip() == "{"
        for _ in stream.members("}"):
            ahead = stream.member_run(("a",))  # a run holding member "a" is read one by one
            if ahead is not None:
                assert "a" not in ahead
                members.extend((key, value, False) for key, value in ahead.items())
                continue
            key = stream.key()
            repeats = stream.repeats
            members.append((key, stream.value(), stream.repeats != repeats))
    return members


@settings(max_examples=150, deadline=None)
@given(st.lists(st.tuples(_rarely(st.integers(0, 10 ** 6).map(str), KEYS), VALUES), min_size=1, max_size=60),
       st.randoms())
def test_member_runs_read_any_object_as_the_json_module_reads_it(members, rng):
    texts = [(json.dumps(key, ensure_ascii=rng.random() < 0.5), _text(value, rng)) for key, value in members]
    text = "{" + rng.choice([",", ", ", ",\n "]).join(f"{key}: {value}" for key, value in texts) + "}"
    expected = [(json.loads(key), json.loads(value, object_pairs_hook=mapping_of)) for key, value in texts]
    with tempfile.TemporaryDirectory() as tmp, pytest.MonkeyPatch.context() as patch:
        patch.setattr(jsonruns, "_RUN", 16)
        patch.setattr(jsonruns, "RUN_MOST", 256)
        patch.setattr(jsonstream, "RUN_MOST", 256)  # a failed run is read by the json module up to there
        path = Path(tmp) / "mapping.json"
        path.write_text(text)
        streamed = _members_streamed(path)
    # every member, a key given twice too, in order; integers stay integers
    assert [(key, value) for key, value, _ in streamed] == expected
    assert json.dumps([value for _, value, _ in streamed]) == json.dumps([value for _, value in expected])
    for (_, value), (_, _, seen) in zip(texts, streamed):  # even an object a repeated key's value drops is seen
        noted: list[bool] = []
        json.loads(value, object_pairs_hook=lambda pairs: mapping_of(pairs, noted))
        assert seen == bool(noted)


@pytest.mark.parametrize("number", [10 ** 21 + 1, -(2 ** 64) - 1, 12345678901234567890])
def test_an_integer_past_64_bits_among_member_runs_stays_exact(tmp_path, number):
    members = {f"h-{i}": {"n": i, "cpu": CPUS[i % len(CPUS)]} for i in range(3000)}
    members["h-2000"]["n"] = number
    path = tmp_path / "mapping.json"
    path.write_text(json.dumps(members))
    streamed = _members_streamed(path)
    assert [(key, value) for key, value, _ in streamed] == list(members.items())
    assert type(streamed[2000][1]["n"]) is int and streamed[2000][1]["n"] == number
