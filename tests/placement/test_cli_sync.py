"""``cpucompat placement sync`` against a real Placement: text, JSON (keys as
docs/cli.rst lists them), dry run, hosts without a provider, errors."""
from __future__ import annotations

import contextlib
import io
import json
import re
from pathlib import Path

import pytest

from cpucompat.cli import main as cli
from cpucompat.placement import host_traits
from cpucompat.planner.fleet import Fleet

CLI_DOC = Path(__file__).resolve().parents[2] / "docs" / "cli.rst"


def _run(*args: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        status = cli.main(list(args))
    return status, out.getvalue(), err.getvalue()


@pytest.fixture
def cloud(placement):
    """Placement with a provider for every sample host but the first."""
    hosts = Fleet.load("sample").hosts
    client = placement.client()
    for name in hosts[1:]:
        client.create_provider(name, vcpus=8)
    return placement, hosts


def test_sync_then_again_then_dry_run(cloud, monkeypatch):
    placement, hosts = cloud
    monkeypatch.setenv("OS_TOKEN", "admin")
    status, out, err = _run("placement", "sync", "sample", "--placement-url", placement.url, "--dry-run")
    assert status == 0
    assert f"{len(hosts) - 1} hosts would change" in out and "dry run: nothing written" in out
    assert err.count("no resource provider of that name") == 1 and hosts[0] in err
    assert not placement.client().traits("CUSTOM_CPUCOMPAT_")  # the dry run created nothing

    status, out, err = _run("placement", "sync", "sample", "--placement-url", placement.url)
    assert status == 0 and f"{len(hosts) - 1} hosts changed" in out
    line = next(li for li in out.splitlines() if li.startswith(hosts[1] + ":"))
    expected = host_traits(Fleet.load("sample"))[hosts[1]]
    assert set(line.split(": ", 1)[1].split()) == {"+" + t for t in expected}

    status, out, _ = _run("placement", "sync", "sample", "--placement-url", placement.url)
    assert status == 0 and "0 hosts changed" in out and "nothing written" in out


def _documented_keys() -> set[str]:
    text = CLI_DOC.read_text()
    section = text[text.index("JSON keys of the Placement commands"):]
    body = re.search(r"^``placement sync``\n((?:    .*\n)+)", section, flags=re.MULTILINE)
    assert body is not None
    return set(re.findall(r"``([a-z_]+)``", body.group(1))) | {"unreadable"}  # every Placement command's


def _keys(value) -> set[str]:
    if isinstance(value, dict):
        return set(value).union(*(_keys(v) for k, v in value.items() if k not in ("unreadable", "cpu_map")))
    if isinstance(value, list):
        return set().union(*(_keys(item) for item in value))
    return set()


def test_json_keys_are_the_documented_ones(cloud):
    placement, hosts = cloud
    status, out, _ = _run("placement", "sync", "sample", "--placement-url", placement.url, "--token", "admin",
                          "--json")
    value = json.loads(out)
    assert status == 0 and value["changed"] == len(hosts) - 1 and value["no_provider"] == 1
    assert _keys(value) - {"cpu_map"} == _documented_keys()
    assert {h["status"] for h in value["hosts"]} == {"changed", "no provider"}


@pytest.mark.parametrize("args, message", [
    ((), "say which Placement"),
    (("--placement-url", "file:///etc/passwd", "--token", "t"), "must be http:// or https://"),
    (("--placement-url", "http://127.0.0.1:9/", "--token", "t"), "cannot reach Placement"),
    (("--cloud", "a", "--placement-url", "http://h/"), "not both"),
    (("--cloud", "no-such-cloud-here"), "clouds.yaml cloud no-such-cloud-here"),
])
def test_errors_are_one_line_exit_2(args, message, monkeypatch, tmp_path):
    monkeypatch.delenv("OS_CLOUD", raising=False)
    monkeypatch.setenv("OS_CLIENT_CONFIG_FILE", str(tmp_path / "clouds.yaml"))
    (tmp_path / "clouds.yaml").write_text("clouds: {}\n")
    status, out, err = _run("placement", "sync", "sample", *args)
    assert status == 2 and out == "" and message in err and err.count("\n") == 1


def test_the_python_api_example_runs(placement, monkeypatch):
    text = (CLI_DOC.parent / "python-api.rst").read_text()
    section = text[text.index("Placement's REST API"):]
    code = section[section.index(".. code-block:: python"):].split("\n\n", 1)[1]
    block = "\n".join(line[4:] for line in code.split("\n\n\n")[0].splitlines())
    client = placement.client()
    hosts = Fleet.load("sample").hosts
    for name in hosts[:-1]:
        client.create_provider(name, vcpus=8)
    monkeypatch.setenv("OS_TOKEN", "admin")
    scope = {"placement_url": placement.url}
    exec(compile(block, "python-api.rst", "exec"), scope)  # noqa: S102 (our own documentation)
    assert [h.host for h in scope["result"].missing] == [hosts[-1]]
    names = {p.uuid: p.name for p in client.providers()}
    assert {names[u] for u in scope["on_icelake"]} == {h for h in hosts[:-1] if h.startswith("icelake")}


def test_a_clouds_yaml_cloud_reaches_its_placement(cloud, monkeypatch, tmp_path):
    placement, hosts = cloud
    config = tmp_path / "clouds.yaml"
    config.write_text(f"clouds:\n  lab:\n    auth_type: admin_token\n"
                      f"    auth:\n      endpoint: {placement.url}\n      token: admin\n")
    monkeypatch.setenv("OS_CLIENT_CONFIG_FILE", str(config))
    monkeypatch.delenv("OS_CLOUD", raising=False)
    status, out, _ = _run("placement", "sync", "sample", "--cloud", "lab", "--json")
    value = json.loads(out)
    assert status == 0 and value["changed"] == len(hosts) - 1 and "lab" in value["placement"]
    monkeypatch.setenv("OS_CLOUD", "lab")
    status, out, _ = _run("placement", "sync", "sample", "--dry-run")
    assert status == 0 and "0 hosts would change" in out


def test_a_terminal_shows_the_hosts_synced_a_pipe_does_not(cloud, monkeypatch, terminal):
    import sys

    from cpucompat.cli.progress import ProgressLine

    placement, hosts = cloud
    monkeypatch.setenv("OS_TOKEN", "admin")
    monkeypatch.setattr(ProgressLine, "delay", 0.0)
    with open(terminal.fd, "w", closefd=False) as stderr, contextlib.redirect_stdout(io.StringIO()):
        monkeypatch.setattr(sys, "stderr", stderr)
        assert cli.main(["placement", "sync", "sample", "--placement-url", placement.url]) == 0
    shown = terminal.received()
    assert f"\rsynced {len(hosts) - 1}/{len(hosts) - 1} hosts" in shown
    monkeypatch.undo()
    placement.clear()
    for name in hosts[1:]:
        placement.client().create_provider(name)
    monkeypatch.setenv("OS_TOKEN", "admin")
    monkeypatch.setattr(ProgressLine, "delay", 0.0)
    status, _, err = _run("placement", "sync", "sample", "--placement-url", placement.url)
    # only the host without a provider, and the map used (every text answer says it)
    assert status == 0 and "\rsynced" not in err and err.splitlines()[0].endswith("no resource provider of that name")
    assert len(err.splitlines()) == 2 and "cpu_map" in err.splitlines()[1]


def test_hosts_placement_refuses_to_update_are_one_line_each_and_exit_1(cloud, monkeypatch):
    """Placement's own policy forbids writing provider traits (as an operator
    may configure it): every host fails, each says why, none is changed."""
    from oslo_policy import policy as oslo_policy
    from placement import policy as placement_policy
    from placement.policies.trait import RP_TRAIT_UPDATE

    placement, hosts = cloud
    enforcer = placement_policy._ENFORCER
    monkeypatch.setitem(enforcer.rules, RP_TRAIT_UPDATE, oslo_policy._parser.parse_rule("!"))
    status, out, err = _run("placement", "sync", "sample", "--placement-url", placement.url, "--token", "admin")
    failures = [line for line in err.splitlines() if ": not updated: " in line]
    assert status == 1 and len(failures) == len(hosts) - 1
    assert all("set the traits of" in line and "HTTP 403" in line for line in failures)
    assert f"0 hosts changed, 0 unchanged, {len(hosts) - 1} failed" in out
    client = placement.client()
    assert all(not client.provider_traits(p).traits for p in client.providers())
