"""The fleet's classes as a lattice: DOT, GraphML, PNG (Graphviz) and SVG.

Boxes are CPU classes (classes that can reach each other merged), edges the
"features ⊆" order between them; boxes are coloured by vendor, or by
migration domain in the report.  Names come from inventories nobody here
wrote: every picture shows them through `cpucompat.display` (cut at 200
characters, control and bidi characters escaped); DOT escapes quotes, so a
name never ends its label; GraphML keeps names whole, escaped only.
"""
from __future__ import annotations

import colorsys
import html
import io
import shutil
import subprocess
from typing import Iterable, Sequence

import networkx as nx

from ..display import MAX_SHOWN, escape, shown
from ..errors import MissingDependency, RenderFailed
from .fleet import Fleet
from .results import Domain, plural

__all__ = ["graph_dot", "graph_graphml", "graph_png", "graph_svg", "domain_colours", "html_name", "html_names"]


BOX_W, BOX_H, GAP_X, GAP_Y = 190, 54, 30, 70
VIA_W = 12  # the slot an edge takes in a layer it crosses
LEGEND_ROW, LEGEND_W = 20, 320


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


def html_name(text: object, limit: int = MAX_SHOWN) -> str:
    """An untrusted name (or, with MAX_MESSAGE, a reason) for the HTML
    report: shown safely, HTML-escaped, isolated in <bdi>."""
    return f"<bdi>{html.escape(shown(text, limit))}</bdi>"


def html_names(names: Iterable[str]) -> str:
    """Names (features given up) for the HTML report, each cut and escaped, isolated together."""
    return f"<bdi>{html.escape(' '.join(map(shown, names)))}</bdi>"


def _dot(text: object) -> str:
    """An untrusted name inside a DOT string: shown safely, quotes and backslashes escaped."""
    return shown(text).replace("\\", "\\\\").replace('"', '\\"')


def graph_dot(fleet: Fleet) -> str:
    """Graphviz DOT of the migration lattice: A -> B when A's guests move to B;
    boxes in their vendor's colour (the SVG's), with a legend."""
    graph = _lattice(fleet)
    lines = ["digraph migration {", "  rankdir=BT;",
             '  node [shape=box, style="rounded,filled", fontname="sans-serif", fontsize=11];',
             '  edge [color="#555555"];']
    for node, data in graph.nodes(data=True):
        vendor = data["vendor"] or "any vendor"
        label = f"{_dot(data['label'])}\\n{plural(data['hosts'], 'host')} · {_dot(vendor)}"
        lines.append(f'  n{node} [label="{label}", fillcolor="{_vendor_colour(data["vendor"])}"];')
    for a, b in graph.edges:
        lines.append(f"  n{a} -> n{b};")
    vendors = sorted({data["vendor"] for _, data in graph.nodes(data=True)})
    lines.append('  subgraph cluster_legend { label="vendor"; fontname="sans-serif"; fontsize=11; color="#999999";')
    lines += [f'    legend{i} [label="{_dot(v or "any vendor")}", fillcolor="{_vendor_colour(v)}"];'
              for i, v in enumerate(vendors)]
    lines.append("  }")
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
        raise MissingDependency("PNG needs Graphviz's dot (apt-get install graphviz); use --format svg instead")
    proc = subprocess.run([dot, "-Tpng"], input=graph_dot(fleet).encode(), capture_output=True, timeout=120)
    if proc.returncode != 0:
        raise RenderFailed(f"dot failed: {proc.stderr.decode(errors='replace').strip()}")
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


VENDOR_COLOURS = {"Intel": "#dbe9f6", "AMD": "#f6e0db", "Hygon": "#e6f6db"}
OTHER_COLOUR = "#eeeeee"


def _vendor_colour(vendor: str) -> str:
    return VENDOR_COLOURS.get(vendor, OTHER_COLOUR)


# ColorBrewer's Set3: twelve light colours told apart at a glance
PALETTE = ("#8dd3c7", "#ffffb3", "#bebada", "#fb8072", "#80b1d3", "#fdb462", "#b3de69", "#fccde5", "#d9d9d9",
           "#bc80bd", "#ccebc5", "#ffed6f")


def domain_colours(domains: Sequence[Domain]) -> dict[str, str]:
    """A light colour per domain: the palette's, then apart on the colour wheel (golden angle)."""
    out = {}
    for n, d in enumerate(domains):
        if n < len(PALETTE):
            out[d.name] = PALETTE[n]
            continue
        r, g, b = colorsys.hls_to_rgb((n * 0.381966) % 1.0, 0.85, 0.6)
        out[d.name] = f"#{round(r * 255):02x}{round(g * 255):02x}{round(b * 255):02x}"
    return out


def graph_svg(fleet: Fleet, domains: Sequence[Domain] | None = None) -> str:
    """The lattice drawn as SVG: layers bottom-up, arrows towards bigger CPUs,
    edges curved through the gaps between boxes (never through a box).
    Boxes are coloured by vendor, or by migration domain when `domains` are
    given, with a legend; the picture's viewBox is its drawn extent."""
    graph = _lattice(fleet)
    if domains is not None:
        colours = domain_colours(domains)
        domain_of = {m.cpu_class.index: d.name for d in domains for m in d.classes}
        for _, data in graph.nodes(data=True):
            names = list(dict.fromkeys(domain_of[i] for i in sorted(data["members"]) if i in domain_of))
            data["fill"] = colours[names[0]] if names else OTHER_COLOUR
            data["caption"] = ", ".join(names) or "no domain"
        legend = [(colours[d.name], f"{d.name}: {plural(len(d.hosts), 'host')}, {d.common.model}") for d in domains]
    else:
        for _, data in graph.nodes(data=True):
            data["fill"] = _vendor_colour(data["vendor"])
            data["caption"] = data["vendor"] or "any vendor"
        vendors = sorted({data["vendor"] for _, data in graph.nodes(data=True)})
        legend = [(_vendor_colour(v), v or "any vendor") for v in vendors]
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
    legend_h = LEGEND_ROW * len(legend) + GAP_X if legend else 0
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

    body = []
    xs: list[float] = []  # the drawn extent
    ys: list[float] = []
    for (a, b), chain in chains.items():
        x, y = port[(a, b), 0], top[a]
        path = [f"M{x:.1f},{y:.1f}"]
        for point in chain[1:]:
            x2 = port[(a, b), -1] if point == b else centre[point]
            y2 = top[point] + BOX_H
            middle = (y + y2) / 2
            path.append(f"C{x:.1f},{middle:.1f} {x2:.1f},{middle:.1f} {x2:.1f},{y2:.1f}")
            xs += [x, x2]
            x, y = x2, y2
            if point != b:  # through the waypoint's own slot in its layer
                y = top[point]
                path.append(f"L{x:.1f},{y:.1f}")
        body.append(f'<path class="edge" d="{" ".join(path)}" fill="none" stroke="#555" '
                    f'marker-end="url(#arrow)"><title>{html.escape(shown(graph.nodes[a]["label"]))} → '
                    f'{html.escape(shown(graph.nodes[b]["label"]))}</title></path>')
    for node, data in graph.nodes(data=True):
        x, y = centre[node] - BOX_W / 2, top[node]
        xs += [x, x + BOX_W]
        ys += [y, y + BOX_H]
        body.append(f'<g class="cpu-class" data-domain="{html.escape(data["caption"])}">'
                    f'<rect x="{x:.1f}" y="{y}" width="{BOX_W}" height="{BOX_H}" rx="6" '
                    f'fill="{data["fill"]}" stroke="#333"/>'
                    f'<text x="{x + 8:.1f}" y="{y + 22}" font-size="13" font-family="sans-serif">'
                    f'{html.escape(shown(data["label"], 28))}</text>'
                    f'<text x="{x + 8:.1f}" y="{y + 42}" font-size="12" font-family="sans-serif">'
                    f'{plural(data["hosts"], "host")} · {html.escape(shown(data["caption"], 24))}</text>'
                    f'<title>{html.escape(shown(data["label"]))}: {plural(data["hosts"], "host")}, '
                    f'{html.escape(shown(data["caption"]))}</title></g>')
    left = min(xs, default=0.0) - GAP_X / 2
    right = max(xs, default=0.0) + GAP_X / 2
    upper = min(ys, default=0.0) - GAP_X / 2
    lower = max(ys, default=0.0) + GAP_X / 2
    # the legend, under the drawing
    body.append('<g class="legend" font-family="sans-serif" font-size="12">')
    for i, (colour, text) in enumerate(legend):
        ly = lower + GAP_X / 2 + i * LEGEND_ROW
        body.append(f'<rect x="{left + GAP_X / 2:.1f}" y="{ly:.1f}" width="14" height="14" fill="{colour}" '
                    f'stroke="#333"/><text x="{left + GAP_X / 2 + 20:.1f}" y="{ly + 12:.1f}">'
                    f'{html.escape(shown(text, 60))}</text>')
    body.append("</g>")
    right = max(right, left + LEGEND_W) if legend else right
    lower += legend_h
    view_w, view_h = right - left, lower - upper
    out = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{view_w:.0f}" height="{view_h:.0f}" '
           f'viewBox="{left:.1f} {upper:.1f} {view_w:.1f} {view_h:.1f}" role="img" aria-label="migration lattice">',
           '<defs><marker id="arrow" markerWidth="10" markerHeight="8" refX="9" refY="4" orient="auto">'
           '<path d="M0,0 L10,4 L0,8 z" fill="#555"/></marker></defs>', *body, "</svg>"]
    return "\n".join(out) + "\n"
