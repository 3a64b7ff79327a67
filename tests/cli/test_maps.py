"""`cpucompat maps`, `--cpu-map VERSION`, and the map every answer names."""
from __future__ import annotations

import json
import shutil
import subprocess
import sys
import tempfile

from cpucompat.engine.maps import embedded_map_path
from cpucompat.engine.releases import DEFAULT_VERSION, KNOWN_VERSIONS

HT = "<cpu><arch>x86_64</arch><model>486</model><feature name='ht'/></cpu>"


def run(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "cpucompat", *args], capture_output=True, text=True,
                          timeout=120, cwd=tempfile.gettempdir())


def test_maps_lists_every_embedded_map_and_the_default():
    rows = json.loads(run("maps", "--json").stdout)
    assert [r["version"] for r in rows] == list(KNOWN_VERSIONS)
    assert [r["version"] for r in rows if r["default"]] == [DEFAULT_VERSION]
    assert "ht" in next(r for r in rows if r["version"] == "12.8.0")["qemu_filtered"]
    text = run("maps")
    assert text.returncode == 0 and "12.8.0" in text.stdout and "(default)" in text.stdout


def test_cpu_map_takes_an_embedded_version_and_every_json_answer_names_it(tmp_path):
    (tmp_path / "ht.xml").write_text(HT)
    for version in KNOWN_VERSIONS:
        rows = json.loads(run("expand", "--json", "--cpu-map", version, str(tmp_path / "ht.xml")).stdout)
        assert rows[0]["cpu_map"] == {"version": version, "embedded": True, "rules": version}
        assert ("ht" in rows[0]["features"]) == (version != "12.8.0")  # libvirt 12.8.0's QEMU driver drops ht


def test_a_text_answer_names_its_map_on_stderr_and_keeps_stdout_the_answer(tmp_path):
    (tmp_path / "ht.xml").write_text(HT)
    done = run("expand", "--cpu-map", "11.3.0", str(tmp_path / "ht.xml"))
    assert done.returncode == 0
    assert done.stderr == "cpucompat: cpu_map: libvirt 11.3.0 (embedded)\n"
    assert done.stdout.startswith("<cpu ")


def test_a_map_path_of_an_unknown_version_says_whose_rules_read_it(tmp_path):
    target = tmp_path / "cpu_map"
    shutil.copytree(embedded_map_path("11.3.0"), target)
    (target / "SOURCE").write_text("libvirt 11.5.0\n")
    (tmp_path / "ht.xml").write_text(HT)
    row = json.loads(run("expand", "--json", "--cpu-map", str(target), str(tmp_path / "ht.xml")).stdout)[0]
    assert row["cpu_map"]["version"] == "11.5.0" and row["cpu_map"]["rules"] == "11.3.0"
    assert row["cpu_map"]["path"] == str(target) and "nearest older" in row["cpu_map"]["note"]
    text = run("expand", "--cpu-map", str(target), str(tmp_path / "ht.xml"))
    assert "libvirt 11.5.0" in text.stderr and "libvirt 11.3.0" in text.stderr


def test_a_planner_answer_names_its_map(tmp_path):
    inventory = tmp_path / "hypervisors.json"
    inventory.write_text(json.dumps([{"hypervisor_hostname": "h1", "cpu_info": {
        "arch": "x86_64", "model": "Haswell", "vendor": "Intel", "features": ["vmx"]}}]))
    value = json.loads(run("classes", "--json", "--cpu-map", "12.8.0", str(inventory)).stdout)
    assert value["cpu_map"]["version"] == "12.8.0"
