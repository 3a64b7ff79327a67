"""The planner's pictures and report: DOT, GraphML, SVG and one HTML page.

The HTML report is self-contained (inline CSS and SVG, no scripts, no
network), so it opens offline and can be mailed around.
"""
from __future__ import annotations

import html
import io
import shutil
import subprocess
from typing import Sequence

import networkx as nx

from .errors import CpuCompatError
from .fleet import Domain, Fleet, Guest

BOX_W, BOX_H, GAP_X, GAP_Y = 190, 54, 30, 70


def _lattice(fleet: Fleet) -> nx.DiGraph:
    """Hasse diagram over classes (classes that reach each other merged)."""
    _, reduced = fleet.lattice()
    for node, data in reduced.nodes(data=True):
        members = sorted(data["members"])
        classes = [fleet.classes[i] for i in members]
        data["label"] = " = ".join(c.label for c in classes)
        data["hosts"] = sum(len(c.hosts) for c in classes)
        data["vendor"] = classes[0].vendor or ""
    return reduced


def graph_dot(fleet: Fleet) -> str:
    """Graphviz DOT of the migration lattice: A -> B when A's guests move to B."""
    graph = _lattice(fleet)
    lines = ["digraph migration {", "  rankdir=BT;", "  node [shape=box];"]
    for node, data in graph.nodes(data=True):
        label = f"{data['label']}\\n{data['hosts']} hosts"
        lines.append(f'  n{node} [label="{label}"];')
    for a, b in graph.edges:
        lines.append(f"  n{a} -> n{b};")
    lines.append("}")
    return "\n".join(lines) + "\n"


def graph_graphml(fleet: Fleet) -> str:
    """GraphML of the class graph (every can-move edge, not only the Hasse ones)."""
    graph = fleet.graph()
    buffer = io.BytesIO()
    nx.write_graphml(graph, buffer)
    return buffer.getvalue().decode("utf-8")


def graph_png(fleet: Fleet) -> bytes:
    """PNG through Graphviz's ``dot``, which must be installed."""
    dot = shutil.which("dot")
    if dot is None:
        raise CpuCompatError("PNG needs Graphviz's dot (apt-get install graphviz); use --format svg instead")
    proc = subprocess.run([dot, "-Tpng"], input=graph_dot(fleet).encode(), capture_output=True, timeout=120)
    if proc.returncode != 0:
        raise CpuCompatError(f"dot failed: {proc.stderr.decode(errors='replace').strip()}")
    return proc.stdout


def graph_svg(fleet: Fleet) -> str:
    """The lattice drawn as SVG: layers bottom-up, arrows towards bigger CPUs."""
    graph = _lattice(fleet)
    layers = list(nx.topological_generations(graph)) if graph.number_of_nodes() else []
    width = max((len(layer) for layer in layers), default=1) * (BOX_W + GAP_X) + GAP_X
    height = len(layers) * (BOX_H + GAP_Y) + GAP_Y
    position = {}
    for depth, layer in enumerate(layers):
        for i, node in enumerate(sorted(layer)):
            x = GAP_X + i * (BOX_W + GAP_X)
            y = height - (depth + 1) * (BOX_H + GAP_Y)
            position[node] = (x, y)
    out = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
           f'viewBox="0 0 {width} {height}" role="img" aria-label="migration lattice">',
           '<defs><marker id="arrow" markerWidth="10" markerHeight="8" refX="9" refY="4" orient="auto">'
           '<path d="M0,0 L10,4 L0,8 z" fill="#555"/></marker></defs>']
    for a, b in graph.edges:
        (xa, ya), (xb, yb) = position[a], position[b]
        out.append(f'<line x1="{xa + BOX_W / 2}" y1="{ya}" x2="{xb + BOX_W / 2}" y2="{yb + BOX_H}" '
                   'stroke="#555" marker-end="url(#arrow)"/>')
    colours = {"Intel": "#dbe9f6", "AMD": "#f6e0db", "Hygon": "#e6f6db"}
    for node, data in graph.nodes(data=True):
        x, y = position[node]
        fill = colours.get(data["vendor"], "#eeeeee")
        out.append(f'<g class="cpu-class"><rect x="{x}" y="{y}" width="{BOX_W}" height="{BOX_H}" rx="6" '
                   f'fill="{fill}" stroke="#333"/>'
                   f'<text x="{x + 8}" y="{y + 22}" font-size="13" font-family="sans-serif">'
                   f'{html.escape(data["label"][:28])}</text>'
                   f'<text x="{x + 8}" y="{y + 42}" font-size="12" font-family="sans-serif">'
                   f'{data["hosts"]} hosts · {html.escape(data["vendor"] or "any vendor")}</text></g>')
    out.append("</svg>")
    return "\n".join(out) + "\n"


def html_report(fleet: Fleet, domains: Sequence[Domain], guests: Sequence[Guest] = ()) -> str:
    """One offline HTML page: lattice, domains, per-host cost, stranded guests."""
    e = html.escape
    parts = ["<!DOCTYPE html>", "<html lang='en'><head><meta charset='utf-8'>",
             "<title>cpucompat migration domains</title>",
             "<style>body{font-family:sans-serif;margin:2em}table{border-collapse:collapse;margin:1em 0}"
             "td,th{border:1px solid #bbb;padding:4px 8px;text-align:left;vertical-align:top}"
             "th{background:#eee}.bad{color:#a00}</style></head><body>",
             "<h1>Migration domains</h1>",
             f"<p id='summary'>{len(fleet.hosts)} hosts in {len(fleet.classes)} CPU classes, "
             f"{len(domains)} migration domains, {len(fleet.failures)} unreadable hosts "
             f"(source: {e(fleet.source or '-')}, cpu_map: {e(fleet.cpumap.source)}).</p>",
             "<h2>Who can move where</h2>",
             "<p>Each box is a class of identical CPUs; an arrow points to where its host-model "
             "guests can live-migrate.</p>",
             f"<figure id='lattice'>{graph_svg(fleet)}</figure>",
             "<h2>Domains</h2><table id='domains'><tr><th>domain</th><th>hosts</th><th>common CPU</th>"
             "<th>level</th><th>worst loss</th></tr>"]
    for d in domains:
        worst = max((len(f) for f in d.loss.values()), default=0)
        cpu = e(f"{d.common.model} +{len(d.common.features)} -{len(d.common.disabled)}")
        parts.append(f"<tr><td>{e(d.name)}</td><td>{len(d.hosts)}</td><td>{cpu}</td>"
                     f"<td>{e(d.level or '-')}</td><td>{worst}</td></tr>")
    parts.append("</table><h2>Per host</h2><table id='hosts'><tr><th>host</th><th>CPU</th><th>domain</th>"
                 "<th>features given up</th></tr>")
    domain_of = {h: d for d in domains for h in d.hosts}
    for host in fleet.hosts:
        d = domain_of[host]
        lost = d.loss.get(host, ())
        parts.append(f"<tr class='host'><td>{e(host)}</td><td>{e(fleet.class_of[host].cpu.model or '-')}</td>"
                     f"<td>{e(d.name)}</td><td>{len(lost)}: {e(' '.join(lost))}</td></tr>")
    parts.append("</table>")
    if guests:
        stranded = fleet.stranded(guests)
        parts.append(f"<h2>Stranded guests</h2><p>{len(stranded)} of {len(guests)} guests cannot move.</p>"
                     "<table id='stranded'><tr><th>guest</th><th>host</th><th>why</th></tr>")
        parts += [f"<tr><td>{e(s.guest)}</td><td>{e(s.host)}</td><td>{e(s.reason)}</td></tr>" for s in stranded]
        parts.append("</table>")
    if fleet.failures:
        parts.append("<h2 class='bad'>Unreadable hosts</h2><table id='unreadable'><tr><th>host</th><th>reason</th></tr>")
        parts += [f"<tr><td>{e(h)}</td><td>{e(r)}</td></tr>" for h, r in sorted(fleet.failures.items())]
        parts.append("</table>")
    parts.append("</body></html>")
    return "\n".join(parts) + "\n"
