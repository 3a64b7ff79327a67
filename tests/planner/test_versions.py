"""Fleets newer than the map and fleets of mixed libvirt releases: one path
for hosts whose model the map does not know (engine.hostcpu), per-host
reasons, and classes across releases."""
from __future__ import annotations

import pytest

import cpucompat
from cpucompat.engine.maps import resolve_map_spec
from cpucompat.inputs.parse import parse_cpu_info, parse_cpus, read_cpuid_dumps
from cpucompat.errors import UnknownModel
from cpucompat.engine.hostcpu import readable_host
from cpucompat.nova.hostcpu import _host_cpu
from cpucompat.planner.fleet import Fleet


def _spr_cpu_info() -> dict:
    """Nova's cpu_info of a Sapphire Rapids compute on libvirt 12.8.0: its
    model and libvirt's EXPAND_FEATURES list."""
    newest = resolve_map_spec("12.8.0")
    cpu = parse_cpus("<cpu><arch>x86_64</arch><model>SapphireRapids</model><vendor>Intel</vendor></cpu>",
                     "spr", newest)[0]
    return {"arch": "x86_64", "model": "SapphireRapids", "vendor": "Intel",
            "features": list(cpucompat.expand(cpu, newest).expanded)}


def test_a_cpu_info_model_newer_than_the_map_is_decoded_from_its_features_as_the_filter_does():
    old = resolve_map_spec("9.0.0")
    info = _spr_cpu_info()
    cpu = parse_cpu_info(info, "spr-1", old)
    # libvirt 9.0.0's cpuDecode names these bits Broadwell-IBRS (FINDINGS-12 §5, checked with its oracle)
    assert cpu.model == "Broadwell-IBRS"
    assert {"fsrc", "fsrs", "fzrm"} <= cpu.unknown_features
    assert _host_cpu(info, old).cpu.model == cpu.model  # the filter reads it the same way


def test_a_fleet_of_hosts_newer_than_the_map_is_read_whole():
    info = _spr_cpu_info()
    for version in ("9.0.0", "11.3.0", "12.8.0"):
        cpumap = resolve_map_spec(version)
        fleet = Fleet({name: parse_cpu_info(info, name, cpumap) for name in ("spr-1", "spr-2")}, cpumap)
        assert not fleet.failures
        assert [c.hosts for c in fleet.classes] == [("spr-1", "spr-2")]


def test_capabilities_xml_of_a_model_newer_than_the_map_is_refused_naming_each_host_and_a_newer_map():
    old = resolve_map_spec("9.0.0")
    xml = "<cpu><arch>x86_64</arch><model>SapphireRapids</model><vendor>Intel</vendor><feature name='vmx'/></cpu>"
    hosts = {name: parse_cpus(xml, "spr-1", old)[0] for name in ("spr-1", "spr-2")}  # one parsed CPU, as cached
    fleet = Fleet(hosts, old)
    assert not fleet.classes
    for name in ("spr-1", "spr-2"):
        reason = fleet.failures[name]
        assert "spr-1" not in reason  # no other host's name in its reason
        assert "'SapphireRapids' is newer than cpu_map libvirt 9.0.0" in reason
        assert "--cpu-map 11.3.0" in reason
    with pytest.raises(UnknownModel, match="lists only the features beyond its model"):
        readable_host(hosts["spr-1"], old, lists_all_features=False)


def _cascadelake_cpu_infos(dump_path) -> dict[str, dict]:
    """The cpu_info of one Xeon Platinum 8268 as libvirt 9.0.0, 11.3.0 and
    12.8.0 computes report it (host decode, then EXPAND_FEATURES)."""
    dump = read_cpuid_dumps(dump_path)[0]
    infos = {}
    for version in ("9.0.0", "11.3.0", "12.8.0"):
        cpumap = resolve_map_spec(version)
        host = cpucompat.decode(dump, cpumap)
        infos[version] = {"arch": "x86_64", "model": host.model, "vendor": host.vendor,
                          "features": list(cpucompat.expand(host.as_cpu(), cpumap).expanded)}
    return infos


@pytest.fixture(scope="module")
def cascadelake(testdata_11):
    return _cascadelake_cpu_infos(testdata_11 / "x86_64-cpuid-Xeon-Platinum-8268.xml")


def test_one_cpu_named_by_different_releases_aliases_is_one_class(cascadelake):
    # libvirt >= 10.10 names host CPUs by their -vN alias (NEWS 10.10.0
    # "versioned CPU models"); 12.8.0 also filters ht from cpu_info (R1)
    assert cascadelake["9.0.0"]["model"] == "Cascadelake-Server"
    assert cascadelake["11.3.0"]["model"] == "Cascadelake-Server-v1"
    assert "ht" in cascadelake["11.3.0"]["features"] and "ht" not in cascadelake["12.8.0"]["features"]
    # a 9.0.0 compute exposing what the 11.3.0 one does, under its own model name
    same = dict(cascadelake["11.3.0"], model="Cascadelake-Server")
    for judge in ("11.3.0", "12.8.0"):
        cpumap = resolve_map_spec(judge)
        hosts = {"on-9.0.0": parse_cpu_info(same, "on-9.0.0", cpumap),
                 "on-11.3.0": parse_cpu_info(cascadelake["11.3.0"], "on-11.3.0", cpumap),
                 "on-12.8.0": parse_cpu_info(cascadelake["12.8.0"], "on-12.8.0", cpumap)}
        fleet = Fleet(hosts, cpumap)
        assert [c.hosts for c in fleet.classes] == [("on-11.3.0", "on-12.8.0", "on-9.0.0")]


def test_the_same_silicon_on_an_older_libvirt_that_cannot_expose_features_is_a_class_of_its_own(cascadelake):
    # libvirt 9.0.0's map cannot name zero-fcs-fds, fdp-excptn-only, flush-l1d
    # for this CPU: a guest cannot get them there
    missing = set(cascadelake["11.3.0"]["features"]) - set(cascadelake["9.0.0"]["features"])
    assert missing == {"zero-fcs-fds", "fdp-excptn-only", "flush-l1d"}
    cpumap = resolve_map_spec("12.8.0")
    hosts = {f"on-{v}": parse_cpu_info(info, f"on-{v}", cpumap) for v, info in cascadelake.items()}
    fleet = Fleet(hosts, cpumap)
    assert [c.hosts for c in fleet.classes] == [("on-9.0.0",), ("on-11.3.0", "on-12.8.0")]
    # judged with 9.0.0's map, which cannot name them either, all three are one class
    old = resolve_map_spec("9.0.0")
    fleet = Fleet({f"on-{v}": parse_cpu_info(info, f"on-{v}", old) for v, info in cascadelake.items()}, old)
    assert len(fleet.classes) == 1


def test_unknown_features_are_counted_per_host_whether_hosts_share_a_value_or_not():
    """Names the map cannot tell are no part of a Cpu's equality: hosts whose
    values are equal but name different unknown features are one class, each
    host counted with its own names; hosts sharing one value each count once."""
    old = resolve_map_spec("9.0.0")
    info = _spr_cpu_info()
    shared = parse_cpu_info(info, "spr-1", old)
    plain = parse_cpu_info({**info, "features": [f for f in info["features"] if f != "fzrm"]}, "spr-3", old)
    assert plain == shared and "fzrm" not in plain.unknown_features and "fzrm" in shared.unknown_features
    fleet = Fleet({"spr-1": shared, "spr-2": shared, "spr-3": plain}, old)
    assert [c.hosts for c in fleet.classes] == [("spr-1", "spr-2", "spr-3")]
    assert fleet.unknown_features["fzrm"] == 2
    assert fleet.unknown_features["fsrc"] == 3
