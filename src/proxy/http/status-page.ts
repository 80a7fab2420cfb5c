// GET /status/ (DESIGN §4.15): one self-contained HTML page — no external assets, it works offline —
// that polls /stat/ every two seconds and draws the buckets with their groups, each backend's fill,
// the predicted storage time of a small and a large upload per bucket, its weight and share of recent
// automatic uploads, each backend's write cost (fixed latency + throughput), its write latency
// over the last minutes as an SVG chart, replica repair (hints, read-repair), node states and recent
// errors. Public, like /stat/.

export const STATUS_PAGE = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Backrunner status</title>
<style>
  :root { --fg:#1d2330; --muted:#6b7385; --line:#e3e6ee; --ok:#2f9e6e; --warn:#d99a1e; --bad:#d04a3c; --bg:#f7f8fb; }
  * { box-sizing: border-box; }
  body { margin: 0; font: 14px/1.45 system-ui, -apple-system, "Segoe UI", sans-serif; color: var(--fg); background: var(--bg); }
  header { padding: 14px 24px; background: #fff; border-bottom: 1px solid var(--line); display: flex; gap: 24px; align-items: baseline; }
  header h1 { font-size: 18px; margin: 0; }
  header .meta { color: var(--muted); }
  main { padding: 16px 24px; display: grid; gap: 16px; }
  section { background: #fff; border: 1px solid var(--line); border-radius: 8px; padding: 14px 16px; }
  section h2 { font-size: 15px; margin: 0 0 10px; }
  table { border-collapse: collapse; width: 100%; }
  th, td { text-align: left; padding: 5px 8px; border-bottom: 1px solid var(--line); vertical-align: middle; }
  th { color: var(--muted); font-weight: 600; font-size: 12px; text-transform: uppercase; letter-spacing: .03em; }
  .num { text-align: right; font-variant-numeric: tabular-nums; }
  .bar { position: relative; width: 160px; height: 10px; background: #eef0f5; border-radius: 5px; overflow: hidden; display: inline-block; vertical-align: middle; }
  .bar > i { position: absolute; left: 0; top: 0; bottom: 0; background: var(--ok); }
  .bar.warn > i { background: var(--warn); } .bar.bad > i { background: var(--bad); }
  .tag { display: inline-block; padding: 0 6px; border-radius: 4px; font-size: 12px; background: #eef0f5; color: var(--muted); }
  .tag.bad { background: #fbe5e2; color: var(--bad); } .tag.ok { background: #e2f4ec; color: var(--ok); }
  .bucket { margin-bottom: 14px; } .bucket h3 { margin: 0 0 6px; font-size: 14px; }
  .legend span { margin-right: 14px; white-space: nowrap; } .legend i { display: inline-block; width: 10px; height: 10px; border-radius: 2px; margin-right: 4px; }
  #error { color: var(--bad); }
  svg text { fill: var(--muted); font-size: 10px; }
</style>
</head>
<body>
<header><h1>Backrunner</h1><span class="meta" id="updated">loading…</span><span id="error"></span></header>
<main>
  <section><h2>Buckets — automatic uploads</h2><table id="selection"><thead><tr><th>bucket</th><th>groups</th><th class="num">predicted 4 KiB</th><th class="num">predicted 1 MiB</th><th class="num">weight</th><th class="num">share, last minute</th><th>state</th></tr></thead><tbody></tbody></table></section>
  <section><h2>Backends</h2><div id="buckets"></div></section>
  <section><h2>Write latency — mean storage time per 10 s, last 5 minutes</h2><div id="chart"></div><div class="legend" id="legend"></div></section>
  <section><h2>Replicas — hinted handoff and read-repair</h2><table id="repairs"><thead><tr><th class="num">hints pending</th><th class="num">journal</th><th class="num">delivered</th><th class="num">failed tries</th><th class="num">dropped</th><th class="num">overflowed</th><th class="num">copied</th><th class="num">read-repairs</th><th>last error</th></tr></thead><tbody></tbody></table></section>
  <section><h2>Storage nodes</h2><table id="nodes"><thead><tr><th>worker</th><th>node</th><th>state</th><th class="num">connections</th><th class="num">in flight</th></tr></thead><tbody></tbody></table></section>
  <section><h2>Recent errors</h2><table id="errors"><thead><tr><th>time</th><th>request</th><th class="num">status</th><th>error</th></tr></thead><tbody></tbody></table></section>
</main>
<script>
"use strict";
const COLORS = ['#3b6fd8', '#d04a3c', '#2f9e6e', '#d99a1e', '#8a4fd0', '#1f9bb0', '#c2528b', '#6b7385'];
const $ = (id) => document.getElementById(id);
const el = (tag, attrs, ...kids) => {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) e.setAttribute(k, v);
  for (const k of kids) e.append(k instanceof Node ? k : document.createTextNode(String(k)));
  return e;
};
const pct = (x) => (x * 100).toFixed(1) + ' %';
const bytes = (n) => { if (n == null) return '–'; const u = ['B', 'KiB', 'MiB', 'GiB', 'TiB']; let i = 0; while (n >= 1024 && i < u.length - 1) { n /= 1024; i++; } return n.toFixed(i ? 1 : 0) + ' ' + u[i]; };
const time = (ms) => new Date(ms).toLocaleTimeString();
const ms = (v) => (v == null ? '∞' : v >= 100 ? Math.round(v).toLocaleString('en') + ' ms' : v.toPrecision(2) + ' ms');
const mbps = (perByte) => (perByte > 0 ? Math.round(1 / perByte).toLocaleString('en') + ' MB/s' : '∞ MB/s');

function fill(tbody, rows) {
  tbody.replaceChildren(...rows);
}

function bar(used, limit) {
  const f = limit ? Math.min(1, used / limit) : 0;
  const b = el('span', { class: 'bar' + (f > 0.9 ? ' bad' : f > 0.7 ? ' warn' : '') });
  const i = el('i');
  i.style.width = (f * 100).toFixed(1) + '%';
  b.append(i);
  return el('span', {}, b, ' ', bytes(used) + ' of ' + bytes(limit));
}

function chart(backends) {
  const W = 760, H = 180, L = 44, B = 20, now = Date.now(), span = 5 * 60 * 1000;
  const series = Object.entries(backends).map(([key, b], i) => ({ key, color: COLORS[i % COLORS.length], points: b.History.filter((h) => h.MeanMs != null) }));
  const max = Math.max(1, ...series.flatMap((s) => s.points.map((p) => p.MeanMs)));
  const ns = 'http://www.w3.org/2000/svg';
  const svg = document.createElementNS(ns, 'svg');
  svg.setAttribute('viewBox', '0 0 ' + W + ' ' + H);
  svg.setAttribute('width', '100%');
  svg.setAttribute('id', 'latency-chart');
  const add = (tag, attrs, text) => { const e = document.createElementNS(ns, tag); for (const [k, v] of Object.entries(attrs)) e.setAttribute(k, v); if (text != null) e.textContent = text; svg.append(e); return e; };
  const x = (t) => L + ((t - (now - span)) / span) * (W - L - 8);
  const y = (v) => H - B - (v / max) * (H - B - 10);
  for (const f of [0, 0.5, 1]) {
    add('line', { x1: L, x2: W - 8, y1: y(max * f), y2: y(max * f), stroke: '#e3e6ee' });
    add('text', { x: L - 6, y: y(max * f) + 3, 'text-anchor': 'end' }, (max * f).toFixed(max * f < 10 ? 1 : 0) + ' ms');
  }
  for (const m of [5, 4, 3, 2, 1, 0]) add('text', { x: x(now - m * 60000), y: H - 4, 'text-anchor': 'middle' }, m ? '−' + m + ' min' : 'now');
  for (const s of series) {
    if (s.points.length === 0) continue;
    const pts = s.points.map((p) => x(p.Time + 5000).toFixed(1) + ',' + y(p.MeanMs).toFixed(1)).join(' ');
    add('polyline', { points: pts, fill: 'none', stroke: s.color, 'stroke-width': 2, 'data-backend': s.key });
    for (const p of s.points) add('circle', { cx: x(p.Time + 5000), cy: y(p.MeanMs), r: p.Errors ? 3.5 : 2, fill: p.Errors ? '#d04a3c' : s.color });
  }
  $('chart').replaceChildren(svg);
  $('legend').replaceChildren(...series.map((s) => { const i = el('i'); i.style.background = s.color; return el('span', {}, i, s.key); }));
}

function render(stat) {
  const st = stat.Status || { Selection: [], Backends: {}, Errors: [], Nodes: [] };
  $('updated').textContent = 'updated ' + time(st.Time || Date.now()) + ' · storage statistics ' + stat.StatTime;
  fill($('selection').tBodies[0], st.Selection.map((s) => el('tr', { 'data-bucket': s.Bucket },
    el('td', {}, el('b', {}, s.Bucket)), el('td', {}, s.Groups.join(', ')), el('td', { class: 'num cost-small' }, ms(s.CostSmallMs)), el('td', { class: 'num cost-large' }, ms(s.CostLargeMs)),
    el('td', { class: 'num' }, pct(s.Weight)), el('td', { class: 'num' }, pct(s.Share) + ' (' + s.Chosen + ')'),
    el('td', {}, s.Rejected ? el('span', { class: 'tag bad', title: s.Rejected }, 'no uploads: ' + s.Rejected) : el('span', { class: 'tag ok' }, 'candidate')))));
  const blocks = [];
  for (const [name, b] of Object.entries(stat.Buckets || {})) {
    const rows = [];
    for (const [group, g] of Object.entries(b.Group)) {
      for (const be of g.Backends) {
        const key = be.Address + '/' + be.Backend;
        const live = st.Backends[key] || {};
        const vfs = be.Stat.VFS;
        rows.push(el('tr', {}, el('td', {}, group), el('td', {}, key), el('td', {}, bar(vfs.BackendUsedSize, vfs.TotalSizeLimit)),
          el('td', { class: 'num' }, live.Cost ? ms(live.Cost.FixedMicros / 1000) + ' + ' + mbps(live.Cost.MicrosPerByte) : '–'), el('td', { class: 'num' }, (live.Writes || 0) + ' / ' + (live.Errors || 0)),
          el('td', {}, be.Stat.RO ? el('span', { class: 'tag bad' }, 'read-only') : be.Stat.error.code ? el('span', { class: 'tag bad' }, 'error ' + be.Stat.error.code)
            : live.Full ? el('span', { class: 'tag bad', 'data-full': key }, 'full') : el('span', { class: 'tag ok' }, 'ok'),
            live.Corrupted ? el('span', { class: 'tag bad', title: 'records found damaged (read errors, checksum mismatches)' }, ' ' + live.Corrupted + ' damaged') : '')));
      }
    }
    const head = el('tr', {}, ...['group', 'backend', 'fill', 'write cost', 'writes / errors', 'state'].map((h) => el('th', {}, h)));
    blocks.push(el('div', { class: 'bucket' }, el('h3', {}, name), el('table', {}, el('thead', {}, head), el('tbody', {}, ...rows))));
  }
  $('buckets').replaceChildren(...blocks);
  chart(st.Backends);
  const r = st.Repairs;
  if (r) fill($('repairs').tBodies[0], [el('tr', {}, el('td', { class: 'num', 'data-pending': r.PendingHints }, r.PendingHints), el('td', { class: 'num' }, bytes(r.JournalBytes)),
    el('td', { class: 'num' }, r.Delivered), el('td', { class: 'num' }, r.DeliveryFailures), el('td', { class: 'num' }, r.Dropped),
    el('td', { class: 'num' }, r.Overflowed ? el('span', { class: 'tag bad', title: 'the hint journal was full: run backrunner recover' }, r.Overflowed) : 0),
    el('td', { class: 'num' }, bytes(r.CopiedBytes)), el('td', { class: 'num' }, r.ReadRepairs + (r.ReadRepairFailures ? ' (' + r.ReadRepairFailures + ' failed)' : '')),
    el('td', {}, r.LastError || '–'))]);
  fill($('nodes').tBodies[0], st.Nodes.map((n) => el('tr', {}, el('td', {}, n.Worker), el('td', {}, n.Node),
    el('td', {}, el('span', { class: 'tag ' + (n.State === 'up' ? 'ok' : 'bad') }, n.State)), el('td', { class: 'num' }, n.Connections), el('td', { class: 'num' }, n.InFlight))));
  fill($('errors').tBodies[0], st.Errors.slice().reverse().map((e) => el('tr', {}, el('td', {}, time(e.Time)), el('td', {}, e.Method + ' ' + (e.Handler || '')),
    el('td', { class: 'num' }, e.Status), el('td', {}, e.Error))));
}

async function refresh() {
  try {
    const r = await fetch('/stat/', { cache: 'no-store' });
    render(await r.json());
    $('error').textContent = '';
  } catch (err) {
    $('error').textContent = 'cannot reach /stat/: ' + err;
  }
}
refresh();
setInterval(refresh, 2000);
</script>
</body>
</html>
`;
