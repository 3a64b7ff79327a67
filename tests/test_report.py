"""The HTML report and the lattice exports; the report in a real browser."""
from __future__ import annotations

import shutil
import subprocess
import tempfile
import xml.dom.minidom
from pathlib import Path

import networkx as nx
import pytest

from cpucompat.fleet import Fleet, Guest
from cpucompat.report import graph_dot, graph_graphml, graph_svg, html_report


@pytest.fixture(scope="module")
def fleet():
    return Fleet.load("sample")


@pytest.fixture(scope="module")
def report(fleet, tmp_path_factory):
    path = tmp_path_factory.mktemp("report") / "report.html"
    pinned = fleet.class_of["icelake-01"].host_model.as_cpu().with_features([("invtsc", "require")])
    path.write_text(html_report(fleet, fleet.domains(), [Guest("web-1", "icelake-01"),
                                                         Guest("db-1", "icelake-01", pinned)]))
    return path


def test_report_is_self_contained(report):
    text = report.read_text()
    assert "<svg" in text and "<script" not in text
    assert "http://" not in text.replace('xmlns="http://www.w3.org/2000/svg"', "")


def test_graphml_round_trips_through_networkx(fleet, tmp_path):
    path = tmp_path / "g.graphml"
    path.write_text(graph_graphml(fleet))
    graph = nx.read_graphml(path)
    assert graph.number_of_nodes() == len(fleet.classes)
    assert sum(int(d["hosts"]) for _, d in graph.nodes(data=True)) == 44


def test_dot_and_svg_draw_every_class(fleet):
    dot, svg = graph_dot(fleet), graph_svg(fleet)
    assert dot.startswith("digraph") and "->" in dot
    xml.dom.minidom.parseString(svg)  # well-formed
    assert svg.count('class="cpu-class"') == len(fleet.classes)  # no two classes reach each other here


def _chromium() -> str:
    for name in ("chromium", "chromium-browser", "google-chrome"):
        if shutil.which(name):
            return shutil.which(name)
    pytest.skip("no chromium on this machine: the browser test of the report is skipped "
                "(Debian: apt-get install chromium)")


FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
         "--disable-component-update", "--disable-sync", "--no-first-run", "--disable-quic"]


def test_report_renders_in_a_real_browser(report, fleet):
    browser = _chromium()
    with tempfile.TemporaryDirectory() as profile:
        dom = subprocess.run([browser, *FLAGS, f"--user-data-dir={profile}", "--dump-dom", report.as_uri()],
                             capture_output=True, text=True, timeout=120)
        shot = Path(profile) / "shot.png"
        subprocess.run([browser, *FLAGS, f"--user-data-dir={profile}", f"--screenshot={shot}",
                        "--window-size=1400,1000", report.as_uri()], capture_output=True, timeout=120)
        assert shot.exists() and shot.stat().st_size > 10_000
    assert dom.returncode == 0, dom.stderr[-500:]
    assert "<svg" in dom.stdout and 'id="lattice"' in dom.stdout
    for host in fleet.hosts:
        assert f">{host}<" in dom.stdout
    assert "db-1" in dom.stdout and "web-1" not in dom.stdout  # only the stranded guest is listed
