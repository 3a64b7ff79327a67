"""The planner's commands: stable JSON keys, human tables, files written."""
from __future__ import annotations

import json
import subprocess
import sys
import tempfile

import pytest


def run(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "cpucompat", *args], capture_output=True, text=True,
                          timeout=300, cwd=tempfile.gettempdir())


def as_json(*args: str) -> dict:
    proc = run(*args, "--json")
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout)


def test_classes():
    value = as_json("classes", "sample")
    assert len(value["classes"]) == 8 and value["unreadable"] == {}
    assert set(value["classes"][0]) == {"class", "vendor", "model", "host_model", "hosts", "features", "level"}


def test_targets():
    value = as_json("targets", "sample", "haswell-01")
    assert set(value) == {"host", "guest_model", "targets", "refused", "unreadable"}
    assert "broadwell-01" in value["targets"] and "haswell-01" not in value["targets"]


def test_domain_of_a_host_model_and_of_a_file(tmp_path):
    assert "icelake-02" in as_json("domain", "sample", "icelake-01")["hosts"]
    guest = tmp_path / "guest.xml"
    guest.write_text("<cpu><model>Skylake-Server</model></cpu>")
    value = as_json("domain", "sample", str(guest))
    assert {h.split("-")[0] for h in value["hosts"]} == {"skylake", "cascadelake", "icelake"}


def test_domains_and_levels():
    domains = as_json("domains", "sample", "--max-domains", "2")["domains"]
    assert len(domains) == 2
    assert set(domains[0]) == {"name", "hosts", "model", "vendor", "features", "disabled", "level", "loss",
                               "max_loss"}
    levels = as_json("levels", "sample")
    assert levels["hosts"]["sandybridge-01"] == "x86-64-v2" and levels["hosts"]["icelake-01"] == "x86-64-v4"


def test_common_and_whatif(tmp_path):
    common = as_json("common", "sample", "haswell-01", "icelake-01")
    assert common["model"] == "Haswell-noTSX" and common["loss"]["haswell-01"] == []
    new = tmp_path / "new.json"
    new.write_text(json.dumps({"old-01": {"arch": "x86_64", "model": "Nehalem", "vendor": "Intel"}}))
    value = as_json("whatif", "sample", "--add", str(new))
    assert value["changed"] and value["common_after"]["Intel"] == "Nehalem"


def test_stranded(tmp_path):
    guests = tmp_path / "guests.json"
    guests.write_text(json.dumps([{"name": "web", "host": "skylake-01"},
                                  {"name": "db", "host": "icelake-01",
                                   "cpu": "<cpu><model>Icelake-Server</model><feature name='invtsc'/></cpu>"}]))
    value = as_json("stranded", "sample", str(guests))
    assert [s["guest"] for s in value["stranded"]] == ["db"]


@pytest.mark.parametrize("fmt, marker", [("dot", "digraph"), ("graphml", "<graphml"), ("svg", "<svg")])
def test_graph_exports(tmp_path, fmt, marker):
    out = tmp_path / f"lattice.{fmt}"
    proc = run("graph", "sample", "--format", fmt, "-o", str(out))
    assert proc.returncode == 0, proc.stderr
    assert marker in out.read_text()


def test_report_and_human_output(tmp_path):
    out = tmp_path / "report.html"
    assert run("report", "sample", "-o", str(out)).returncode == 0
    assert "<svg" in out.read_text()
    text = run("domains", "sample").stdout
    assert "44 hosts in 8 CPU classes" in text and "D1:" in text
