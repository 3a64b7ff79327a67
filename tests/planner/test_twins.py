"""One CPU on two libvirt releases: the planner keeps the classes apart and
says why (issue 12, item 4).

tests/data/twins/ holds what libvirt 9.0.0 and 11.3.0 report for the same
Xeon Platinum 8268 (each release's own tests/cputestdata expectation).
"""
from __future__ import annotations

import json
from pathlib import Path

from cpucompat.cli import main as cli
from cpucompat.engine.maps import resolve_map_spec
from cpucompat.inputs.parse import read_cpus
from cpucompat.planner.fleet import Fleet

TWINS = Path(__file__).resolve().parents[1] / "data" / "twins"
OLD, NEW = "xeon-8268-libvirt-9.0.0", "xeon-8268-libvirt-11.3.0"


def _fleet(version: str = "12.8.0") -> Fleet:
    cpumap = resolve_map_spec(version)
    return Fleet({path.stem: read_cpus(path, cpumap)[0] for path in sorted(TWINS.glob("*.xml"))}, cpumap)


def test_one_cpu_on_libvirt_9_0_0_and_11_3_0_is_two_classes_each_saying_why():
    fleet = _fleet()
    by_host = {c.hosts[0]: c for c in fleet.classes}
    older, newer = by_host[OLD], by_host[NEW]
    assert len(fleet.classes) == 2 and older.features & ~newer.features == 0
    (lacks,), (has,) = older.splits, newer.splits
    assert (lacks.twin, lacks.libvirt, lacks.lacks) == (newer.index, "9.0.0", True)
    assert (has.twin, has.libvirt, has.lacks) == (older.index, "9.0.0", False)
    assert lacks.features == has.features and "12.8.0" in lacks.cpu_map
    # every feature between them, and only those, with a reason the maps bear out
    judged, old_map = resolve_map_spec("12.8.0").x86, resolve_map_spec("9.0.0").x86
    assert {name for name, _ in lacks.features} == set(judged.names(newer.features & ~older.features))
    for name, why in lacks.features:
        if old_map.canonical_feature(name) is None:
            assert why == "libvirt 9.0.0's cpu_map does not name it"
        else:  # mpx: 9.0.0's Cascadelake-Server has it, 12.8.0's removed it from the model
            assert judged.model(older.cpu.model).removed & judged.feature(name).mask, name
            assert old_map.model(older.cpu.model).features & old_map.feature(name).mask, name
            assert why.startswith(f"part of {older.cpu.model} in libvirt 9.0.0's cpu_map")


def test_different_cpus_are_no_twins():
    cpumap = resolve_map_spec("12.8.0")
    skylake = read_cpus(Path(__file__).resolve().parents[1] / "data" / "inputs" / "amd-vm-capabilities.xml",
                        cpumap)[0]
    hosts = {path.stem: read_cpus(path, cpumap)[0] for path in TWINS.glob("*.xml")} | {"other": skylake}
    fleet = Fleet(hosts, cpumap)
    other = next(c for c in fleet.classes if c.hosts == ("other",))
    assert other.splits == ()
    assert all(split.twin != other.index for c in fleet.classes for split in c.splits)


def test_classes_command_prints_the_split_in_text_and_json(capsys):
    assert cli.main(["classes", str(TWINS)]) == 0
    text = capsys.readouterr().out
    assert "is split from" in text and "hosts on libvirt 9.0.0 do not show" in text and "12.8.0" in text
    assert cli.main(["classes", "--json", str(TWINS)]) == 0
    rows = {c["hosts"][0]: c for c in json.loads(capsys.readouterr().out)["classes"]}
    (split,) = rows[OLD]["split"]
    assert split["twin"] == rows[NEW]["class"] and split["lacks"] is True and split["libvirt"] == "9.0.0"
    assert {f["name"] for f in split["features"]} == set(rows[NEW]["features"]) - set(rows[OLD]["features"])
