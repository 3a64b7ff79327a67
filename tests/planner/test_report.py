"""The HTML report and the lattice exports; the report in a real browser."""
from __future__ import annotations

import re
import shutil
import struct
import subprocess
import tempfile
import xml.dom.minidom
import zlib
from pathlib import Path

import networkx as nx
import pytest

import cpucompat
from cpucompat.cli import main as cli
from cpucompat.planner.fleet import Fleet, Guest
from cpucompat.planner.lattice import graph_dot, graph_graphml, graph_svg
from cpucompat.planner.report import html_report


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
    assert "<svg" in text
    assert "http://" not in text.replace('xmlns="http://www.w3.org/2000/svg"', "")
    assert "https://" not in text and " src=" not in text and "<link" not in text  # scripts and styles inline
    assert text.count("<script") == 2  # the fleet's JSON and the page's script


def test_report_header_names_the_map_version_not_its_path(report, fleet):
    summary = report.read_text().split("<p id='summary'>")[1].split("</p>")[0]
    assert f"cpu_map of libvirt {fleet.cpumap.version.removeprefix('libvirt ')}" in summary
    assert "site-packages" not in summary and "44 hosts in 8 CPU classes, 6 migration domains" in summary


def test_report_has_a_row_per_class_and_lists_each_host_once(report, fleet):
    text = report.read_text()
    classes = text.split("<table id='classes'>")[1].split("</table>")[0]
    assert classes.count("<tr class='cpu-class-row'>") == len(fleet.classes)
    assert "<td>none</td>" in classes and "<td>0:" not in classes  # nothing given up reads "none"
    assert "<td>10: <bdi>avx512vnni" in classes
    fleet_part = text.split("<h2>Stranded guests</h2>")[0]  # the stranded guests name their hosts
    for host in fleet.hosts:
        assert fleet_part.count(f'"{host}"') == 1 and f">{host}<" not in fleet_part  # in the JSON block only


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
             for r in dom.getElementsByTagName("rect") if r.parentNode.getAttribute("class") == "cpu-class"]
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


def _png_pixels(data: bytes) -> list[tuple[int, ...]]:
    """The pixels of an 8-bit RGB or RGBA, non-interlaced PNG (what Graphviz writes)."""
    width, height, depth, colour = struct.unpack(">IIBB", data[16:26])
    assert depth == 8 and colour in (2, 6)
    channels = 3 if colour == 2 else 4
    raw, at = b"", 8
    while at < len(data):
        length, kind = struct.unpack(">I4s", data[at:at + 8])
        if kind == b"IDAT":
            raw += data[at + 8:at + 8 + length]
        at += 12 + length
    raw = zlib.decompress(raw)
    stride, previous, pixels = width * channels, bytearray(width * channels), []
    for y in range(height):
        kind, line = raw[y * (stride + 1)], bytearray(raw[y * (stride + 1) + 1:(y + 1) * (stride + 1)])
        for i in range(stride):
            left = line[i - channels] if i >= channels else 0
            up, corner = previous[i], previous[i - channels] if i >= channels else 0
            if kind == 1:
                line[i] = (line[i] + left) & 255
            elif kind == 2:
                line[i] = (line[i] + up) & 255
            elif kind == 3:
                line[i] = (line[i] + (left + up) // 2) & 255
            elif kind == 4:
                guess = left + up - corner
                best = min((abs(guess - left), 0, left), (abs(guess - up), 1, up), (abs(guess - corner), 2, corner))
                line[i] = (line[i] + best[2]) & 255
        pixels += [tuple(line[x:x + 3]) for x in range(0, stride, channels)]
        previous = line
    return pixels


def test_png_has_the_vendor_colours_and_a_legend(tmp_path):
    if shutil.which("dot") is None:
        pytest.skip("Graphviz's dot is not installed: the PNG export is not tested "
                    "(Debian: apt-get install graphviz)")
    path = tmp_path / "lattice.png"
    assert cli.main(["graph", "sample", "-o", str(path)]) == 0  # the format from the extension
    pixels = _png_pixels(path.read_bytes())
    intel, amd = (0xdb, 0xe9, 0xf6), (0xf6, 0xe0, 0xdb)
    assert pixels.count(intel) > 5_000 and pixels.count(amd) > 2_000  # six Intel boxes, two AMD, the legend's
    dot = graph_dot(Fleet.load("sample"))
    assert 'fillcolor="#dbe9f6"' in dot and "cluster_legend" in dot and "\\n4 hosts · AMD" in dot


@pytest.mark.parametrize("name, form", [("l.svg", "svg"), ("l.dot", "dot"), ("l.gv", "dot"), ("l.graphml", "graphml"),
                                        ("lattice", "dot")])
def test_graph_takes_its_format_from_the_extension(tmp_path, name, form, capsys):
    path = tmp_path / name
    assert cli.main(["graph", "sample", "-o", str(path), "--json"]) == 0
    import json

    assert json.loads(capsys.readouterr().out)["format"] == form
    start = {"svg": "<svg", "dot": "digraph", "graphml": "<?xml"}[form]
    assert path.read_text().startswith(start)


def test_graph_refuses_a_format_the_extension_contradicts(tmp_path, capsys):
    path = tmp_path / "lattice.png"
    assert cli.main(["graph", "sample", "--format", "dot", "-o", str(path)]) == 2
    err = capsys.readouterr().err
    assert err == (f"cpucompat graph: error: --format dot does not match the extension of {path} (png); "
                   "drop --format or change the name\n")
    assert not path.exists()


def test_svg_fits_its_drawing_and_has_a_vendor_legend(fleet):
    dom = xml.dom.minidom.parseString(graph_svg(fleet))
    svg = dom.documentElement
    left, top, width, height = map(float, svg.getAttribute("viewBox").split())
    boxes = [tuple(float(r.getAttribute(k)) for k in ("x", "y", "width", "height"))
             for r in dom.getElementsByTagName("rect")]
    # every box inside the view, and the view no more than a margin beyond them
    assert all(left <= x and top <= y and x + w <= left + width and y + h <= top + height for x, y, w, h in boxes)
    assert min(x for x, *_ in boxes) - left <= 30 and min(y for _, y, *_ in boxes) - top <= 30
    assert left + width - max(x + w for x, _, w, _ in boxes) <= 330  # at most the legend's width beyond
    legend = [g for g in dom.getElementsByTagName("g") if g.getAttribute("class") == "legend"][0]
    assert [t.firstChild.data for t in legend.getElementsByTagName("text")] == ["AMD", "Intel"]
    fills = {r.getAttribute("fill") for r in dom.getElementsByTagName("rect")}
    assert {"#dbe9f6", "#f6e0db"} <= fills


def _chromium() -> str:
    for name in ("chromium", "chromium-browser", "google-chrome"):
        if shutil.which(name):
            return shutil.which(name)
    pytest.skip("no chromium on this machine: the browser test of the report is skipped "
                "(Debian: apt-get install chromium)")


FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
         "--disable-component-update", "--disable-sync", "--no-first-run", "--disable-quic"]


def _browse(browser: str, url: str, shot: Path | None = None) -> str:
    """The page's DOM after its script ran (and a screenshot, if asked)."""
    with tempfile.TemporaryDirectory() as profile:
        dom = subprocess.run([browser, *FLAGS, f"--user-data-dir={profile}", "--dump-dom", url],
                             capture_output=True, text=True, timeout=120)
        if shot is not None:
            subprocess.run([browser, *FLAGS, f"--user-data-dir={profile}", f"--screenshot={shot}",
                            "--window-size=1400,1000", url], capture_output=True, timeout=120)
    assert dom.returncode == 0, dom.stderr[-500:]
    return dom.stdout


def _found(dom: str) -> list[list[str]]:
    """The rows the search box lists: host, class, domain, features given up."""
    return [re.findall(r"<td><bdi>([^<]*)</bdi></td>", row)
            for row in re.findall(r'<tr class="found">(.*?)</tr>', dom)]


def test_report_renders_in_a_real_browser(report, fleet, tmp_path):
    browser = _chromium()
    shot = tmp_path / "shot.png"
    dom = _browse(browser, report.as_uri() + "#q=-", shot)
    assert shot.exists() and shot.stat().st_size > 10_000
    assert "<svg" in dom and 'id="lattice"' in dom
    # the domains on the lattice: each box names its domain, each domain is in the legend
    for d in fleet.domains():
        assert f"· {d.name}</text>" in dom and f">{d.name}: {len(d.hosts)} hosts, {d.common.model}</text>" in dom
    assert dom.count("<tr class=\"cpu-class-row\">") == len(fleet.classes)
    # the search ("-" matches every sample host) lists each host with its class and domain
    found = _found(dom)
    assert sorted(row[0] for row in found) == fleet.hosts
    domain_of = {h: d.name for d in fleet.domains() for h in d.hosts}
    assert all(row[2] == domain_of[row[0]] for row in found)
    assert "44 hosts match." in dom
    assert "db-1" in dom and "web-1" not in dom  # only the stranded guest is listed


def test_report_search_finds_a_host_and_says_what_it_gives_up(report):
    dom = _browse(_chromium(), report.as_uri() + "#q=cascadelake-03")
    [row] = _found(dom)
    assert row[:3] == ["cascadelake-03", "C7 Cascadelake-Server", "D1"] and row[3].startswith("10: avx512vnni")
    assert _found(_browse(_chromium(), report.as_uri() + "#q=icelake-01")) == [
        ["icelake-01", "C6 Icelake-Server", "D6", "none"]]


def _large_fleet(hosts: int) -> Fleet:
    """`hosts` hosts: the sample's CPUs, each with one of five extra features
    (ten classes: most sample CPUs have them already)."""
    sample = Fleet.load("sample")
    extras = ["invtsc", "pdpe1gb", "xsaveopt", "arat", "vmx"]
    cpus = [cls.cpu.with_features([(extra, "require")]) for cls in sample.classes for extra in extras]
    return Fleet({f"host-{i:07d}.example.org": cpus[i % len(cpus)] for i in range(hosts)})


def test_report_at_100k_hosts_is_small_and_works_in_a_real_browser(tmp_path):
    browser = _chromium()
    fleet = _large_fleet(100_000)
    domains = fleet.domains()
    path = tmp_path / "report.html"
    path.write_text(html_report(fleet, domains))
    text = path.read_text()
    assert path.stat().st_size < 10 * 2**20
    assert text.count("<tr") < 200  # a row per class and domain, none per host
    shot = tmp_path / "shot.png"
    dom = _browse(browser, path.as_uri() + "#q=host-0099999", shot)
    assert shot.exists() and shot.stat().st_size > 10_000
    [row] = _found(dom)
    cls = fleet.class_of["host-0099999.example.org"]
    domain = next(d for d in domains if cls.index in {m.cpu_class.index for m in d.classes})
    assert row[:3] == ["host-0099999.example.org", f"C{cls.index} {cls.cpu.model}", domain.name]
    assert dom.count("<tr class=\"cpu-class-row\">") == len(fleet.classes)
    assert all(f">{d.name}: " in dom for d in domains)  # the legend
    many = _browse(browser, path.as_uri() + "#q=host-00")
    assert len(_found(many)) == 200 and "100000 hosts match; the first 200 are shown" in many
