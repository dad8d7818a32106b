"""The live page at ``/``: plain HTML and one inline script that polls /health every second.

No build step and no external resources. Every string that comes from the gateway's document (broker ids,
instruments, errors, rejection details: config or broker input) is written with ``textContent``, never parsed
as HTML; the Content-Security-Policy allows only this page's own script (by its hash) and requests to this
server, so even a string that got through could not run. A source is shown red when it does not deliver
(collector stopped, connection down, token refused) or misses an open instrument now (stale, not tradeable).
"""

from __future__ import annotations

import base64
import hashlib
from typing import Final

_SCRIPT: Final = """
"use strict";
const $ = (id) => document.getElementById(id);
function cell(row, value, cls) {
  const td = row.insertCell();
  td.textContent = value === null || value === undefined ? "-" : String(value);
  if (cls) td.className = cls;
  return td;
}
function fill(tbody, rows, render) {
  tbody.replaceChildren();
  for (const item of rows) render(tbody.insertRow(), item);
}
function delivering(source) {
  const connection = source.connection;
  return source.state === "running" && !source.unauthorized &&
    (connection === null || connection === "connected" || connection === "reconnected");
}
function missing(source) {
  const instruments = (source.quality && source.quality.instruments) || {};
  return Object.entries(instruments).filter(([, figures]) => figures.missing_now).map(
    ([instrument, figures]) => instrument + ": " + figures.missing_now);
}
function render(doc) {
  $("status").textContent = doc.status;
  $("status").className = "status " + doc.status;
  $("instance").textContent = doc.instance_id;
  $("updated").textContent = new Date().toLocaleTimeString();
  $("problems").textContent = (doc.problems || []).join("; ");
  const recommended = (doc.recommendations && doc.recommendations.instruments) || {};
  fill($("best"), Object.entries(doc.best || {}), (row, [instrument, best]) => {
    row.dataset.instrument = instrument;
    cell(row, instrument);
    cell(row, best.bid, "num bid");
    cell(row, best.bid_source, "bid-source");
    cell(row, best.ask, "num ask");
    cell(row, best.ask_source, "ask-source");
    cell(row, best.live_sources, "num");
    const choice = recommended[instrument];
    cell(row, choice && choice.source ? choice.source + " (" + choice.score + ")" : "none", "recommended");
    if (best.crossed) row.className = "crossed";
  });
  const sources = Object.entries(doc.sources || {});
  fill($("sources"), sources, (row, [id, source]) => {
    const quality = source.quality || {};
    const age = quality.quote_age_ms || {};
    const gaps = missing(source);
    row.dataset.source = id;
    row.className = delivering(source) && gaps.length === 0 ? "up" : "down";
    cell(row, id, "source");
    cell(row, delivering(source) ? (gaps.length ? "missing" : "up") : (source.connection || source.state), "state");
    cell(row, source.ticks_per_s, "num");
    cell(row, age.p50, "num");
    cell(row, age.p99, "num");
    cell(row, quality.clock_offset_ms, "num");
    cell(row, quality.uptime_percent, "num");
    cell(row, quality.disconnects, "num");
    cell(row, quality.gap_s, "num");
    cell(row, Object.values(source.rejected || {}).reduce((a, b) => a + b, 0), "num");
    cell(row, [source.last_error, ...gaps].filter(Boolean).join("; "), "detail");
  });
  const pairs = [];
  for (const [id, source] of sources) {
    for (const [instrument, figures] of Object.entries((source.quality || {}).instruments || {})) {
      pairs.push([id, instrument, figures]);
    }
  }
  fill($("pairs"), pairs, (row, [id, instrument, figures]) => {
    const spread = figures.spread_pips || {};
    if (figures.missing_now) row.className = "down";
    cell(row, id);
    cell(row, instrument);
    cell(row, figures.ticks, "num");
    cell(row, spread.time_weighted, "num");
    cell(row, spread.p50, "num");
    cell(row, spread.p95, "num");
    cell(row, figures.completeness_percent, "num");
    cell(row, figures.at_best_percent, "num");
    cell(row, figures.score, "num");
    cell(row, figures.missing_now || "");
  });
  fill($("recent"), doc.recent || [], (row, event) => {
    cell(row, event.time ? event.time.slice(11, 23) : "");
    cell(row, event.source);
    cell(row, event.kind);
    cell(row, event.instrument || "");
    cell(row, event.seconds === null ? "" : event.seconds + " s", "num");
    cell(row, event.detail || "");
  });
}
async function poll() {
  try {
    const response = await fetch("health", {cache: "no-store"});
    render(await response.json());
    $("error").textContent = "";
  } catch (error) {
    $("error").textContent = "cannot reach the gateway: " + error;
  }
  setTimeout(poll, 1000);
}
poll();
"""

SCRIPT_HASH: Final = base64.b64encode(hashlib.sha256(_SCRIPT.encode()).digest()).decode()
CONTENT_SECURITY_POLICY: Final = (
    f"default-src 'none'; script-src 'sha256-{SCRIPT_HASH}'; style-src 'unsafe-inline'; connect-src 'self'; "
    "base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
)

PAGE: Final = f"""<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>fxgw live</title>
<style>
body {{ font: 14px system-ui, sans-serif; margin: 0.5rem; color: #222; }}
h1 {{ font-size: 1.2rem; margin: 0.2rem 0; }}
h2 {{ font-size: 1rem; margin: 1rem 0 0.3rem; }}
.wrap {{ overflow-x: auto; }}
table {{ border-collapse: collapse; min-width: 100%; }}
th, td {{ padding: 0.2rem 0.5rem; border-bottom: 1px solid #ddd; text-align: left; white-space: nowrap; }}
td.num {{ text-align: right; font-variant-numeric: tabular-nums; }}
td.detail {{ white-space: normal; }}
tr.down td {{ background: #fdd; color: #900; }}
tr.crossed td {{ background: #ffe9c7; }}
.status {{ padding: 0 0.4rem; border-radius: 3px; }}
.status.ok {{ background: #cfc; }} .status.degraded {{ background: #ffe9c7; }} .status.down {{ background: #fdd; }}
#error {{ color: #900; }}
</style>
</head>
<body>
<h1>fxgw <span id="instance"></span> <span id="status" class="status"></span></h1>
<div>updated <span id="updated">never</span> <span id="error"></span></div>
<div id="problems"></div>
<h2>Best price</h2>
<div class="wrap"><table><thead><tr><th>instrument</th><th>bid</th><th>from</th><th>ask</th><th>from</th>
<th>live</th><th>recommended (score)</th></tr></thead><tbody id="best"></tbody></table></div>
<h2>Sources</h2>
<div class="wrap"><table><thead><tr><th>source</th><th>state</th><th>ticks/s</th><th>age p50 ms</th>
<th>age p99 ms</th><th>clock offset ms</th><th>uptime %</th><th>disconnects</th><th>gaps s</th><th>rejected</th>
<th>detail</th></tr></thead><tbody id="sources"></tbody></table></div>
<h2>Per instrument</h2>
<div class="wrap"><table><thead><tr><th>source</th><th>instrument</th><th>ticks</th><th>spread pips</th>
<th>p50</th><th>p95</th><th>complete %</th><th>at best %</th><th>score</th><th>missing</th></tr></thead>
<tbody id="pairs"></tbody></table></div>
<h2>Recent gaps and rejections</h2>
<div class="wrap"><table><thead><tr><th>time (UTC)</th><th>source</th><th>event</th><th>instrument</th>
<th>length</th><th>detail</th></tr></thead><tbody id="recent"></tbody></table></div>
<p>Ages include each broker's clock offset; spreads in pips; windows: see /health recommendations.window_s.</p>
<script>{_SCRIPT}</script>
</body>
</html>
"""
