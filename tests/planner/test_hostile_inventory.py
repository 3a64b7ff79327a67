"""Hostile inventories (issue 10), through the CLI as a user runs it: nothing
runs, no device or FIFO is opened, memory stays bounded, and each bad host
or file is one line naming it, never a traceback."""
from __future__ import annotations

import json
import os
import resource
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

from cpucompat.errors import UnsafeUri
from cpucompat.inputs.uris import check_uri

NEHALEM = {"arch": "x86_64", "model": "Nehalem", "vendor": "Intel"}
HASWELL = {"arch": "x86_64", "model": "Haswell-noTSX", "vendor": "Intel", "features": ["vmx"]}


def cpucompat(*args: str, memory: int | None = None, timeout: float = 120) -> subprocess.CompletedProcess:
    """Run the installed `cpucompat` command; `memory` caps its address space."""
    def limit() -> None:
        if memory is not None:
            resource.setrlimit(resource.RLIMIT_AS, (memory, memory))

    return subprocess.run([sys.executable, "-m", "cpucompat", *map(str, args)], capture_output=True, text=True,
                          timeout=timeout, preexec_fn=limit, errors="replace", cwd=tempfile.gettempdir())


def unreadable(result: subprocess.CompletedProcess) -> dict[str, str]:
    assert result.returncode == 0, result.stderr
    assert "Traceback" not in result.stderr
    return json.loads(result.stdout)["unreadable"]


def one_line_error(result: subprocess.CompletedProcess, *names: str) -> str:
    """The single stderr line of a failed command, which names each of `names`."""
    assert result.returncode == 2, (result.returncode, result.stderr)
    assert "Traceback" not in result.stderr and "internal error" not in result.stderr, result.stderr
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    for name in names:
        assert name in lines[0], (name, lines[0])
    return lines[0]


# -- row 1: libvirt URIs never run a program or open a local file -------------

@pytest.fixture
def evil(tmp_path):
    """A script that leaves a marker when run, and the marker's path."""
    marker = tmp_path / "marker"
    script = tmp_path / "evil.sh"
    script.write_text(f"#!/bin/sh\ntouch {marker}\n")
    script.chmod(0o755)
    return script, marker


HOSTILE_URIS = {
    "qemu+ext:///system?command={script}": "transport 'ext' runs a local program",
    "qemu+ssh://host.example/system?command={script}": "parameter 'command' names a local program",
    "qemu+ssh://host.example/system?COMM%41ND={script}": "parameter 'command' names a local program",
    "qemu+ssh://host.example/system?mode=auto&netcat={script}": "parameter 'netcat'",
    "qemu+unix:///system?socket=/run/other.sock": "parameter 'socket' names a local socket",
    "qemu+libssh2://host.example/system?known_hosts=/etc/passwd": "parameter 'known_hosts'",
    "qemu+ssh://host.example/system?keyfile=/root/.ssh/id_rsa": "parameter 'keyfile'",
    "qemu+tls://host.example/system?pkipath=/tmp/pki": "parameter 'pkipath'",
    "qemu+ssh://host.example/system?authfile=/etc/shadow": "parameter 'authfile'",
    "qemu+ssh://host.example/system?no_verify=1": "parameter 'no_verify'",
    "qemu+ssh://host.example/system?name=qemu%2Bext:///system": "parameter 'name'",
    "qemu:///embed?root=/etc": "path '/embed'",
    "test:///etc/shadow": "path '/etc/shadow'",
    "qemu+ssh://-oProxyCommand=x/system": "not a plain [user@]host[:port]",
    "qemu+ssh://h;id/system": "not a plain [user@]host[:port]",
    "qemu+ssh://host.example/system#x": "fragment",
}


@pytest.mark.parametrize("uri", HOSTILE_URIS)
def test_a_uri_that_could_run_or_open_something_local_is_refused(uri, evil):
    with pytest.raises(UnsafeUri) as refused:
        check_uri(uri.format(script=evil[0]))
    assert "not opened: " in str(refused.value) and HOSTILE_URIS[uri] in str(refused.value)


@pytest.mark.parametrize("uri", ["qemu:///system", "qemu:///session", "test:///default",
                                 "qemu+ssh://root@host-1.example:2222/system?no_tty=1&mode=direct",
                                 "qemu+tls://[2001:db8::1]/system", "qemu+tcp://10.0.0.1:16509/system",
                                 "qemu+libssh://admin@host/system?sshauth=agent,privkey&proxy=native",
                                 "qemu+unix:///system", "lxc:///", "xen:///system"])
def test_uris_that_only_reach_a_daemon_are_allowed(uri):
    check_uri(uri)


def test_a_uri_list_never_runs_its_command_even_with_the_trust_flag(tmp_path, evil):
    script, marker = evil
    listing = tmp_path / "uris.txt"
    listing.write_text(f"qemu+ext:///system?command={script}\nqemu+ssh://h.example/system?command={script}\n")
    for trust in ([], ["--trust-command-line-uris"]):
        failures = unreadable(cpucompat("classes", listing, "sample", "--json", "--timeout", "5", *trust))
        assert set(failures) == {f"qemu+ext:///system?command={script}", f"qemu+ssh://h.example/system?command={script}"}
        assert all("not opened" in reason for reason in failures.values())
        assert not marker.exists()


def test_a_uri_typed_on_the_command_line_runs_nothing_unless_trusted(tmp_path, evil):
    script, marker = evil
    uri = f"qemu+ext:///system?command={script}"
    failures = unreadable(cpucompat("classes", uri, "sample", "--json", "--timeout", "5"))
    assert failures == {uri: f"{uri}: not opened: transport 'ext' runs a local program"}
    assert not marker.exists()
    result = cpucompat("classes", uri, "--timeout", "5")  # the only host: the command fails, in one line each
    assert result.returncode == 2 and "not opened" in result.stderr and not marker.exists()
    if not _has_libvirt():
        return
    # the flag is the user's explicit choice, for what they typed: libvirt runs the command
    cpucompat("classes", uri, "sample", "--json", "--timeout", "5", "--trust-command-line-uris")
    assert marker.exists()


def _has_libvirt() -> bool:
    from cpucompat.inputs import live

    return live.libvirt_module() is not None


# -- row 2: only regular files are opened ------------------------------------

INPUTS = Path(__file__).resolve().parent.parent / "data" / "inputs"


@pytest.fixture
def fifo(tmp_path):
    path = tmp_path / "fifo"
    os.mkfifo(path)
    return path


def test_an_inventory_value_naming_a_fifo_is_that_hosts_reason(tmp_path, fifo):
    for name, text in (("fleet.json", json.dumps({"h": str(fifo), "n": NEHALEM})),
                       ("fleet.yaml", f"h: {fifo}\nn: {{arch: x86_64, model: Nehalem}}\n")):
        (tmp_path / name).write_text(text)
        failures = unreadable(cpucompat("classes", tmp_path / name, "--json", timeout=60))
        assert failures == {"h": f"{fifo}: cannot read: a FIFO, not a regular file"}, name


def test_a_directory_entry_that_is_a_fifo_is_that_hosts_reason(tmp_path, fifo):
    hosts = tmp_path / "hosts"
    hosts.mkdir()
    (hosts / "n.json").write_text(json.dumps(NEHALEM))
    (hosts / "f.xml").symlink_to(fifo)
    (hosts / "null.xml").symlink_to("/dev/null")
    failures = unreadable(cpucompat("classes", hosts, "--json", timeout=60))
    assert failures == {"f": f"{hosts / 'f.xml'}: cannot read: a FIFO, not a regular file",
                        "null": f"{hosts / 'null.xml'}: cannot read: a character device, not a regular file"}


@pytest.mark.parametrize("command", [("classes", "{fifo}"), ("domain", "sample", "{fifo}"),
                                     ("stranded", "sample", "{fifo}"), ("report", "sample", "-o", "{out}",
                                                                        "--guests", "{fifo}")])
def test_a_fifo_given_as_a_file_is_one_line_not_a_hang(tmp_path, fifo, command):
    args = [part.format(fifo=fifo, out=tmp_path / "r.html") for part in command]
    line = one_line_error(cpucompat(*args, timeout=60), str(fifo))
    assert "a FIFO, not a regular file" in line


# -- row 3: huge integers, names that are not text -----------------------------

HUGE = "1" * 5000


def test_an_integer_too_long_to_read_makes_only_its_host_unreadable(tmp_path):
    shapes = {
        "map.json": '{"a": {"arch": "x86_64", "model": "Nehalem", "cells": %s}, "n": %s}' % (HUGE, json.dumps(NEHALEM)),
        "rows.json": '[{"hypervisor_hostname": "a", "id": %s, "cpu_info": {}}, '
                     '{"hypervisor_hostname": "n", "cpu_info": %s}]' % (HUGE, json.dumps(NEHALEM)),
        "map.yaml": f"a: {{arch: x86_64, model: Nehalem, cells: {HUGE}}}\nn: {{arch: x86_64, model: Nehalem}}\n",
    }
    for name, text in shapes.items():
        (tmp_path / name).write_text(text)
        failures = unreadable(cpucompat("classes", tmp_path / name, "--json"))
        assert len(failures) == 1, (name, failures)
        (host, reason), = failures.items()
        assert host in ("a", "<row 0>") and "integer" in reason and "too long to read" in reason, (name, reason)
        assert len(reason) < 300


def test_a_host_name_holding_a_lone_surrogate_is_kept_and_every_output_survives(tmp_path):
    path = tmp_path / "fleet.json"
    path.write_text('{"h\\ud800": %s, "n": %s, "bad\\udcff": {}}' % (json.dumps(NEHALEM), json.dumps(NEHALEM)))
    for command in (["classes", path], ["report", path, "-o", tmp_path / "r.html"],
                    ["graph", path, "--format", "graphml", "-o", tmp_path / "g.graphml"]):
        result = cpucompat(*command)
        assert result.returncode == 0 and "Traceback" not in result.stderr, result.stderr
    result = cpucompat("classes", path, "--json")
    assert {h for c in json.loads(result.stdout)["classes"] for h in c["hosts"]} == {"h\ud800", "n"}
    assert list(unreadable(result)) == ["bad\udcff"]


def test_a_file_name_that_is_not_utf8_is_a_host_and_every_output_survives(tmp_path):
    hosts = tmp_path / "hosts"
    hosts.mkdir()
    (hosts / "n.json").write_text(json.dumps(NEHALEM))
    with open(os.path.join(os.fsencode(hosts), b"caf\xe9.json"), "w") as handle:
        handle.write(json.dumps(NEHALEM))
    with open(os.path.join(os.fsencode(hosts), b"bad\xff.json"), "w") as handle:
        handle.write("{}")
    result = cpucompat("classes", hosts, "--json")
    assert {h for c in json.loads(result.stdout)["classes"] for h in c["hosts"]} == {"caf\udce9", "n"}
    assert list(unreadable(result)) == ["bad\udcff"]
    for command in (["classes", hosts], ["report", hosts, "-o", tmp_path / "r.html"],
                    ["graph", hosts, "--format", "graphml", "-o", tmp_path / "g.graphml"]):
        result = cpucompat(*command)
        assert result.returncode == 0 and "Traceback" not in result.stderr, result.stderr


# -- row 4: JSON nested too deeply for Python ----------------------------------

def test_qemu_models_nested_too_deeply_is_one_line_naming_the_file(tmp_path):
    models = tmp_path / "models.json"
    models.write_text('{"return": ' + "[" * 100_000 + "]" * 100_000 + "}")
    line = one_line_error(cpucompat("decode", "--guest", "--qemu-models", models, INPUTS / "amd-vm-capabilities.xml"),
                          str(models))
    assert "nested too deeply" in line
    models.write_text('{"return": [{"name": "Nehalem", "x": %s}]}' % HUGE)
    assert "integer too long" in one_line_error(
        cpucompat("decode", "--guest", "--qemu-models", models, INPUTS / "amd-vm-capabilities.xml"), str(models))


# -- row 5: YAML errors, libyaml, size --------------------------------------------

@pytest.mark.parametrize("text, place, problem", [
    ("hosts:\n  a: {arch: x86_64, model: [}\n", "line 2 column 29", "expected node content"),
    ("hosts:\n  a: &cpu {arch: x86_64, model: Nehalem}\n  b: *cpu\n", "line 3 column 6", "found an alias (*cpu)"),
    ("hosts:\n  a: {arch: x86_64\n  b: 1\n", "line 3", "expected ',' or '}'"),
    ("a: b\x01\n", "character 4", "characters are not allowed"),
    ("a: " + "[" * 5000 + "]" * 5000 + "\n", "", "nested too deeply"),
])
def test_a_yaml_error_is_one_line_naming_the_file_and_the_place(tmp_path, text, place, problem):
    path = tmp_path / "fleet.yaml"
    path.write_text(text)
    line = one_line_error(cpucompat("classes", path), str(path), place, problem)
    assert "<unicode string>" not in line


def test_yaml_is_parsed_by_libyaml_when_pyyaml_has_it():
    yaml = pytest.importorskip("yaml")
    from cpucompat.inputs import yamlread

    if not yaml.__with_libyaml__:
        pytest.skip("PyYAML is built without libyaml")
    from yaml._yaml import CParser

    assert CParser in yamlread._loader().__mro__


def _yaml_fleet(path: Path, size: int) -> int:
    """A YAML inventory of about `size` bytes; the number of its hosts."""
    host = "  host-{:07d}.example.com: {{arch: x86_64, model: Haswell-noTSX, vendor: Intel, features: [vmx, invtsc]}}\n"
    count = size // len(host.format(0))
    with path.open("w") as out:
        out.write("hosts:\n")
        out.writelines(host.format(i) for i in range(count))
    return count


def test_a_large_yaml_inventory_is_read_in_bounded_memory(tmp_path):
    path = tmp_path / "fleet.yaml"
    count = _yaml_fleet(path, 1 << 20)
    result = cpucompat("classes", path, "--json", memory=1 << 30)
    assert result.returncode == 0, result.stderr
    assert sum(len(c["hosts"]) for c in json.loads(result.stdout)["classes"]) == count


def test_a_yaml_inventory_past_the_limit_is_refused_before_parsing(tmp_path):
    from cpucompat.inputs.yamlread import MAX_YAML_BYTES

    path = tmp_path / "fleet.yaml"
    _yaml_fleet(path, MAX_YAML_BYTES + (1 << 20))
    line = one_line_error(cpucompat("classes", path, memory=1 << 30), str(path))
    assert f"at most {MAX_YAML_BYTES >> 20} MiB" in line and "JSON" in line


# -- row 6: a row past the per-host limit -------------------------------------------

def test_a_200_mb_row_is_skipped_unread_in_bounded_memory(tmp_path):
    path = tmp_path / "nodes.json"
    with path.open("w") as out:
        out.write('[{"hypervisor_hostname": "big", "cpu_info": "')
        chunk = "x" * (1 << 20)
        for _ in range(200):
            out.write(chunk)
        out.write('"}, {"hypervisor_hostname": "n", "cpu_info": %s}]' % json.dumps(json.dumps(NEHALEM)))
    result = cpucompat("classes", path, "--json", memory=1 << 30)
    failures = unreadable(result)
    assert list(failures) == ["<row 0>"] and "larger than 1 MiB of text, not read" in failures["<row 0>"]
    assert [c["hosts"] for c in json.loads(result.stdout)["classes"]] == [["n"]]


def test_a_mysql_row_past_the_limit_is_named_from_its_first_cells(tmp_path):
    path = tmp_path / "compute_nodes.tsv"
    path.write_text("hypervisor_hostname\tdeleted\tcpu_info\n"
                    f"big\t0\t{'x' * (30 << 20)}\n"
                    f"n\t0\t{json.dumps(NEHALEM)}\n")
    failures = unreadable(cpucompat("classes", path, "--json", memory=1 << 30))
    assert list(failures) == ["big"] and "longer than 1 MiB, not read" in failures["big"]
    assert len(failures["big"]) < 300


# -- row 7: nothing dropped silently ---------------------------------------------------

def test_a_mysql_row_whose_deleted_is_not_a_row_id_is_unreadable(tmp_path):
    path = tmp_path / "compute_nodes.tsv"
    path.write_text("hypervisor_hostname\tdeleted\tcpu_info\n"
                    f"odd\tnotanint\t{json.dumps(NEHALEM)}\n"
                    f"gone\t7\t{json.dumps(NEHALEM)}\n"
                    f"n\t0\t{json.dumps(NEHALEM)}\n")
    failures = unreadable(cpucompat("classes", path, "--json"))
    assert failures == {"odd": f"{path}: host odd: its 'deleted' is 'notanint': neither 0 (a live row) "
                               "nor the id of a deleted row"}


# -- row 8: Nova's values are data, never file names ---------------------------------------

def test_a_cpu_info_naming_a_file_is_never_opened(tmp_path):
    cpu_file = tmp_path / "caps.xml"  # readable: were it opened, the host would load
    cpu_file.write_text((INPUTS / "amd-vm-capabilities.xml").read_text())
    good = json.dumps(NEHALEM)
    shapes = {
        "rows.json": json.dumps([{"hypervisor_hostname": "x", "cpu_info": str(cpu_file)},
                                 {"hypervisor_hostname": "n", "cpu_info": good}]),
        "show.json": json.dumps({"hypervisor_hostname": "x", "cpu_info": str(cpu_file)})
                     + json.dumps({"hypervisor_hostname": "n", "cpu_info": good}),
        "api.json": json.dumps({"hypervisors": [{"hypervisor_hostname": "x", "cpu_info": "caps.xml"},
                                                {"hypervisor_hostname": "n", "cpu_info": good}]}),
        "nodes.tsv": f"hypervisor_hostname\tcpu_info\tdeleted\nx\t{cpu_file}\t0\nn\t{good}\t0\n",
    }
    for name, text in shapes.items():
        (tmp_path / name).write_text(text)
        failures = unreadable(cpucompat("classes", tmp_path / name, "--json"))
        assert list(failures) == ["x"] and "never read as a file name" in failures["x"], (name, failures)
    (tmp_path / "mine.yaml").write_text(f"x: {cpu_file}\n")  # an inventory the user wrote may name files
    assert unreadable(cpucompat("classes", tmp_path / "mine.yaml", "--json")) == {}


# -- row 9: names in reasons are cut ------------------------------------------------------

def test_long_names_are_cut_in_reasons(tmp_path):
    path = tmp_path / "fleet.json"
    path.write_text(json.dumps({"long": {"arch": "x86_64", "model": "M" * 500_000},
                                "feature": {"arch": "x86_64", "model": "Nehalem", "features": ["f" * 300_000]},
                                "huge": {"arch": "x86_64", "model": "M" * 10_000_000}, "n": NEHALEM}))
    result = cpucompat("classes", path)
    assert result.returncode == 0 and max(map(len, result.stderr.splitlines())) < 400, result.stderr[:2000]
    failures = unreadable(cpucompat("classes", path, "--json"))
    assert "model name of 500000 characters (at most 200)" in failures["long"]
    assert "feature name of 300000 characters" in failures["feature"]
    assert "larger than 1 MiB" in failures["huge"]


# -- properties -------------------------------------------------------------------------

def test_every_host_of_a_hostile_inventory_is_answered_or_listed(tmp_path_factory):
    """Whatever names and values a JSON or YAML inventory holds (lone
    surrogates, control and bidi characters, integers too long to read,
    paths), loading it raises nothing but CpuCompatError, and each distinct
    host is either read or listed unreadable: none is lost."""
    from hypothesis import HealthCheck, given, settings
    from hypothesis import strategies as st

    import cpucompat
    from cpucompat.planner.inventory import load_inventory

    names = st.text(st.characters(codec=None, exclude_characters="\x00"), min_size=1, max_size=12)
    values = st.one_of(st.just(NEHALEM), st.just(HASWELL), st.just("/dev/zero"), st.just("{}"),
                       st.text(max_size=20), st.integers(), st.just("HUGE"),
                       st.fixed_dictionaries({"arch": st.just("x86_64"), "model": names}))
    directory = tmp_path_factory.mktemp("hostile")

    @settings(max_examples=60, deadline=None, suppress_health_check=list(HealthCheck))
    @given(st.dictionaries(names, values, min_size=1, max_size=6), st.sampled_from(["json", "yaml"]))
    def check(hosts, kind):
        path = directory / f"fleet.{kind}"
        if kind == "json":
            text = json.dumps(hosts).replace('"HUGE"', HUGE)
        else:
            text = "".join(f"{json.dumps(name)}: {json.dumps(value) if value != 'HUGE' else HUGE}\n"
                           for name, value in hosts.items())
        path.write_text(text, errors="surrogatepass")
        try:
            inventory = load_inventory(path)
        except cpucompat.CpuCompatError:
            return  # the whole file refused, in one message
        listed = set(inventory.hosts) | set(inventory.failures)
        assert len(listed) >= len(hosts)

    check()
