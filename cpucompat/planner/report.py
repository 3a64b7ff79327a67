"""The planner's pictures and report: DOT, GraphML, SVG and one HTML page.

The HTML report is self-contained (inline CSS, SVG and a small inline
script, no network), so it opens offline and can be mailed around.  It
grows with the host names only: hosts appear once, in a JSON block the
script reads to list a class's hosts when it is opened and to answer the
search box (the per-host view), never as one table row per host.

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

import colorsys
import html
import io
import json
import shutil
import subprocess
from typing import Iterable, Mapping, Sequence

import networkx as nx

from ..display import MAX_MESSAGE, MAX_SHOWN, escape, shown
from ..errors import MissingDependency, RenderFailed
from .fleet import Fleet
from .results import Domain, StrandedGuests, plural

__all__ = ["graph_dot", "graph_graphml", "graph_png", "graph_svg", "html_report"]

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


SEARCH_LIMIT = 200  # hosts the search box lists at once (the per-host view is paged by refining)

# The page's script: lists a class's hosts when its row is opened, and answers
# the search box (also pre-filled by #q=NAME or ?q=NAME).  Names reach the
# page only through textContent, never as markup.
SCRIPT = """
(function () {
  var fleet = JSON.parse(document.getElementById('fleet-data').textContent);
  var limit = %(limit)d;
  function cell(row, text) {
    var td = document.createElement('td'); var bdi = document.createElement('bdi');
    bdi.textContent = text; td.appendChild(bdi); row.appendChild(td); return td;
  }
  document.querySelectorAll('details.hosts').forEach(function (box) {
    box.addEventListener('toggle', function () {
      if (!box.open || box.dataset.filled) return;
      var list = box.querySelector('ol');
      fleet.classes[+box.dataset.cls].hosts.forEach(function (host) {
        var li = document.createElement('li'); var bdi = document.createElement('bdi');
        bdi.textContent = host; li.appendChild(bdi); list.appendChild(li);
      });
      box.dataset.filled = '1';
    });
  });
  var input = document.getElementById('search');
  var body = document.querySelector('#results tbody');
  var status = document.getElementById('search-status');
  function search() {
    var query = input.value.trim().toLowerCase();
    body.textContent = '';
    if (!query) { status.textContent = 'Type part of a host name.'; return; }
    var found = 0;
    fleet.classes.forEach(function (c) {
      c.hosts.forEach(function (host) {
        if (host.toLowerCase().indexOf(query) < 0) return;
        found += 1;
        if (found > limit) return;
        var row = document.createElement('tr'); row.className = 'found';
        cell(row, host); cell(row, 'C' + c.index + ' ' + c.model); cell(row, c.domain);
        cell(row, c.loss.length ? c.loss.length + ': ' + c.loss.join(' ') : 'none');
        body.appendChild(row);
      });
    });
    status.textContent = found === 0 ? 'No host matches.' :
      (found > limit ? found + ' hosts match; the first ' + limit + ' are shown, refine the search.' :
       (found === 1 ? '1 host matches.' : found + ' hosts match.'));
  }
  input.addEventListener('input', search);
  var wanted = /[#?&]q=([^&]*)/.exec(location.hash || location.search);
  if (wanted) { input.value = decodeURIComponent(wanted[1]); }
  search();
})();
""" % {"limit": SEARCH_LIMIT}


def _script_json(value: object) -> str:
    """JSON inside a <script> element: ASCII, and no '<', '>' or '&' that could end it."""
    return (json.dumps(value, ensure_ascii=True, separators=(",", ":"))
            .replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026"))


def _given_up(loss: Sequence[str]) -> str:
    return f"{len(loss)}: {_html_names(loss)}" if loss else "none"


def html_report(fleet: Fleet, domains: Sequence[Domain], stranded: StrandedGuests | None = None,
                unchecked: Sequence[Mapping[str, object]] | None = None) -> str:
    """One offline HTML page: the lattice coloured by domain with a legend,
    the domains, one row per CPU class (its hosts listed on demand), a
    search box for any host (its class, domain and what it gives up), the
    stranded guests (`fleet.stranded`'s answer), and the guests that could
    not be checked (`unchecked`: guest, entry and reason of each, as
    `cpucompat stranded --json` lists them; by default those of `stranded`).

    Its size grows with the host names (each once) and the classes: about
    20 bytes a host."""
    e = _html
    colours = domain_colours(domains)
    cpumap = fleet.cpumap
    map_name = (f"cpu_map of libvirt {cpumap.version.removeprefix('libvirt ')}" if cpumap.version
                else f"cpu_map {shown(cpumap.source, MAX_MESSAGE)}")
    parts = ["<!DOCTYPE html>", "<html lang='en'><head><meta charset='utf-8'>",
             "<title>cpucompat migration domains</title>",
             "<style>body{font-family:sans-serif;margin:2em}table{border-collapse:collapse;margin:1em 0}"
             "td,th{border:1px solid #bbb;padding:4px 8px;text-align:left;vertical-align:top}"
             "th{background:#eee}.bad{color:#a00}.swatch{display:inline-block;width:1em;height:1em;"
             "border:1px solid #333;vertical-align:middle;margin-right:.4em}"
             "details.hosts ol{columns:4;margin:.3em 0;font-size:90%}#search{font-size:110%;width:24em}"
             "figure{overflow:auto}</style></head><body>",
             "<h1>Migration domains</h1>",
             f"<p id='summary'>{plural(len(fleet.hosts), 'host')} in {plural(len(fleet.classes), 'CPU class')}, "
             f"{plural(len(domains), 'migration domain')}, {plural(len(fleet.failures), 'unreadable host')} "
             f"(source: {e(fleet.source or '-', MAX_MESSAGE)}; {html.escape(map_name)}).</p>",
             "<h2>Who can move where</h2>",
             "<p>Each box is a class of identical CPUs, coloured by its migration domain (legend below the "
             "drawing); an arrow points to where its host-model guests can live-migrate.</p>",
             f"<figure id='lattice'>{graph_svg(fleet, domains)}</figure>",
             "<h2>Domains</h2><table id='domains'><tr><th>domain</th><th>hosts</th><th>classes</th>"
             "<th>common CPU</th><th>level</th><th>most features a host gives up</th></tr>"]
    for d in domains:
        cpu = e(f"{d.common.model} +{len(d.common.features)} -{len(d.common.disabled)}")
        parts.append(f"<tr><td><span class='swatch' style='background:{colours[d.name]}'></span>{e(d.name)}</td>"
                     f"<td>{len(d.hosts)}</td><td>{len(d.classes)}</td><td>{cpu}</td>"
                     f"<td>{e(d.level or '-')}</td><td>{d.max_loss or 'none'}</td></tr>")
    parts.append("</table><h2>CPU classes</h2><p>Open a class to list its hosts.</p><table id='classes'>"
                 "<tr><th>class</th><th>domain</th><th>vendor</th><th>host CPU</th><th>host-model</th>"
                 "<th>hosts</th><th>features given up</th></tr>")
    rows = []
    members = sorted(((m, d) for d in domains for m in d.classes), key=lambda md: md[0].cpu_class.index)
    for n, (m, d) in enumerate(members):
        cls = m.cpu_class
        parts.append(f"<tr class='cpu-class-row'><td>C{cls.index}</td>"
                     f"<td><span class='swatch' style='background:{colours[d.name]}'></span>{e(d.name)}</td>"
                     f"<td>{e(cls.vendor or '-')}</td><td>{e(cls.cpu.model or '-')}</td>"
                     f"<td>{e(cls.host_model.model)}</td>"
                     f"<td><details class='hosts' data-cls='{n}'><summary>{plural(len(m.hosts), 'host')}</summary>"
                     f"<ol></ol></details></td><td>{_given_up(m.loss)}</td></tr>")
        rows.append({"index": cls.index, "model": shown(cls.cpu.model or "-"), "domain": shown(d.name),
                     "loss": [shown(f) for f in m.loss], "hosts": [shown(h) for h in m.hosts]})
    parts += ["</table>",
              "<h2>Find a host</h2><p><label for='search'>Host name (or part of it): </label>"
              "<input id='search' type='search' autocomplete='off'> <span id='search-status'></span></p>",
              "<table id='results'><thead><tr><th>host</th><th>class</th><th>domain</th>"
              "<th>features given up</th></tr></thead><tbody></tbody></table>",
              f"<script type='application/json' id='fleet-data'>{_script_json({'classes': rows})}</script>"]
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
    parts.append(f"<script>{SCRIPT}</script></body></html>")
    return "\n".join(parts) + "\n"
