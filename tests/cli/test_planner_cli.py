"""The planner's commands: stable JSON keys, human tables, files written."""
from __future__ import annotations

import contextlib
import io
import json
import re
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

import cpucompat.planner.inventory


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
    assert set(value["classes"][0]) == {"class", "vendor", "model", "host_model", "hosts", "features", "level", "split"}
    assert not any(c["split"] for c in value["classes"])  # the sample has no twins: one libvirt release


def test_targets():
    value = as_json("targets", "sample", "haswell-01")
    assert set(value) == {"host", "guest_model", "targets", "refused", "unreadable", "cpu_map"}
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
    assert set(domains[0]) == {"name", "host_count", "model", "vendor", "features", "disabled", "level",
                               "max_loss", "classes"}
    # each host once, under its class, with what the class gives up
    hosts = [h for d in domains for c in d["classes"] for h in c["hosts"]]
    assert sorted(hosts) == sorted(set(hosts)) and len(hosts) == 44
    assert sum(d["host_count"] for d in domains) == 44
    assert all(d["max_loss"] == max(len(c["loss"]) for c in d["classes"]) for d in domains)
    levels = as_json("levels", "sample")
    assert levels["hosts"]["sandybridge-01"] == "x86-64-v2" and levels["hosts"]["icelake-01"] == "x86-64-v4"


def test_common_and_whatif(tmp_path):
    common = as_json("common", "sample", "haswell-01", "icelake-01")
    loss = {h: c["loss"] for c in common["classes"] for h in c["hosts"]}
    assert common["model"] == "Haswell-noTSX" and loss["haswell-01"] == [] and "avx512f" in loss["icelake-01"]
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


NEHALEM = {"arch": "x86_64", "model": "Nehalem", "vendor": "Intel"}


def test_several_inventories_are_merged_and_a_repeated_host_reported(tmp_path):
    extra = tmp_path / "extra.json"
    extra.write_text(json.dumps({"old-01": NEHALEM, "haswell-01": NEHALEM}))
    value = as_json("classes", "sample", str(extra))
    hosts = {h for c in value["classes"] for h in c["hosts"]}
    assert len(hosts) == 45 and "old-01" in hosts
    assert list(value["unreadable"]) == [f"haswell-01 (duplicate, {extra})"]


def test_unreadable_hosts_are_counted_on_stderr(tmp_path):
    fleet = tmp_path / "fleet.json"
    fleet.write_text(json.dumps({"ok": NEHALEM, "bad": {"model": "Nope"}, "empty": None}))
    proc = run("classes", str(fleet))
    assert proc.returncode == 0
    assert "bad" not in proc.stdout
    assert proc.stderr.splitlines()[0] == "2 unreadable hosts, left out of the answer:"
    assert "bad: " in proc.stderr and "empty: " in proc.stderr and "no CPU information" in proc.stderr


def test_graph_and_report_list_unreadable_hosts_on_stderr_even_with_json(tmp_path):
    """Their JSON answers only count unreadable hosts: the reasons go to stderr."""
    fleet = tmp_path / "fleet.json"
    fleet.write_text(json.dumps({"ok": NEHALEM, "bad": {"model": "Nope"}}))
    for command in (["graph", "--format", "dot"], ["report"]):
        proc = run(*command, str(fleet), "-o", str(tmp_path / "out"), "--json")
        assert proc.returncode == 0, proc.stderr
        assert proc.stderr.splitlines()[0] == "1 unreadable host, left out of the answer:"
        assert "bad: " in proc.stderr and "Nope" in proc.stderr
    assert "unreadable" not in run("classes", str(fleet), "--json").stderr  # its JSON gives the reasons


def test_no_readable_host_is_an_error(tmp_path):
    fleet = tmp_path / "fleet.json"
    fleet.write_text(json.dumps({"bad": {"model": "Nope"}, "empty": None}))
    for extra in ([], ["--json"]):
        proc = run("domains", str(fleet), *extra)
        assert proc.returncode == 2 and proc.stdout == ""
        assert proc.stderr.splitlines()[-1].endswith("none of its 2 hosts could be read")
        assert "bad: " in proc.stderr


def test_stranded_answers_every_good_guest_and_names_each_bad_one(tmp_path):
    fleet = tmp_path / "fleet.json"
    hosts = json.loads(Path(cpucompat.planner.inventory.sample_path()).read_text())["hosts"]
    fleet.write_text(json.dumps(dict(hosts, broken={"model": "Nope"})))
    guests = tmp_path / "guests.json"
    guests.write_text(json.dumps([
        {"name": "web", "host": "skylake-01"},
        None,
        {"name": "db", "host": "icelake-01",
         "cpu": "<cpu><model>Icelake-Server</model><feature name='invtsc'/></cpu>"},
        {"name": "on-broken", "host": "broken"},
        {"name": "nowhere", "host": "no-such-host"},
        {"name": "cpu-object", "host": "haswell-01", "cpu": {"model": "Haswell"}},
        {"name": "cpu-number", "host": "haswell-01", "cpu": 7},
        ["not", "an", "object"],
        {"name": "unknown-model", "host": "haswell-01", "cpu": "<cpu><model>Skylaek</model></cpu>"},
    ]))
    for args in (["--json"], []):
        proc = run("stranded", str(fleet), str(guests), *args)
        assert proc.returncode == 0, proc.stderr
        assert "internal error" not in proc.stderr
    value = json.loads(run("stranded", str(fleet), str(guests), "--json").stdout)
    assert [s["guest"] for s in value["stranded"]] == ["db"]
    unchecked = {u["entry"]: u["reason"] for u in value["unchecked"]}
    assert sorted(unchecked) == [1, 3, 4, 5, 6, 7, 8]
    assert all(str(guests) in reason for reason in unchecked.values())
    assert "unreadable" in unchecked[3] and "not in the inventory" in unchecked[4]
    assert "not dict" in unchecked[5] and "not int" in unchecked[6] and "Skylaek" in unchecked[8]
    text = run("stranded", str(fleet), str(guests))
    assert "7 guests not checked:" in text.stderr and "1 stranded guest\n" in text.stdout
    report = tmp_path / "report.html"
    proc = run("report", str(fleet), "--guests", str(guests), "-o", str(report))
    assert proc.returncode == 0 and "7 guests not checked:" in proc.stderr
    page = report.read_text()
    assert "db" in page
    listed = page.split("<table id='unchecked'>")[1].split("</table>")[0]
    assert [int(n) for n in re.findall(r"<tr><td><bdi>[^<]*</bdi></td><td>(\d+)</td>", listed)] == sorted(unchecked)
    assert "Skylaek" in listed and "no-such-host" in listed


def test_whatif_shows_only_what_changes():
    text = run("whatif", "sample", "--retire", "epyc-naples-01", "epyc-naples-02", "epyc-naples-03",
               "epyc-naples-04").stdout
    assert "AMD fleet-wide common CPU: EPYC -> EPYC-Rome" in text
    assert "Intel fleet-wide" not in text
    assert "icelake-01" not in text  # its domain does not change
    assert "domains no longer formed:" in text and "C0 EPYC, 4 hosts: epyc-naples-01" in text


@pytest.mark.parametrize("args, expect", [
    (["--max-loss", "-1"], "argument --max-loss: must be at least 0, not -1"),
    (["--max-domains", "0"], "argument --max-domains: must be at least 1, not 0"),
    (["--timeout", "0"], "argument --timeout: must be a positive number of seconds"),
    (["--timeout", "inf"], "argument --timeout: must be a positive number of seconds, not inf"),
    (["--timeout", "soon"], "argument --timeout: expected seconds, not 'soon'"),
    (["--max-domains", "two"], "argument --max-domains: expected a whole number, not 'two'"),
    (["--max-domains", "3", "--max-loss", "0"],
     "cannot fit the fleet into 3 domains: for no host to give up more than 0 features the fleet needs "
     "8 domains; allow more domains or a larger loss"),
])
def test_impossible_options_are_refused_with_what_is_wrong(args, expect):
    proc = run("domains", "sample", *args)
    assert proc.returncode == 2 and expect in proc.stderr and "Traceback" not in proc.stderr


def test_whatif_says_its_own_error_not_a_partition_conflict():
    proc = run("whatif", "sample", "--retire", "nosuch", "--max-domains", "3", "--max-loss", "0")
    assert proc.returncode == 2
    assert proc.stderr.strip().endswith("cannot retire hosts not in the fleet: nosuch")


def test_whatif_reads_the_hosts_to_add_within_the_timeout(tmp_path, monkeypatch):
    from cpucompat.cli import main as cli
    from cpucompat.cli import planner as planner_cli

    asked = []

    def load_inventory(sources, cpumap=None, **options):
        asked.append(options)
        return cpucompat.planner.inventory.load_inventory(sources, cpumap, **options)

    monkeypatch.setattr(planner_cli, "load_inventory", load_inventory)
    new = tmp_path / "new.json"
    new.write_text(json.dumps({"old-01": NEHALEM}))
    with contextlib.redirect_stdout(io.StringIO()):
        assert cli.main(["whatif", "sample", "--add", str(new), "--timeout", "7"]) == 0
    assert asked == [{"timeout": 7.0, "on_progress": None, "trust_given_uris": False}]


def test_whatif_reports_each_host_to_add_the_fleet_cannot_take(tmp_path):
    new = tmp_path / "new.json"
    new.write_text(json.dumps({"passthrough": "<cpu mode='host-passthrough'/>", "old-01": NEHALEM}))
    value = as_json("whatif", "sample", "--add", str(new))
    assert value["added"] == ["old-01"] and list(value["not_added"]) == ["passthrough"]
    assert "describes no CPU model" in value["not_added"]["passthrough"]
    new.write_text(json.dumps({"passthrough": "<cpu mode='host-passthrough'/>"}))
    text = run("whatif", "sample", "--add", str(new)).stdout
    assert text.startswith("Adding 0 hosts and retiring 0 hosts changes nothing.\n  1 host not added:\n"
                           "    passthrough: describes no CPU model")


def test_features_the_map_cannot_name_are_said_and_a_newer_map_tells_hosts_apart(tmp_path, map_11):
    # fred (FRED, Panther Cove) is unknown to the 9.0.0 map (pinned), known to 11.3.0's
    inventory = tmp_path / "fleet.json"
    inventory.write_text(json.dumps({
        "new": {"arch": "x86_64", "model": "Icelake-Server", "vendor": "Intel", "features": ["vmx", "fred"]},
        "old": {"arch": "x86_64", "model": "Icelake-Server", "vendor": "Intel", "features": ["vmx"]}}))
    embedded = run("classes", str(inventory), "--json", "--cpu-map", "9.0.0")
    assert embedded.returncode == 0
    assert len(json.loads(embedded.stdout)["classes"]) == 1  # the embedded map cannot tell them apart ...
    assert "fred (1 host)" in embedded.stderr and "does not know" in embedded.stderr  # ... and says so
    newer = run("classes", str(inventory), "--json", "--cpu-map", map_11.source)
    assert newer.returncode == 0, newer.stderr
    assert len(json.loads(newer.stdout)["classes"]) == 2 and "does not know" not in newer.stderr


def test_a_guest_named_twice_or_giving_a_key_twice_is_not_checked_and_said(tmp_path):
    guests = tmp_path / "guests.json"
    guests.write_text('{"web": {"host": "skylake-01"}, "db": {"host": "icelake-01", "host": "skylake-01"},'
                      ' "web": {"host": "icelake-01"}}')
    value = as_json("stranded", "sample", str(guests))
    unchecked = {u["entry"]: (u["guest"], u["reason"]) for u in value["unchecked"]}
    assert sorted(unchecked) == [1, 2]
    assert unchecked[1][0] == "db" and "gives 'host' twice" in unchecked[1][1]
    assert unchecked[2][0] == "web"
    assert "guest web is given again; only its first entry (0) is checked" in unchecked[2][1]


def test_a_guest_whose_cpu_cannot_be_compared_is_listed_by_its_entry(tmp_path, monkeypatch):
    """The map parses the CPU but cannot compare it: found in the one stranded() pass."""
    from cpucompat.cli import main as cli
    from cpucompat.planner.fleet import Fleet

    calls = []
    stranded = Fleet.stranded
    monkeypatch.setattr(Fleet, "stranded", lambda self, guests: calls.append(1) or stranded(self, guests))
    guests = tmp_path / "guests.json"
    guests.write_text(json.dumps([{"name": "ok", "host": "skylake-01"}, None,
                                  {"name": "odd", "host": "skylake-01",
                                   "cpu": "<cpu><model>qemu64</model><feature name='nosuchfeat'/></cpu>"}]))
    out = io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(io.StringIO()):
        assert cli.main(["stranded", "sample", str(guests), "--json"]) == 0
    unchecked = json.loads(out.getvalue())["unchecked"]
    with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
        assert cli.main(["report", "sample", "--guests", str(guests), "-o", str(tmp_path / "r.html")]) == 0
    assert len(calls) == 2  # once a command
    assert [(u["guest"], u["entry"]) for u in unchecked] == [("guest-1", 1), ("odd", 2)]
    assert "nosuchfeat" in unchecked[1]["reason"]
    assert "<td><bdi>odd</bdi></td><td>2</td>" in (tmp_path / "r.html").read_text()


def test_refusals_and_levels_are_given_per_class_each_host_once():
    value = as_json("targets", "sample", "skylake-01")
    refused = value["refused"]
    assert set(refused[0]) == {"class", "model", "hosts", "reason", "missing"}
    hosts = [h for r in refused for h in r["hosts"]]
    assert len(hosts) == len(set(hosts)) and set(hosts) | set(value["targets"]) | {"skylake-01"} == set(
        as_json("levels", "sample")["hosts"])
    assert "avx512f" in next(r for r in refused if "broadwell-01" in r["hosts"])["missing"]
    domain = as_json("domain", "sample", "icelake-01")
    assert [len(r["hosts"]) for r in domain["refused"]] == [4, 4, 4, 6, 6, 8, 8]
    text = run("domain", "sample", "icelake-01").stdout
    assert "  not C7 Cascadelake-Server, 8 hosts (cascadelake-01 cascadelake-02 cascadelake-03 and 5 more): " \
           "missing sgx" in text and "cascadelake-04" not in text
    assert "cascadelake-08" in run("domain", "sample", "icelake-01", "--hosts").stdout
    levels = run("levels", "sample").stdout
    assert "C5 Skylake-Server: x86-64-v4, 8 hosts: skylake-01 skylake-02 skylake-03 and 5 more\n" in levels
    assert "skylake-04" not in levels and "domain D5 (4 hosts): x86-64-v2" in levels
    every = run("levels", "sample", "--hosts").stdout
    assert "8 hosts: " + " ".join(f"skylake-0{i}" for i in range(1, 9)) + "\n" in every


def test_text_output_summarises_each_class_and_hosts_lists_every_host():
    text = run("domains", "sample").stdout
    assert "C5 Skylake-Server, 8 hosts: skylake-01 skylake-02 skylake-03 and 5 more; give up none" in text
    assert "skylake-04" not in text
    every = run("domains", "sample", "--hosts").stdout
    assert "8 hosts: " + " ".join(f"skylake-0{i}" for i in range(1, 9)) + "; give up none" in every
    classes = run("classes", "sample").stdout
    assert "4 hosts: icelake-01 icelake-02 icelake-03 and 1 more" in classes


@pytest.mark.parametrize("args, expect", [
    (["common", "sample", "haswell-01", "icelake-01"], "C3 Haswell-noTSX, 1 host: haswell-01; gives up none"),
    (["common", "sample", "haswell-01", "haswell-02"], "Best common CPU of 2 hosts:"),
    (["domains", "sample"], "D3: 4 hosts in 1 class, "),
    (["domains", "sample"], "D1: 16 hosts in 2 classes, "),
    (["domains", "sample"], "44 hosts in 8 CPU classes form 6 migration domains:"),
    (["domains", "sample"], "no host gives up a feature"),
    (["targets", "sample", "epyc-rome-01"], "It can live-migrate to 3 hosts: epyc-rome-02 epyc-rome-03 epyc-rome-04"),
    (["targets", "sample", "skylake-01"],
     "  not C0 EPYC, 4 hosts (epyc-naples-01 epyc-naples-02 epyc-naples-03 and 1 more): host CPU vendor does not match"),
    (["domain", "sample", "icelake-01"], "4 hosts can run host-model CPU of icelake-01: icelake-01 icelake-02"),
    (["whatif", "sample", "--retire", "sandybridge-01"], "Adding 0 hosts and retiring 1 host "),
])
def test_counts_and_messages_read_as_english(args, expect):
    text = run(*args).stdout
    assert expect in text
    assert "1 hosts" not in text and "1 classes" not in text and "classs" not in text
    assert "missing host CPU vendor" not in text  # a refusal for the vendor is its reason, not "missing ..."


def test_whatif_json_groups_hosts_that_gain_or_lose_the_same_targets():
    from cpucompat.planner.fleet import Fleet

    examples = Path(__file__).resolve().parents[2] / "examples"
    value = as_json("whatif", "sample", "--retire", "sandybridge-01", "sandybridge-02",
                    "--add", str(examples / "new-hosts.json"))
    fleet = Fleet.load("sample")
    added = Fleet.load(str(examples / "new-hosts.json"))
    expected = fleet.what_if({h: added.class_of[h].cpu for h in added.hosts}, ["sandybridge-01", "sandybridge-02"])
    for key, mapping in (("targets_gained", expected.targets_gained), ("targets_lost", expected.targets_lost)):
        groups = value[key]
        sources = [h for g in groups for h in g["hosts"]]
        assert len(sources) == len(set(sources))  # each host once
        assert {h: tuple(g["targets"]) for g in groups for h in g["hosts"]} == dict(mapping)
        assert len({tuple(g["targets"]) for g in groups}) == len(groups)  # each list of targets once
    assert value["targets_gained"][0]["targets"] == ["icelake-new-01", "icelake-new-02"]
    assert len(value["targets_gained"][0]["hosts"]) == 26
