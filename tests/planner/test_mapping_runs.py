"""A mapping of host names to CPUs read in runs of whole members (orjson)
gives the very hosts and failures that reading it member by member (the
json module) gives, and keeps every failure a member can have."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from cpucompat.inputs.jsonstream import JsonStream
from cpucompat.planner.inventory import DUPLICATE, load_inventory

MODELS = ("Haswell-noTSX", "Nehalem", "Skylake-Server")
CPU_INFOS = [{"arch": "x86_64", "model": model, "vendor": "Intel", "features": ["vmx", "aes"][:n]}
             for model in MODELS for n in range(3)]
# names of several-byte characters (2, 3 and 4 bytes in UTF-8), written as they are
WIDE = ["h\u00f4te", "\u20ac", "\U0001d11e", "\u96fb\u8166"]


def _files(directory: Path) -> list[str]:
    """A CPU file for each model: the texts a mapping names."""
    names = []
    for model in MODELS:
        (directory / f"{model}.xml").write_text(
            f"<cpu><arch>x86_64</arch><model>{model}</model><vendor>Intel</vendor></cpu>")
        names.append(f"{model}.xml")
    return names


def _write(path: Path, members: list[tuple[str, str]]) -> Path:
    """An object of `members`, each (name, value's JSON), names written as they are."""
    path.write_text("{" + ",\n ".join(f"{json.dumps(name, ensure_ascii=False)}: {value}" for name, value in members)
                    + "}", encoding="utf-8")
    return path


def _read(path: Path, monkeypatch: pytest.MonkeyPatch, runs: bool) -> tuple[dict[str, object], dict[str, str], int]:
    """Hosts, failures and how many members runs gave, with runs taken or
    (`runs` False) every member read by the json module."""
    taken = []
    member_run = JsonStream.member_run

    def counted(stream: JsonStream, refused: tuple[str, ...] = ()) -> dict[str, object] | None:
        ahead = member_run(stream, refused) if runs else None
        taken.append(len(ahead) if ahead is not None else 0)
        return ahead

    with monkeypatch.context() as patched:
        patched.setattr(JsonStream, "member_run", counted)
        inventory = load_inventory(path)
    return ({name: repr(cpu) for name, cpu in inventory.hosts.items()}, dict(inventory.failures), sum(taken))


def _alike(path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[dict[str, object], dict[str, str], int]:
    """What runs read, checked to be what the json module reads member by member."""
    hosts, failures, in_runs = _read(path, monkeypatch, True)
    assert _read(path, monkeypatch, False)[:2] == (hosts, failures)
    assert list(hosts) == list(_read(path, monkeypatch, False)[0])  # in the file's order too
    return hosts, failures, in_runs


@pytest.mark.parametrize("chunk", [4099, 1 << 22])  # chunk ends cutting characters, or none
def test_a_mapping_of_several_byte_names_is_read_in_runs_as_member_by_member(tmp_path, monkeypatch, chunk):
    files = _files(tmp_path)
    members = [(f"{WIDE[i % 4]}-{i}", json.dumps(files[i % 3])) for i in range(6000)]
    members[10] = ("missing", '"nowhere.xml"')  # a failure among the runs
    monkeypatch.setattr(JsonStream, "chunk", chunk)
    hosts, failures, in_runs = _alike(_write(tmp_path / "fleet.json", members), monkeypatch)
    assert len(hosts) == 5999 and list(failures) == ["missing"] and in_runs > 4000
    assert hosts[f"{WIDE[1]}-5997"] == hosts[f"{WIDE[0]}-0"]  # both Haswell-noTSX.xml


@pytest.mark.parametrize("twice", [(3001, 3000), (15500, 7)])  # inside one run, across runs
def test_a_name_given_twice_in_runs_is_a_duplicate_never_lost(tmp_path, monkeypatch, twice):
    files = _files(tmp_path)
    members = [(f"host-{i:05d}", json.dumps(files[i % 3])) for i in range(20000)]
    again, first = twice
    members[again] = (members[first][0], json.dumps(files[(first + 1) % 3]))  # another CPU than the first's
    path = _write(tmp_path / "fleet.json", members)
    hosts, failures, in_runs = _alike(path, monkeypatch)
    assert failures == {f"host-{first:05d} (duplicate, {path})": DUPLICATE} and in_runs > 10000
    assert len(hosts) == 19999 and hosts[f"host-{first:05d}"] == hosts[f"host-{first + 3:05d}"]  # the first kept


def test_a_member_past_the_limit_inside_a_run_is_passed_over_and_the_rest_read(tmp_path, monkeypatch):
    files = _files(tmp_path)
    members = [(f"host-{i:05d}", json.dumps(files[i % 3])) for i in range(6000)]
    members[3000] = ("big", json.dumps({"model": '", "x": "' * (1 << 18)}))  # cuts everywhere inside it
    hosts, failures, in_runs = _alike(_write(tmp_path / "fleet.json", members), monkeypatch)
    assert list(failures) == ["big"] and "larger than 1 MiB of text, not read" in failures["big"]
    assert len(hosts) == 5999 and "host-02999" in hosts and "host-03001" in hosts and in_runs > 4000


def test_a_mapping_of_cpu_info_objects_shares_one_cpu_a_description(tmp_path, monkeypatch):
    members = [(f"cmp-{i}", json.dumps(CPU_INFOS[i % len(CPU_INFOS)])) for i in range(5000)]
    members[4000] = ("twice", '{"arch": "x86_64", "model": "Nehalem", "vendor": "Intel", "model": "Nehalem"}')
    path = _write(tmp_path / "fleet.json", members)
    hosts, failures, in_runs = _alike(path, monkeypatch)
    assert list(failures) == ["twice"] and "gives 'model' twice" in failures["twice"] and in_runs > 3000
    cpus = load_inventory(path).hosts
    assert len({id(cpu) for cpu in cpus.values()}) == len(CPU_INFOS)  # each description parsed once


def test_one_hypervisor_show_with_many_keys_is_one_host_not_runs(tmp_path, monkeypatch):
    members = [("hypervisor_hostname", '"cmp-1"'), ("cpu_info", json.dumps(CPU_INFOS[4]))]
    members += [(f"extra_{i}", json.dumps(f"value {i}")) for i in range(5000)]  # far past a run's length
    hosts, failures, in_runs = _alike(_write(tmp_path / "show.json", members), monkeypatch)
    assert list(hosts) == ["cmp-1"] and not failures and in_runs == 0


def test_a_wrapper_deep_in_a_mapping_is_read_as_one_and_the_rest_reported_beside(tmp_path, monkeypatch):
    files = _files(tmp_path)
    members = [(f"host-{i:05d}", json.dumps(files[i % 3])) for i in range(6000)]
    members[5000] = ("hosts", json.dumps({"inner": files[0]}))
    hosts, failures, _ = _alike(_write(tmp_path / "fleet.json", members), monkeypatch)
    assert list(hosts) == ["inner"] and len(failures) == 5999
    assert "beside 'hosts', which holds this file's hosts: not read" in failures["host-00000"]


@pytest.mark.parametrize("broken", [b'"x" "cpu0.xml"', b'"x": "cpu0.xml}', b"}"])
def test_an_error_just_after_a_run_names_the_member_before_it(tmp_path, monkeypatch, broken):
    files = _files(tmp_path)
    path = _write(tmp_path / "fleet.json", [(f"{WIDE[i % 4]}-{i}", json.dumps(files[i % 3])) for i in range(6000)])
    ends = []
    member_run = JsonStream.member_run

    def noted(stream: JsonStream, refused: tuple[str, ...] = ()) -> dict[str, object] | None:
        ahead = member_run(stream, refused)
        if ahead is not None:
            ends.append(stream.dropped + stream.pos)
        return ahead

    with monkeypatch.context() as patched:
        patched.setattr(JsonStream, "member_run", noted)
        load_inventory(path)
    data = path.read_bytes()
    at = data.index(b'"', ends[0])  # the key of the member after the first run
    path.write_bytes(data[:at] + broken + data[data.index(b",", at):])
    messages = []
    for runs in (True, False):
        with monkeypatch.context() as patched:
            if not runs:
                patched.setattr(JsonStream, "member_run", lambda stream, refused=(): None)
            with pytest.raises(ValueError) as error:
                load_inventory(path)
        messages.append(str(error.value))
    assert messages[0] == messages[1] and "invalid JSON" in messages[0]
