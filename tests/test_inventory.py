"""Inventories in every shape; bad hosts are reported, never dropped."""
from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

import cpucompat
from cpucompat.fleet import Fleet
from cpucompat.inventory import load_inventory, sample_path

INPUTS = Path(__file__).resolve().parent / "data" / "inputs"
HASWELL = {"arch": "x86_64", "model": "Haswell-noTSX", "vendor": "Intel", "features": ["vmx", "invtsc"]}


def test_sample_ships_with_the_package():
    inventory = load_inventory("sample")
    assert sample_path().exists() and len(inventory.hosts) == 44 and not inventory.failures


def test_directory_of_host_files_in_any_format(tmp_path):
    shutil.copy(INPUTS / "amd-vm-capabilities.xml", tmp_path / "caps-host.xml")
    shutil.copy(INPUTS / "amd-vm-cpu_info.json", tmp_path / "nova-host.json")
    shutil.copy(INPUTS / "amd-vm-proc-cpuinfo.txt", tmp_path / "proc-host.txt")
    (tmp_path / "broken-host.xml").write_text("<cpu><model>Nope")
    inventory = load_inventory(tmp_path)
    assert set(inventory.hosts) == {"caps-host", "nova-host", "proc-host"}
    assert set(inventory.failures) == {"broken-host"}
    assert "not well-formed" in inventory.failures["broken-host"]


def test_compute_nodes_dump_as_openstack_prints_it(tmp_path):
    rows = [{"ID": 1, "Hypervisor Hostname": "cmp-1", "CPU Info": json.dumps(HASWELL)},
            {"ID": 2, "Hypervisor Hostname": "cmp-2", "CPU Info": None},
            {"ID": 3, "Hypervisor Hostname": "cmp-3", "CPU Info": "{not json"},
            {"id": 4, "hypervisor_hostname": "cmp-4", "cpu_info": HASWELL}]
    path = tmp_path / "nodes.json"
    path.write_text(json.dumps(rows))
    inventory = load_inventory(path)
    assert set(inventory.hosts) == {"cmp-1", "cmp-4"}
    assert set(inventory.failures) == {"cmp-2", "cmp-3"}
    assert "no CPU information" in inventory.failures["cmp-2"]


def test_yaml_mapping_of_hosts_to_cpus_or_files(tmp_path):
    shutil.copy(INPUTS / "amd-vm-capabilities.xml", tmp_path / "caps.xml")
    (tmp_path / "fleet.yaml").write_text(
        "hosts:\n  a: caps.xml\n  b:\n    arch: x86_64\n    model: Haswell-noTSX\n    vendor: Intel\n"
        "  c: \"<cpu><arch>x86_64</arch><model>Nehalem</model><vendor>Intel</vendor></cpu>\"\n")
    inventory = load_inventory(tmp_path / "fleet.yaml")
    assert {h: c.model for h, c in inventory.hosts.items()} == {"a": "kvm64", "b": "Haswell-noTSX", "c": "Nehalem"}


def test_host_names_are_never_merged(tmp_path):
    a, b = tmp_path / "a.json", tmp_path / "b.json"
    a.write_text(json.dumps({"x": HASWELL}))
    b.write_text(json.dumps({"x": HASWELL, "y": HASWELL}))
    inventory = load_inventory([a, b])
    assert set(inventory.hosts) == {"x", "y"}
    assert any("duplicate" in name for name in inventory.failures)


def test_unknown_hosts_in_questions_are_named(tmp_path):
    fleet = Fleet.load("sample")
    with pytest.raises(cpucompat.InvalidInventory, match="nope"):
        fleet.targets("nope")


def test_missing_inventory_is_a_clear_error(tmp_path):
    with pytest.raises(cpucompat.InvalidInventory, match="no such file"):
        load_inventory(tmp_path / "missing.json")


def test_live_uri_that_cannot_be_reached_is_a_failure_not_a_crash():
    inventory = load_inventory(["sample", "qemu+ssh://nobody@127.0.0.1:1/system"], timeout=20)
    assert len(inventory.hosts) == 44
    assert list(inventory.failures) == ["qemu+ssh://nobody@127.0.0.1:1/system"]


def test_hosts_with_an_unknown_vendor_are_reported_not_planned():
    fleet = Fleet({"odd": cpucompat.Cpu(model="486", vendor="0", arch="x86_64"),
                   "ok": cpucompat.Cpu(model="Nehalem", vendor="Intel", arch="x86_64")})
    assert fleet.hosts == ["ok"] and "unknown CPU vendor" in fleet.failures["odd"]
    assert [d.hosts for d in fleet.domains()] == [("ok",)]


def test_hosts_whose_model_belongs_to_another_vendor_are_reported():
    fleet = Fleet({"odd": cpucompat.Cpu(model="athlon", vendor="Intel", arch="x86_64"),
                   "ok": cpucompat.Cpu(model="pentium2", vendor="Intel", arch="x86_64")})
    assert fleet.hosts == ["ok"] and "differs from vendor Intel" in fleet.failures["odd"]
    assert [d.hosts for d in fleet.domains()] == [("ok",)]
