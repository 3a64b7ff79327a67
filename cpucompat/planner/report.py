"""The planner's report: one self-contained HTML page.

The page is self-contained (inline CSS, SVG and a small inline script, no
network), so it opens offline and can be mailed around.  It grows with the
host names only: hosts appear once, in a JSON block the script reads to
list a class's hosts when it is opened and to answer the search box (the
per-host view), never as one table row per host.

Host, model and guest names and reasons come from inventories nobody here
wrote: the report shows them through `cpucompat.display` (control and bidi
characters and lone surrogates as visible escapes, names cut at 200
characters, reasons at 1000) and isolates each in ``<bdi>``, so
right-to-left text stays inside its cell.
"""
from __future__ import annotations

import html
import json
from typing import Mapping, Sequence

from ..display import MAX_MESSAGE, shown
from .fleet import Fleet
from .lattice import domain_colours, graph_svg, html_name, html_names
from .results import Domain, StrandedGuests, plural

__all__ = ["html_report"]


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
    return f"{len(loss)}: {html_names(loss)}" if loss else "none"


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
    e = html_name
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
