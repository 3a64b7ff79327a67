"""The HTML report and the lattice exports; the report in a real browser."""
from __future__ import annotations

import re
import shutil
import struct
import subprocess
import tempfile
import xml.dom.minidom
from pathlib import Path

import networkx as nx
import pytest

import cpucompat
from cpucompat.cli import main as cli
from cpucompat.planner.fleet import Fleet, Guest
from cpucompat.planner.report import graph_dot, graph_graphml, graph_svg, html_report


@pytest.fixture(scope="module")
def fleet():
    return Fleet.load("sample")


@pytest.fixture(scope="module")
def report(fleet, tmp_path_factory):
    path = tmp_path_factory.mktemp("report") / "report.html"
    pinned = fleet.class_of["icelake-01"].host_model.as_cpu().with_features([("invtsc", "require")])
    path.write_text(html_report(fleet, fleet.domains(), fleet.stranded([Guest("web-1", "icelake-01"),
                                                                        Guest("db-1", "icelake-01", pinned)])))
    return path


def test_report_is_self_contained(report):
    text = report.read_text()
    assert "<svg" in text and "<script" not in text
    assert "http://" not in text.replace('xmlns="http://www.w3.org/2000/svg"', "")


def test_report_lists_the_guests_that_could_not_be_checked_escaped(fleet):
    unchecked = [{"guest": "<b>web</b>", "entry": 3, "reason": "its host a&b is not in the inventory"},
                 {"guest": "guest-4", "entry": 4, "reason": "expected an object {name, host[, cpu]}, not null"}]
    text = html_report(fleet, fleet.domains(), fleet.stranded([Guest("db-1", "icelake-01")]), unchecked)
    section = text.split("<table id='unchecked'>")[1].split("</table>")[0]
    assert section.count("<tr>") == 3  # the header and each entry
    assert ("<td><bdi>&lt;b&gt;web&lt;/b&gt;</bdi></td><td>3</td>"
            "<td><bdi>its host a&amp;b is not in the inventory</bdi></td>") in section
    assert "<b>web" not in text
    checked = fleet.stranded([Guest("db-1", "icelake-01")])
    assert "<table id='unchecked'>" not in html_report(fleet, fleet.domains(), checked)


def test_report_lists_the_guests_stranded_could_not_answer_for_by_default(fleet):
    stranded = fleet.stranded([Guest("db-1", "icelake-01"), Guest("lost", "no-such-host")])
    text = html_report(fleet, fleet.domains(), stranded)
    assert "<p>0 of 1 guests cannot move.</p>" in text
    section = text.split("<table id='unchecked'>")[1].split("</table>")[0]
    assert "<tr><td><bdi>lost</bdi></td><td>1</td><td><bdi>sample: host no-such-host is not in the fleet</bdi></td></tr>" in section


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


def _ladder() -> Fleet:
    """Two vendors, twenty classes, edges that skip layers (IvyBridge with
    AVX2 reaches Cooperlake and Skylake-Client, three layers up)."""
    intel = ["Conroe", "Penryn", "Nehalem", "Westmere", "SandyBridge", "IvyBridge", "Haswell-noTSX", "Haswell",
             "Broadwell", "Skylake-Client", "Skylake-Server", "Cascadelake-Server", "Icelake-Server",
             "Cooperlake", "Snowridge"]
    hosts = {f"{m.lower()}-01": cpucompat.Cpu(model=m, vendor="Intel", arch="x86_64") for m in intel}
    hosts.update({f"{m.lower()}-01": cpucompat.Cpu(model=m, vendor="AMD", arch="x86_64")
                  for m in ("Opteron_G3", "Opteron_G5", "EPYC", "EPYC-Rome", "EPYC-Milan")})
    hosts["ivybridge-avx2"] = cpucompat.Cpu(model="IvyBridge", vendor="Intel", arch="x86_64",
                                            features=(("pcid", "require"), ("avx2", "require")))
    return Fleet(hosts)


def _bezier_points(d: str, steps: int = 40) -> list[tuple[float, float]]:
    """Points along an SVG path made of M, C and L commands."""
    points: list[tuple[float, float]] = []
    for command, numbers in re.findall(r"([MCL])([^MCL]*)", d):
        xy = [float(n) for n in re.findall(r"-?[\d.]+", numbers)]
        if command == "M":
            points.append((xy[0], xy[1]))
        elif command == "L":
            (x0, y0), (x1, y1) = points[-1], (xy[0], xy[1])
            points += [(x0 + (x1 - x0) * t / steps, y0 + (y1 - y0) * t / steps) for t in range(1, steps + 1)]
        else:
            p0, p1, p2, p3 = points[-1], (xy[0], xy[1]), (xy[2], xy[3]), (xy[4], xy[5])
            for i in range(1, steps + 1):
                t = i / steps
                points.append(tuple((1 - t) ** 3 * a + 3 * (1 - t) ** 2 * t * b + 3 * (1 - t) * t ** 2 * c
                                    + t ** 3 * e for a, b, c, e in zip(p0, p1, p2, p3)))
    return points


@pytest.mark.parametrize("make", [lambda: Fleet.load("sample"), _ladder], ids=["sample", "ladder"])
def test_svg_edges_run_between_boxes_never_through_one(make):
    fleet = make()
    dom = xml.dom.minidom.parseString(graph_svg(fleet))
    boxes = [tuple(float(r.getAttribute(k)) for k in ("x", "y", "width", "height"))
             for r in dom.getElementsByTagName("rect")]
    edges = [p for p in dom.getElementsByTagName("path") if p.getAttribute("class") == "edge"]
    assert len(boxes) == len(fleet.lattice()[1]) and edges
    for edge in edges:
        points = _bezier_points(edge.getAttribute("d"))
        for x, y in points:
            inside = [b for b in boxes if b[0] + 1 < x < b[0] + b[2] - 1 and b[1] + 1 < y < b[1] + b[3] - 1]
            assert not inside, f"{edge.firstChild.firstChild.data} runs through the box at {inside[0][:2]}"
        (x0, y0), (x1, y1) = points[0], points[-1]
        # leaves the top of one box, arrives at the bottom of another
        assert any(b[0] < x0 < b[0] + b[2] and y0 == b[1] for b in boxes)
        assert any(b[0] < x1 < b[0] + b[2] and abs(y1 - (b[1] + b[3])) < 0.01 for b in boxes)


def test_png_export_through_graphviz(tmp_path):
    if shutil.which("dot") is None:
        pytest.skip("Graphviz's dot is not installed: the PNG export is not tested "
                    "(Debian: apt-get install graphviz)")
    path = tmp_path / "lattice.png"
    assert cli.main(["graph", "sample", "--format", "png", "-o", str(path)]) == 0
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and data[12:16] == b"IHDR"
    width, height = struct.unpack(">II", data[16:24])
    assert width > 100 and height > 100 and len(data) > 5_000  # eight classes drawn, not an empty image


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
