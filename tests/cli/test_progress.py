"""Progress of long reads: a line rewritten in place on a terminal (a pty
here), nothing at all when stderr is piped or redirected."""
from __future__ import annotations

import contextlib
import io
import json
import sys

import cpucompat.inputs.jsonstream
from cpucompat.cli import main as cli
from cpucompat.cli.progress import ProgressLine

NEHALEM = {"arch": "x86_64", "model": "Nehalem", "vendor": "Intel", "features": ["vmx"]}


def _compute_nodes(path, rows: int) -> None:
    path.write_text(json.dumps([{"hypervisor_hostname": f"cmp-{i:05d}", "cpu_info": NEHALEM, "deleted": 0}
                                for i in range(rows)]))


def test_a_large_inventory_shows_progress_on_a_terminal(tmp_path, monkeypatch, terminal):
    inventory = tmp_path / "nodes.json"
    _compute_nodes(inventory, 2000)
    monkeypatch.setattr(cpucompat.inputs.jsonstream.JsonStream, "chunk", 4096)  # many reads, each reported
    monkeypatch.setattr(ProgressLine, "delay", 0.0)  # this read is quick: show it from the start
    with open(terminal.fd, "w", closefd=False) as stderr, contextlib.redirect_stdout(io.StringIO()):
        monkeypatch.setattr(sys, "stderr", stderr)
        assert cli.main(["classes", str(inventory)]) == 0
    shown = terminal.received()
    size = inventory.stat().st_size
    assert f"\rread {size // 1024:,}/{size // 1024:,} KiB" in shown  # the end of the read is shown
    assert shown.count("\rread ") >= 2 and shown.endswith("\n")  # rewritten in place, then the line ends


def test_a_large_inventory_read_through_a_pipe_writes_nothing_on_stderr(tmp_path, monkeypatch):
    inventory = tmp_path / "nodes.json"
    _compute_nodes(inventory, 2000)
    monkeypatch.setattr(cpucompat.inputs.jsonstream.JsonStream, "chunk", 4096)
    monkeypatch.setattr(ProgressLine, "delay", 0.0)
    stderr = io.StringIO()  # not a terminal
    with contextlib.redirect_stderr(stderr), contextlib.redirect_stdout(io.StringIO()):
        assert cli.main(["classes", str(inventory)]) == 0
    # only the line naming the map that answered; no progress
    assert [line for line in stderr.getvalue().splitlines() if not line.startswith("cpucompat: cpu_map:")] == []
