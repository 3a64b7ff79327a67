"""Inventories in every shape; bad hosts are reported, never dropped."""
from __future__ import annotations

import json
import selectors
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import pytest

import cpucompat
import cpucompat.planner.inventory
import cpucompat.inputs.jsonstream
from cpucompat.planner.fleet import Fleet
from cpucompat.planner.inventory import MAX_CONCURRENT_HOSTS, load_inventory, sample_path

INPUTS = Path(__file__).resolve().parents[1] / "data" / "inputs"
HASWELL = {"arch": "x86_64", "model": "Haswell-noTSX", "vendor": "Intel", "features": ["vmx", "invtsc"]}
NEHALEM = {"arch": "x86_64", "model": "Nehalem", "vendor": "Intel"}


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


def test_directory_host_names_lose_only_a_known_extension(tmp_path):
    for name in ("node1.dc1.example.com.xml", "node1.dc2.example.com.xml", "node2.dc1.example.com"):
        shutil.copy(INPUTS / "amd-vm-capabilities.xml", tmp_path / name)
    shutil.copy(INPUTS / "amd-vm-proc-cpuinfo.txt", tmp_path / "node3.cpuinfo")
    inventory = load_inventory(tmp_path)
    assert set(inventory.hosts) == {"node1.dc1.example.com", "node1.dc2.example.com", "node2.dc1.example.com",
                                    "node3"}
    assert not inventory.failures


def test_every_failure_is_kept_even_for_one_host_name(tmp_path):
    (tmp_path / "bad.xml").write_text("<cpu><model>Nope")
    (tmp_path / "bad.json").write_text("{not json")
    (tmp_path / "good.xml").write_text("<cpu><arch>x86_64</arch><model>Nehalem</model></cpu>")
    (tmp_path / "good.json").write_text(json.dumps(NEHALEM))
    inventory = load_inventory(tmp_path)
    assert list(inventory.hosts) == ["good"]
    reasons = " | ".join(f"{k}: {v}" for k, v in inventory.failures.items())
    assert len(inventory.failures) == 3, reasons
    assert "bad.xml" in reasons and "bad.json" in reasons and "good (duplicate, good.xml)" in reasons


def test_a_subdirectory_per_host_is_read_or_reported(tmp_path):
    (tmp_path / "hostA").mkdir()
    shutil.copy(INPUTS / "amd-vm-capabilities.xml", tmp_path / "hostA" / "capabilities.xml")
    shutil.copy(INPUTS / "amd-vm-domcapabilities.xml", tmp_path / "hostA" / "domcapabilities.xml")
    (tmp_path / "hostB").mkdir()
    shutil.copy(INPUTS / "amd-vm-cpu_info.json", tmp_path / "hostB" / "cpu_info.json")
    (tmp_path / "hostC").mkdir()
    (tmp_path / "hostC" / "a.xml").write_text("<cpu/>")
    (tmp_path / "hostC" / "b.xml").write_text("<cpu/>")
    (tmp_path / "hostD").mkdir()
    inventory = load_inventory(tmp_path)
    assert set(inventory.hosts) == {"hostA", "hostB"}
    assert "holds 2: a.xml, b.xml" in inventory.failures["hostC"]
    assert "holds none" in inventory.failures["hostD"]


def test_keys_given_twice_in_json_are_reported_not_overwritten(tmp_path):
    path = tmp_path / "fleet.json"
    path.write_text('{"hosts": {"a": %s, "a": %s, "b": {"arch": "x86_64", "model": "Nehalem", "model": "Haswell"},'
                    ' "c": %s}}' % (json.dumps(NEHALEM), json.dumps(HASWELL), json.dumps(HASWELL)))
    inventory = load_inventory(path)
    assert {h: c.model for h, c in inventory.hosts.items()} == {"a": "Nehalem", "c": "Haswell-noTSX"}
    assert "'model' twice" in inventory.failures["b"]
    assert inventory.failures["a (duplicate, " + str(path) + ")"] == cpucompat.planner.inventory.DUPLICATE


def test_yaml_keys_are_read_as_written(tmp_path):
    cpu = "{arch: x86_64, model: Nehalem}"
    path = tmp_path / "fleet.yaml"
    path.write_text("".join(f"{key}: {cpu}\n" for key in ("no", "on", "null", "~", "1.10", "0123", "true", "x", "x")))
    inventory = load_inventory(path)
    assert set(inventory.hosts) == {"no", "on", "null", "~", "1.10", "0123", "true", "x"}
    assert list(inventory.failures) == [f"x (duplicate, {path})"]


def test_openstack_hypervisor_show_output_one_or_many(tmp_path):
    """`openstack hypervisor show HOST -f json` prints cpu_info as an object
    (microversion >= 2.28) or as JSON text (older)."""
    show = {"aggregates": [], "cpu_info": HASWELL, "host_ip": "192.0.2.10", "hypervisor_hostname": "cmp-1.example",
            "hypervisor_type": "QEMU", "hypervisor_version": 8002000, "id": "5d0c3b5e", "service_host": "cmp-1",
            "service_id": "9a2f", "state": "up", "status": "enabled", "uptime": "1 day"}
    one = tmp_path / "one.json"
    one.write_text(json.dumps(show, indent=2))
    assert {h: c.model for h, c in load_inventory(one).hosts.items()} == {"cmp-1.example": "Haswell-noTSX"}
    several = tmp_path / "several.json"  # for h in ...; do openstack hypervisor show $h -f json; done
    several.write_text("\n".join(json.dumps(dict(show, hypervisor_hostname=f"cmp-{i}", cpu_info=cpu), indent=2)
                                 for i, cpu in enumerate([HASWELL, json.dumps(NEHALEM), None])))
    inventory = load_inventory(several)
    assert {h: c.model for h, c in inventory.hosts.items()} == {"cmp-0": "Haswell-noTSX", "cmp-1": "Nehalem"}
    assert "no CPU information" in inventory.failures["cmp-2"]
    api = tmp_path / "api.json"  # GET /os-hypervisors/detail
    api.write_text(json.dumps({"hypervisors": [show]}))
    assert list(load_inventory(api).hosts) == ["cmp-1.example"]


def test_hypervisor_list_has_no_cpu_info_and_the_error_says_what_has(tmp_path):
    path = tmp_path / "list.json"
    path.write_text(json.dumps([{"ID": 1, "Hypervisor Hostname": "cmp-1", "Hypervisor Type": "QEMU",
                                 "Host IP": "192.0.2.10", "State": "up", "vCPUs Used": 2, "vCPUs": 64,
                                 "Memory MB Used": 2048, "Memory MB": 262144}]))
    with pytest.raises(cpucompat.InvalidInventory, match="openstack hypervisor show HOST -f json"):
        load_inventory(path)


def test_compute_nodes_rows_skip_soft_deleted_ones(tmp_path):
    rows = [{"id": 1, "hypervisor_hostname": "cmp-1", "cpu_info": json.dumps(NEHALEM), "deleted": 1},
            {"id": 2, "hypervisor_hostname": "cmp-1", "cpu_info": json.dumps(HASWELL), "deleted": 0},
            {"id": 3, "hypervisor_hostname": "cmp-2", "cpu_info": json.dumps(NEHALEM), "deleted": 0}]
    path = tmp_path / "compute_nodes.json"
    path.write_text(json.dumps(rows))
    inventory = load_inventory(path)
    assert {h: c.model for h, c in inventory.hosts.items()} == {"cmp-1": "Haswell-noTSX", "cmp-2": "Nehalem"}
    assert not inventory.failures
    # mysql -B -e 'SELECT hypervisor_hostname, cpu_info, deleted FROM compute_nodes' nova
    batch = "hypervisor_hostname\tcpu_info\tdeleted\n" + "".join(
        f"{r['hypervisor_hostname']}\t{r['cpu_info']}\t{r['deleted']}\n" for r in rows) + "cmp-3\tNULL\t0\n"
    path = tmp_path / "compute_nodes.tsv"
    path.write_text(batch)
    inventory = load_inventory(path)
    assert {h: c.model for h, c in inventory.hosts.items()} == {"cmp-1": "Haswell-noTSX", "cmp-2": "Nehalem"}
    assert "no CPU information" in inventory.failures["cmp-3"]


class HangingServer:
    """Sockets on 127.0.0.1 that accept connections and never answer (a hung
    libvirtd), closing everything after `lifetime` seconds at the latest."""

    def __init__(self, ports: int, lifetime: float) -> None:
        self.sockets = [socket.create_server(("127.0.0.1", 0)) for _ in range(ports)]
        self.uris = [f"qemu+tcp://127.0.0.1:{s.getsockname()[1]}/system" for s in self.sockets]
        self.stopped = threading.Event()
        self.thread = threading.Thread(target=self._serve, args=(time.monotonic() + lifetime,), daemon=True)
        self.thread.start()

    def _serve(self, deadline: float) -> None:
        held = []
        with selectors.DefaultSelector() as selector:
            for server in self.sockets:
                selector.register(server, selectors.EVENT_READ)
            while not self.stopped.is_set() and time.monotonic() < deadline:
                for key, _ in selector.select(timeout=0.1):
                    held.append(key.fileobj.accept()[0])
        for connection in held + self.sockets:
            connection.close()

    def stop(self) -> None:
        self.stopped.set()
        self.thread.join()


@pytest.fixture()
def hung_hosts():
    pytest.importorskip("libvirt", reason="libvirt-python is not installed: live-host deadline tests skipped")
    server = HangingServer(MAX_CONCURRENT_HOSTS + 4, lifetime=90)
    yield server.uris
    server.stop()


def test_each_live_host_has_its_own_deadline_and_none_is_starved(hung_hosts):
    inventory = load_inventory(hung_hosts + ["test:///default"], timeout=1)
    assert {inventory.failures[uri].split(": ", 1)[1] for uri in hung_hosts} == {"no answer within 1 s"}
    # more hung hosts than slots, and still test:///default was tried once a
    # slot was free, and answered (its capabilities have no CPU model)
    assert "missing CPU model" in inventory.failures["test:///default"]


def test_the_cli_exits_when_hung_hosts_time_out(hung_hosts):
    # the server holds the connections for 90 s: a process kept alive by
    # them would outlive this timeout and fail the test
    proc = subprocess.run([sys.executable, "-m", "cpucompat", "classes", "sample", *hung_hosts[:16],
                           "test:///default", "--timeout", "2", "--json"],
                          capture_output=True, text=True, timeout=60, cwd=tempfile.gettempdir())
    assert proc.returncode == 0, proc.stderr
    unreadable = json.loads(proc.stdout)["unreadable"]
    assert sorted(unreadable) == sorted(hung_hosts[:16] + ["test:///default"])
    assert "no answer" not in unreadable["test:///default"]
    assert "read " not in proc.stderr  # progress only on a terminal


def test_live_hosts_show_progress_on_a_terminal(hung_hosts, terminal):
    proc = subprocess.run([sys.executable, "-m", "cpucompat", "classes", "sample", hung_hosts[0],
                           "--timeout", "2", "--json"], stdout=subprocess.PIPE, stderr=terminal.fd,
                          text=True, timeout=60, cwd=tempfile.gettempdir())
    shown = terminal.received()
    assert proc.returncode == 0, shown
    assert "\rread 1/1 hosts" in shown  # the hung host, given up after 2 s: past the delay
    assert hung_hosts[0] in json.loads(proc.stdout)["unreadable"]


def test_a_file_can_list_libvirt_uris(tmp_path):
    listing = tmp_path / "hosts.txt"
    listing.write_text("# the lab\ntest:///default\n\nqemu+ssh://nobody@127.0.0.1:1/system\ntest:///default\n")
    inventory = load_inventory([listing, "sample"], timeout=20)
    assert len(inventory.hosts) == 44
    assert set(inventory.failures) == {"test:///default", "qemu+ssh://nobody@127.0.0.1:1/system",
                                       "test:///default (duplicate)"}
    assert "given twice" in inventory.failures["test:///default (duplicate)"]
    listing.write_text("test:///default\nnot a uri\n")
    with pytest.raises(cpucompat.InvalidInventory, match="line 2 is not a libvirt URI"):
        load_inventory(listing)


def _reference_fleet(rows: list[dict]) -> tuple[list[tuple], set[str]]:
    """The classes and unreadable hosts of compute_nodes rows read the plain
    way: the whole document in memory, every cpu_info parsed on its own."""
    hosts, failures = {}, set()
    for row in rows:
        if row.get("deleted"):
            continue
        name = row["hypervisor_hostname"]
        if name in hosts or name in failures:
            failures.add(f"{name} (duplicate)")
            continue
        try:
            hosts[name] = cpucompat.parse_cpu_info(row["cpu_info"])
        except cpucompat.CpuCompatError:
            failures.add(name)
    fleet = Fleet(hosts)
    return [(c.vendor, c.features, c.hosts) for c in fleet.classes], failures | set(fleet.failures)


def test_a_large_dump_read_row_by_row_gives_the_classes_of_a_whole_document_read(tmp_path, monkeypatch):
    monkeypatch.setattr(cpucompat.inputs.jsonstream.JsonStream, "chunk", 4096)  # rows cut at every place by chunk ends
    cpus = [dict(HASWELL, features=HASWELL["features"] + extra)
            for extra in ([], ["pdpe1gb"], ["pdpe1gb", "aes"], ["ssse3"])] + [NEHALEM, dict(NEHALEM, features=["x2apic"])]
    rows = []
    for i in range(20_000):
        cpu = cpus[i * 7 % len(cpus)]
        rows.append({"id": i, "hypervisor_hostname": f"cmp-{i:05d}.\u00e9xample.org", "state": "up",
                     "cpu_info": json.dumps(cpu) if i % 3 else cpu, "deleted": i if i % 1000 == 999 else 0,
                     "free_disk_gb": i * 1.5e3})
    for i in range(0, 20_000, 2_500):
        rows[i]["cpu_info"] = {"model": "Nope", "arch": "x86_64"}  # every bad row is reported
        rows[i + 1]["hypervisor_hostname"] = rows[i + 2]["hypervisor_hostname"]  # and every duplicate
    path = tmp_path / "compute_nodes.json"
    path.write_text(json.dumps(rows, indent=1))
    fleet = Fleet.load(path)
    classes, failures = _reference_fleet(rows)
    assert [(c.vendor, c.features, c.hosts) for c in fleet.classes] == classes
    assert {name.replace(f", {path}", "") for name in fleet.failures} == failures
    assert len(failures) == 16 and len(fleet.hosts) == 20_000 - 20 - 16


BROKEN_JSON = ['[{"hypervisor_hostname": "a", "cpu_info": %s},\n {"hypervisor_hostname": "b" "cpu_info": 1}]',
               '[{"hypervisor_hostname": "a", "cpu_info": %s},]',
               '[{"hypervisor_hostname": "a", "cpu_info": %s}',
               '{"a": %s,\n "b": tru}',
               '{"a": %s, "b": "never closed}',
               '{"a": %s, "b": 1.5e3 4}',
               '{"a": %s,\n "b": "\\x"}']


@pytest.mark.parametrize("broken", BROKEN_JSON)
def test_invalid_json_is_placed_as_json_places_it_wherever_chunks_end(tmp_path, monkeypatch, broken):
    path = tmp_path / "fleet.json"
    path.write_text(broken % json.dumps(HASWELL))
    with pytest.raises(ValueError) as expected:
        json.loads(path.read_text())
    place = str(expected.value).rsplit(": ", 1)[1]
    for chunk in (1, 3, 1 << 22):
        monkeypatch.setattr(cpucompat.inputs.jsonstream.JsonStream, "chunk", chunk)
        with pytest.raises(cpucompat.InvalidInventory) as error:
            load_inventory(path)
        assert str(error.value).startswith(f"{path}: invalid JSON in ") and str(error.value).endswith(place)


def test_values_cut_by_chunk_ends_are_read_whole(tmp_path, monkeypatch):
    show = {"cpu_info": HASWELL, "free_disk_gb": 1.5e10, "hypervisor_hostname": "cmp-\u00e9", "running_vms": 12345}
    path = tmp_path / "shows.json"
    path.write_text("\n".join(json.dumps(dict(show, hypervisor_hostname=f"cmp-\u00e9{i}")) for i in range(3))
                    + json.dumps({f"h{i}": NEHALEM for i in range(150)}))
    results = []
    for chunk in (1, 2, 3, 5, 1 << 22):
        monkeypatch.setattr(cpucompat.inputs.jsonstream.JsonStream, "chunk", chunk)
        inventory = load_inventory(path)
        results.append(({h: c.model for h, c in inventory.hosts.items()}, inventory.failures))
    assert all(result == results[0] for result in results)
    assert len(results[0][0]) == 153 and not results[0][1]


def test_pages_of_the_hypervisors_api_may_be_concatenated(tmp_path):
    path = tmp_path / "pages.json"
    path.write_text("".join(json.dumps({"hypervisors": [{"hypervisor_hostname": f"cmp-{i}", "cpu_info": HASWELL}],
                                        "hypervisors_links": []}) for i in range(3)))
    assert list(load_inventory(path).hosts) == ["cmp-0", "cmp-1", "cmp-2"]
    path.write_text(json.dumps({"hosts": {"a": HASWELL}, "hypervisors": [{"hypervisor_hostname": "b"}]}))
    with pytest.raises(cpucompat.InvalidInventory, match="both 'hosts' and 'hypervisors' list hosts"):
        load_inventory(path)


def test_a_duplicate_is_worded_alike_in_every_shape_and_true_when_the_first_failed(tmp_path):
    """The first description of a name is the one used, even when it cannot be
    read: the message says so, and says it alike for two files, a JSON key
    and a YAML key given twice, and two rows."""
    first, second = tmp_path / "first.json", tmp_path / "second.json"
    first.write_text(json.dumps({"x": {"arch": "x86_64"}}))
    second.write_text(json.dumps({"x": NEHALEM}))
    inventory = load_inventory([first, second])
    assert not inventory.hosts and "no CPU model" in inventory.failures["x"]
    assert inventory.failures[f"x (duplicate, {second})"] == cpucompat.planner.inventory.DUPLICATE
    shapes = {"keys.json": '{"x": {"arch": "x86_64"}, "x": %s}' % json.dumps(NEHALEM),
              "keys.yaml": "x: {arch: x86_64}\nx: {arch: x86_64, model: Nehalem}\n",
              "rows.json": json.dumps([{"hypervisor_hostname": "x", "cpu_info": {"arch": "x86_64"}},
                                       {"hypervisor_hostname": "x", "cpu_info": NEHALEM}])}
    for name, text in shapes.items():
        (tmp_path / name).write_text(text)
        inventory = load_inventory(tmp_path / name)
        assert not inventory.hosts and "no CPU model" in inventory.failures["x"], name
        assert inventory.failures[f"x (duplicate, {tmp_path / name})"] == cpucompat.planner.inventory.DUPLICATE, name


def test_mysql_batch_with_crlf_line_endings_keeps_every_host(tmp_path):
    rows = [("cmp-1", json.dumps(HASWELL), "0"), ("cmp-2", json.dumps(NEHALEM), "0"),
            ("cmp-3", json.dumps(NEHALEM), "3")]
    path = tmp_path / "compute_nodes.tsv"
    path.write_bytes("".join("\t".join(row) + "\r\n" for row in
                             [("hypervisor_hostname", "cpu_info", "deleted"), *rows]).encode())
    inventory = load_inventory(path)
    assert {h: c.model for h, c in inventory.hosts.items()} == {"cmp-1": "Haswell-noTSX", "cmp-2": "Nehalem"}
    assert not inventory.failures
    assert set(load_inventory([path, "sample"]).hosts) >= {"cmp-1", "cmp-2"}


WRAPPED = {  # the same inventory in JSON and in YAML: hosts under a wrapper, members beside it
    "json": '{"extra-host": %s, "hosts": {"a": %s}, "late-host": %s}' % (json.dumps(HASWELL), json.dumps(NEHALEM),
                                                                        json.dumps(HASWELL)),
    "yaml": "extra-host: {arch: x86_64, model: Haswell}\nhosts:\n  a: {arch: x86_64, model: Nehalem}\n"
            "late-host: {arch: x86_64, model: Haswell}\n",
}


@pytest.mark.parametrize("kind", sorted(WRAPPED))
def test_members_beside_the_hosts_wrapper_are_reported_not_dropped(tmp_path, kind):
    path = tmp_path / f"fleet.{kind}"
    path.write_text(WRAPPED[kind])
    inventory = load_inventory(path)
    assert list(inventory.hosts) == ["a"]
    assert sorted(inventory.failures) == ["extra-host", "late-host"]
    assert all("beside 'hosts'" in reason for reason in inventory.failures.values())


@pytest.mark.parametrize("kind", ["json", "yaml"])
def test_a_wrapper_after_many_hosts_reports_every_one_of_them(tmp_path, kind):
    hosts = {f"h{i}": NEHALEM for i in range(120)}
    path = tmp_path / f"fleet.{kind}"
    text = json.dumps(dict(hosts, hosts={"a": NEHALEM}))  # JSON is YAML too
    path.write_text(text if kind == "json" else "# YAML\n" + text)
    inventory = load_inventory(path)
    assert list(inventory.hosts) == ["a"] and set(inventory.failures) == set(hosts)


@pytest.mark.parametrize("kind", ["json", "yaml"])
def test_two_wrappers_are_refused_alike_in_json_and_yaml(tmp_path, kind):
    path = tmp_path / f"fleet.{kind}"
    text = json.dumps({"hosts": {"a": NEHALEM}, "hypervisors": [{"hypervisor_hostname": "b", "cpu_info": NEHALEM}]})
    path.write_text(text if kind == "json" else "# YAML\n" + text)
    with pytest.raises(cpucompat.InvalidInventory, match="both 'hosts' and 'hypervisors' list hosts"):
        load_inventory(path)


def test_the_api_page_link_beside_hypervisors_is_no_host(tmp_path):
    path = tmp_path / "page.yaml"
    path.write_text(json.dumps({"hypervisors": [{"hypervisor_hostname": "a", "cpu_info": NEHALEM}],
                                "hypervisors_links": [{"href": "https://nova/os-hypervisors?marker=a"}]}))
    inventory = load_inventory(path)
    assert list(inventory.hosts) == ["a"] and not inventory.failures


def test_a_row_giving_a_column_twice_is_reported(tmp_path):
    path = tmp_path / "rows.json"
    path.write_text('[{"hypervisor_hostname": "a", "cpu_info": %s, "cpu_info": %s},'
                    ' {"hypervisor_hostname": "b", "cpu_info": %s}]' % (json.dumps(NEHALEM), json.dumps(HASWELL),
                                                                       json.dumps(NEHALEM)))
    inventory = load_inventory(path)
    assert list(inventory.hosts) == ["b"]
    assert inventory.failures["a"] == f"{path}: host a: its row gives 'cpu_info' twice"


DEEP = "[" * 100_000 + "]" * 100_000


def test_nesting_too_deep_for_python_is_reported_as_an_inventory_error(tmp_path):
    text = tmp_path / "text.json"  # cpu_info as JSON text: each host fails, the others load
    text.write_text(json.dumps({"a": DEEP, "b": '{"x": ' * 100_000 + "1" + "}" * 100_000, "c": NEHALEM}))
    inventory = load_inventory(text)
    assert list(inventory.hosts) == ["c"]
    assert set(inventory.failures) == {"a", "b"}
    assert all(reason.startswith(f"{text}: host ") and "nested too deeply" in reason
               for reason in inventory.failures.values())
    directory = tmp_path / "hosts"
    directory.mkdir()
    (directory / "a.json").write_text(DEEP)
    (directory / "c.json").write_text(json.dumps(NEHALEM))
    inventory = load_inventory(directory)
    assert list(inventory.hosts) == ["c"] and "nested too deeply" in inventory.failures["a"]
    for name, content in (("fleet.json", '{"a": %s}' % DEEP), ("fleet.yaml", "a: " + DEEP)):
        with pytest.raises(cpucompat.InvalidInventory, match="nested too deeply to be read"):
            load_inventory(tmp_path / name) if (tmp_path / name).write_text(content) else None


def test_a_cpu_path_holding_a_nul_byte_is_a_failure(tmp_path):
    path = tmp_path / "fleet.json"
    path.write_text(json.dumps({"a": "caps\0.xml", "b": NEHALEM}))
    inventory = load_inventory(path)
    assert list(inventory.hosts) == ["b"] and "cannot read: embedded null byte" in inventory.failures["a"]


def test_a_cpu_path_that_looks_like_cpuinfo_words_is_read_as_a_path(tmp_path):
    shutil.copy(INPUTS / "amd-vm-capabilities.xml", tmp_path / "flagship-01.xml")
    path = tmp_path / "fleet.json"
    path.write_text(json.dumps({"flagship-01": "flagship-01.xml",
                                "proc": (INPUTS / "amd-vm-proc-cpuinfo.txt").read_text()}))
    inventory = load_inventory(path)
    assert set(inventory.hosts) == {"flagship-01", "proc"} and not inventory.failures


def test_only_attempts_within_their_deadline_hold_one_of_the_slots(monkeypatch):
    """At most MAX_CONCURRENT_HOSTS hosts are read at once; a hung one, once
    past its deadline, frees its slot (its thread lives on, abandoned)."""
    import cpucompat.inputs.live

    release, lock = threading.Event(), threading.Lock()
    reading, most = 0, 0

    def fake_host_cpu(uri, cpumap):
        nonlocal reading, most
        if "hung" in uri:
            release.wait(60)
            raise cpucompat.CpuCompatError("gave up", source=uri)
        with lock:
            reading += 1
            most = max(most, reading)
        time.sleep(0.01)
        with lock:
            reading -= 1
        return cpucompat.parse_cpu_info(NEHALEM)

    monkeypatch.setattr(cpucompat.inputs.live, "host_cpu_from_libvirt", fake_host_cpu)
    try:
        many = [f"qemu+tcp://host-{i}/system" for i in range(3 * MAX_CONCURRENT_HOSTS)]
        assert len(load_inventory(many, timeout=60).hosts) == len(many)
        assert most <= MAX_CONCURRENT_HOSTS
        hung = [f"qemu+tcp://hung-{i}/system" for i in range(MAX_CONCURRENT_HOSTS)]
        inventory = load_inventory(hung + ["qemu+tcp://after/system"], timeout=0.2)
        assert list(inventory.hosts) == ["qemu+tcp://after/system"]
        assert sorted(inventory.failures) == sorted(hung)
    finally:
        release.set()
