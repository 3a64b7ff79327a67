"""The planner's pictures and report: DOT, GraphML, SVG and one HTML page.

The HTML report is self-contained (inline CSS and SVG, no scripts, no
network), so it opens offline and can be mailed around.

Host, model and guest names and reasons come from inventories nobody here
wrote.  Every output shows them through `cpucompat.display`: control and
bidi characters and lone surrogates (a file name that is not UTF-8) become
visible escapes, so any name encodes and none rewrites the page.  The
report and the pictures also cut names at 200 characters (reasons at 1000)
and the report isolates each in ``<bdi>``, so right-to-left text stays
inside its cell; DOT escapes quotes, so a name never ends its label.
GraphML keeps names whole, escaped only.
"""
from __future__ import annotations

import html
import io
import shutil
import subprocess
from typing import Iterable, Mapping, Sequence

import networkx as nx

from ..display import MAX_MESSAGE, MAX_SHOWN, escape, shown
from ..errors import CpuCompatError
from .fleet import Fleet
from .results import Domain, StrandedGuests, plural

__all__ = ["graph_dot", "graph_graphml", "graph_png", "graph_svg", "html_report"]

BOX_W, BOX_H, GAP_X, GAP_Y = 190, 54, 30, 70
VIA_W = 12  # the slot an edge takes in a layer it crosses


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


def _html(text: object, limit: int = MAX_SHOWN) -> str:
    """An untrusted name (or, with MAX_MESSAGE, a reason) for the HTML
    report: shown safely, HTML-escaped, isolated in <bdi>."""
    return f"<bdi>{html.escape(shown(text, limit))}</bdi>"


def _html_names(names: Iterable[str]) -> str:
    """Names (features given up) for the HTML report, each cut and escaped, isolated together."""
    return f"<bdi>{html.escape(' '.join(map(shown, names)))}</bdi>"


def _dot(text: object) -> str:
    """An untrusted name inside a DOT string: shown safely, quotes and backslashes escaped."""
    return shown(text).replace("\\", "\\\\").replace('"', '\\"')


def graph_dot(fleet: Fleet) -> str:
    """Graphviz DOT of the migration lattice: A -> B when A's guests move to B."""
    graph = _lattice(fleet)
    lines = ["digraph migration {", "  rankdir=BT;", "  node [shape=box];"]
    for node, data in graph.nodes(data=True):
        label = f"{_dot(data['label'])}\\n{plural(data['hosts'], 'host')}"
        lines.append(f'  n{node} [label="{label}"];')
    for a, b in graph.edges:
        lines.append(f"  n{a} -> n{b};")
    lines.append("}")
    return "\n".join(lines) + "\n"


def graph_graphml(fleet: Fleet) -> str:
    """GraphML of the class graph (every can-move edge, not only the Hasse ones)."""
    graph = fleet.graph()
    for _, data in graph.nodes(data=True):  # XML holds no controls and UTF-8 no lone surrogates
        data.update({key: escape(value) for key, value in data.items() if isinstance(value, str)})
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


def _layers(graph: nx.DiGraph) -> tuple[list[list], dict[tuple, list], dict[object, list]]:
    """Layers bottom-up (a class above every class whose guests reach it),
    each ordered to keep edges short; each edge's chain of points (an edge
    skipping layers gets a waypoint in each layer it crosses, which holds a
    slot of its own there, so no edge runs through a box); and the points
    just below each point."""
    layer_of = {n: depth for depth, layer in enumerate(nx.topological_generations(graph)) for n in layer}
    layers: list[list] = [[] for _ in range(max(layer_of.values(), default=-1) + 1)]
    for node in sorted(graph, key=lambda n: (graph.nodes[n]["vendor"], graph.nodes[n]["label"])):
        layers[layer_of[node]].append(node)
    chains: dict[tuple, list] = {}
    below: dict[object, list] = {n: [] for n in graph}  # the point under each point of a chain
    above: dict[object, list] = {n: [] for n in graph}
    for a, b in sorted(graph.edges, key=lambda e: (layer_of[e[0]], layers[layer_of[e[0]]].index(e[0]))):
        chain = [a] + [("via", a, b, depth) for depth in range(layer_of[a] + 1, layer_of[b])] + [b]
        for depth, waypoint in enumerate(chain[1:-1], layer_of[a] + 1):
            layers[depth].append(waypoint)
            below[waypoint], above[waypoint] = [], []
        for lower, upper in zip(chain, chain[1:]):
            above[lower].append(upper)
            below[upper].append(lower)
        chains[a, b] = chain
    # barycentre sweeps, up then down (Sugiyama's heuristic): each point
    # moves towards the mean place of its neighbours in the layer just swept
    for _ in range(4):
        for order, neighbours in ((range(1, len(layers)), below), (range(len(layers) - 2, -1, -1), above)):
            for depth in order:
                place = {n: i for i, n in enumerate(layers[depth - 1 if neighbours is below else depth + 1])}
                now = {n: i for i, n in enumerate(layers[depth])}
                layers[depth].sort(key=lambda n: (sum(place[m] for m in neighbours[n]) / len(neighbours[n])
                                                  if neighbours[n] else now[n]))
    return layers, chains, below


def graph_svg(fleet: Fleet) -> str:
    """The lattice drawn as SVG: layers bottom-up, arrows towards bigger CPUs,
    edges curved through the gaps between boxes (never through a box)."""
    graph = _lattice(fleet)
    layers, chains, below = _layers(graph)
    width_of = {n: BOX_W if not isinstance(n, tuple) else VIA_W for layer in layers for n in layer}
    # x: the bottom layer packed left to right, each layer above centred
    # over the points it comes from, without overlapping its neighbours
    centre: dict[object, float] = {}
    for layer in layers:
        right = 0.0
        for node in layer:
            wanted = (sum(centre[m] for m in below[node]) / len(below[node]) if below[node]
                      else right + GAP_X + width_of[node] / 2)
            centre[node] = max(wanted, right + GAP_X + width_of[node] / 2)
            right = centre[node] + width_of[node] / 2
    shift = GAP_X - min((centre[n] - width_of[n] / 2 for n in centre), default=0.0)
    centre = {n: x + shift for n, x in centre.items()}
    width = int(max((centre[n] + width_of[n] / 2 for n in centre), default=0.0) + GAP_X)
    height = len(layers) * (BOX_H + GAP_Y) + GAP_Y
    top = {n: height - (depth + 1) * (BOX_H + GAP_Y) for depth, layer in enumerate(layers) for n in layer}
    # ports: a box's edges leave its top and reach its bottom side by side,
    # in the order of the points they go to or come from
    port: dict[tuple, float] = {}  # (edge, 0 | -1) → x where it leaves or arrives
    for end, next_point in ((0, 1), (-1, -2)):
        at: dict[object, list] = {}
        for edge, chain in chains.items():
            at.setdefault(chain[end], []).append(edge)
        for node, edges in at.items():
            edges.sort(key=lambda e: centre[chains[e][next_point]])
            for i, edge in enumerate(edges):
                port[edge, end] = centre[node] - BOX_W / 2 + BOX_W * (i + 1) / (len(edges) + 1)

    out = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
           f'viewBox="0 0 {width} {height}" role="img" aria-label="migration lattice">',
           '<defs><marker id="arrow" markerWidth="10" markerHeight="8" refX="9" refY="4" orient="auto">'
           '<path d="M0,0 L10,4 L0,8 z" fill="#555"/></marker></defs>']
    for (a, b), chain in chains.items():
        x, y = port[(a, b), 0], top[a]
        path = [f"M{x:.1f},{y:.1f}"]
        for point in chain[1:]:
            x2 = port[(a, b), -1] if point == b else centre[point]
            y2 = top[point] + BOX_H
            middle = (y + y2) / 2
            path.append(f"C{x:.1f},{middle:.1f} {x2:.1f},{middle:.1f} {x2:.1f},{y2:.1f}")
            x, y = x2, y2
            if point != b:  # through the waypoint's own slot in its layer
                y = top[point]
                path.append(f"L{x:.1f},{y:.1f}")
        out.append(f'<path class="edge" d="{" ".join(path)}" fill="none" stroke="#555" '
                   f'marker-end="url(#arrow)"><title>{html.escape(shown(graph.nodes[a]["label"]))} → '
                   f'{html.escape(shown(graph.nodes[b]["label"]))}</title></path>')
    colours = {"Intel": "#dbe9f6", "AMD": "#f6e0db", "Hygon": "#e6f6db"}
    for node, data in graph.nodes(data=True):
        x, y = centre[node] - BOX_W / 2, top[node]
        fill = colours.get(data["vendor"], "#eeeeee")
        out.append(f'<g class="cpu-class"><rect x="{x:.1f}" y="{y}" width="{BOX_W}" height="{BOX_H}" rx="6" '
                   f'fill="{fill}" stroke="#333"/>'
                   f'<text x="{x + 8:.1f}" y="{y + 22}" font-size="13" font-family="sans-serif">'
                   f'{html.escape(shown(data["label"], 28))}</text>'
                   f'<text x="{x + 8:.1f}" y="{y + 42}" font-size="12" font-family="sans-serif">'
                   f'{plural(data["hosts"], "host")} · {html.escape(shown(data["vendor"] or "any vendor"))}</text></g>')
    out.append("</svg>")
    return "\n".join(out) + "\n"


def html_report(fleet: Fleet, domains: Sequence[Domain], stranded: StrandedGuests | None = None,
                unchecked: Sequence[Mapping[str, object]] | None = None) -> str:
    """One offline HTML page: lattice, domains, per-host cost, the stranded
    guests (`fleet.stranded`'s answer), and the guests that could not be
    checked (`unchecked`: guest, entry and reason of each, as `cpucompat
    stranded --json` lists them; by default those of `stranded`)."""
    e = _html
    parts = ["<!DOCTYPE html>", "<html lang='en'><head><meta charset='utf-8'>",
             "<title>cpucompat migration domains</title>",
             "<style>body{font-family:sans-serif;margin:2em}table{border-collapse:collapse;margin:1em 0}"
             "td,th{border:1px solid #bbb;padding:4px 8px;text-align:left;vertical-align:top}"
             "th{background:#eee}.bad{color:#a00}</style></head><body>",
             "<h1>Migration domains</h1>",
             f"<p id='summary'>{len(fleet.hosts)} hosts in {len(fleet.classes)} CPU classes, "
             f"{len(domains)} migration domains, {len(fleet.failures)} unreadable hosts "
             f"(source: {e(fleet.source or '-', MAX_MESSAGE)}, cpu_map: {e(fleet.cpumap.source, MAX_MESSAGE)}).</p>",
             "<h2>Who can move where</h2>",
             "<p>Each box is a class of identical CPUs; an arrow points to where its host-model "
             "guests can live-migrate.</p>",
             f"<figure id='lattice'>{graph_svg(fleet)}</figure>",
             "<h2>Domains</h2><table id='domains'><tr><th>domain</th><th>hosts</th><th>common CPU</th>"
             "<th>level</th><th>worst loss</th></tr>"]
    for d in domains:
        cpu = e(f"{d.common.model} +{len(d.common.features)} -{len(d.common.disabled)}")
        parts.append(f"<tr><td>{e(d.name)}</td><td>{len(d.hosts)}</td><td>{cpu}</td>"
                     f"<td>{e(d.level or '-')}</td><td>{d.max_loss}</td></tr>")
    parts.append("</table><h2>Per host</h2><table id='hosts'><tr><th>host</th><th>CPU</th><th>domain</th>"
                 "<th>features given up</th></tr>")
    domain_of = {h: d for d in domains for h in d.hosts}
    for host in fleet.hosts:
        d = domain_of[host]
        lost = d.loss.get(host, ())
        parts.append(f"<tr class='host'><td>{e(host)}</td><td>{e(fleet.class_of[host].cpu.model or '-')}</td>"
                     f"<td>{e(d.name)}</td><td>{len(lost)}: {_html_names(lost)}</td></tr>")
    parts.append("</table>")
    if unchecked is None:
        unchecked = [{"guest": u.guest.name, "entry": u.index, "reason": u.reason}
                     for u in (stranded.unchecked if stranded is not None else ())]
    if stranded is not None and stranded.checked:
        parts.append(f"<h2>Stranded guests</h2><p>{len(stranded)} of {stranded.checked} guests cannot move.</p>"
                     "<table id='stranded'><tr><th>guest</th><th>host</th><th>why</th></tr>")
        parts += [f"<tr><td>{e(s.guest)}</td><td>{e(s.host)}</td><td>{e(s.reason, MAX_MESSAGE)}</td></tr>"
                  for s in stranded]
        parts.append("</table>")
    if unchecked:
        parts.append(f"<h2 class='bad'>Guests not checked</h2><p>{len(unchecked)} entries of the guests file "
                     "name no guest that can be checked.</p>"
                     "<table id='unchecked'><tr><th>guest</th><th>entry</th><th>reason</th></tr>")
        parts += [f"<tr><td>{e(u['guest'])}</td><td>{html.escape(str(u['entry']))}</td>"
                  f"<td>{e(u['reason'], MAX_MESSAGE)}</td></tr>" for u in unchecked]
        parts.append("</table>")
    if fleet.failures:
        parts.append("<h2 class='bad'>Unreadable hosts</h2>"
                     "<table id='unreadable'><tr><th>host</th><th>reason</th></tr>")
        parts += [f"<tr><td>{e(h)}</td><td>{e(r, MAX_MESSAGE)}</td></tr>" for h, r in sorted(fleet.failures.items())]
        parts.append("</table>")
    parts.append("</body></html>")
    return "\n".join(parts) + "\n"
