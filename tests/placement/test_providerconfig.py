"""Provider config files: Nova's own loader reads exactly the traits
host_traits gives; writing is idempotent and removes only cpucompat's files."""
from __future__ import annotations

import os

import pytest

from cpucompat.errors import UnwritableFile
from cpucompat.placement import host_traits
from cpucompat.placement.providerconfig import (HEADER, config_file_names, provider_config,
                                                write_provider_configs)
from cpucompat.planner.fleet import Fleet


@pytest.fixture(scope="module")
def fleet():
    return Fleet.load("sample")


def _nova_configs(directory):
    provider_config_module = pytest.importorskip(
        "nova.compute.provider_config", reason="Nova is not installed (pip install '.[nova]')")
    return provider_config_module.get_provider_configs(str(directory))


def test_nova_loads_every_file_with_exactly_the_hosts_traits(fleet, tmp_path):
    traits = host_traits(fleet)
    result = write_provider_configs(traits, tmp_path / "providers")
    assert sorted(result.written) == sorted(result.files.values()) and len(result.files) == len(fleet.hosts)
    loaded = _nova_configs(tmp_path / "providers")
    assert set(loaded) == set(fleet.hosts)
    for host, provider in loaded.items():
        assert provider["identification"] == {"name": host}
        assert set(provider["traits"]["additional"]) == traits[host]
        assert provider["__source_file"] == result.files[host]


def test_hostile_host_names_give_safe_distinct_files_that_name_them_exactly(tmp_path):
    hosts = ["../../etc/passwd", ".hidden", "a/b", "a_b", "Node1", "node1", 'q"uo\\te: [x]', "é-host", "x" * 150]
    traits = {h: {"CUSTOM_CPUCOMPAT_MODEL_QEMU64"} for h in hosts}
    traits["bad\nname"] = set()
    traits["y" * 201] = set()
    result = write_provider_configs(traits, tmp_path)
    assert set(result.refused) == {"bad\nname", "y" * 201}
    names = list(result.files.values())
    assert len({n.lower() for n in names}) == len(hosts)
    assert sorted(os.listdir(tmp_path)) == sorted(names)
    for name in names:
        assert name.startswith("cpucompat-") and name.endswith(".yaml") and "/" not in name and len(name) < 200
    assert set(_nova_configs(tmp_path)) == set(hosts)


def test_writing_again_changes_nothing_and_rewrites_nothing(fleet, tmp_path):
    traits = host_traits(fleet)
    write_provider_configs(traits, tmp_path)
    before = {n: (os.stat(tmp_path / n).st_ino, (tmp_path / n).read_bytes()) for n in os.listdir(tmp_path)}
    again = write_provider_configs(host_traits(Fleet.load("sample")), tmp_path)
    assert again.written == () and again.removed == () and len(again.unchanged) == len(before)
    assert {n: (os.stat(tmp_path / n).st_ino, (tmp_path / n).read_bytes()) for n in os.listdir(tmp_path)} == before


def test_files_of_retired_hosts_go_and_nobody_elses(fleet, tmp_path):
    write_provider_configs(host_traits(fleet), tmp_path)
    (tmp_path / "cpucompat-handmade.yaml").write_text("meta:\n  schema_version: '1.0'\n")
    (tmp_path / "other.yaml").write_text(HEADER)
    os.symlink(tmp_path / "cpucompat-skylake-01.yaml", tmp_path / "cpucompat-link.yaml")
    smaller = fleet.without(["skylake-01", "epyc-rome-02"])
    dry = write_provider_configs(host_traits(smaller), tmp_path, dry_run=True)
    assert dry.removed == ("cpucompat-epyc-rome-02.yaml", "cpucompat-skylake-01.yaml")
    assert (tmp_path / "cpucompat-skylake-01.yaml").exists()  # a dry run removes nothing
    result = write_provider_configs(host_traits(smaller), tmp_path)
    assert result.removed == dry.removed
    left = set(os.listdir(tmp_path))
    assert {"cpucompat-handmade.yaml", "other.yaml", "cpucompat-link.yaml"} <= left
    assert "cpucompat-skylake-01.yaml" not in left and "cpucompat-epyc-rome-02.yaml" not in left


def test_changed_traits_rewrite_only_that_hosts_file(tmp_path):
    write_provider_configs({"a": {"CUSTOM_CPUCOMPAT_MODEL_X"}, "b": {"CUSTOM_CPUCOMPAT_MODEL_X"}}, tmp_path)
    result = write_provider_configs({"a": {"CUSTOM_CPUCOMPAT_MODEL_Y"}, "b": {"CUSTOM_CPUCOMPAT_MODEL_X"}},
                                    tmp_path)
    assert result.written == ("cpucompat-a.yaml",) and result.unchanged == ("cpucompat-b.yaml",)
    assert "CUSTOM_CPUCOMPAT_MODEL_Y" in (tmp_path / "cpucompat-a.yaml").read_text()


def test_a_dry_run_writes_nothing_and_a_link_is_never_written_through(tmp_path):
    result = write_provider_configs({"a": {"CUSTOM_CPUCOMPAT_MODEL_X"}}, tmp_path / "new", dry_run=True)
    assert result.written == ("cpucompat-a.yaml",) and not (tmp_path / "new").exists()
    target = tmp_path / "elsewhere"
    target.write_text("keep")
    os.symlink(target, tmp_path / "cpucompat-a.yaml")
    with pytest.raises(UnwritableFile, match="not a regular file"):
        write_provider_configs({"a": {"CUSTOM_CPUCOMPAT_MODEL_X"}}, tmp_path)
    assert target.read_text() == "keep"


def test_the_same_input_gives_the_same_bytes():
    assert provider_config("h", ["B", "A", "A"]) == provider_config("h", ("A", "B"))
    assert config_file_names(["h"]) == {"h": "cpucompat-h.yaml"}
