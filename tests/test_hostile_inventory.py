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
from cpucompat.uris import check_uri

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
    from cpucompat import live

    return live.libvirt_module() is not None
