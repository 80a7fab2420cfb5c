// GET /metrics: Prometheus text — request counters and latency histograms per handler and status
// class (all workers, folded by the primary), storage backend figures, this worker's pools.

import { LATENCY_BUCKETS } from '../request-stats.js';
import type { Request } from '../request.js';

export async function metrics(req: Request): Promise<void> {
  const snap = req.ctx.snapshot;
  const out: string[] = [];
  const esc = (v: string | number) => String(v).replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n');
  const labels = (l: Record<string, string | number>) => `{${Object.entries(l).map(([k, v]) => `${k}="${esc(v)}"`).join(',')}}`;

  out.push('# HELP backrunner_requests_total HTTP requests by handler and status class.', '# TYPE backrunner_requests_total counter');
  for (const [handler, cells] of Object.entries(snap.handlers)) {
    for (const [cls, c] of Object.entries(cells)) if (/^\d+$/.test(cls)) out.push(`backrunner_requests_total${labels({ handler, class: cls })} ${c.requests}`);
  }
  out.push('# HELP backrunner_response_bytes_total Bytes sent or received by handler and status class.', '# TYPE backrunner_response_bytes_total counter');
  for (const [handler, cells] of Object.entries(snap.handlers)) {
    for (const [cls, c] of Object.entries(cells)) if (/^\d+$/.test(cls)) out.push(`backrunner_response_bytes_total${labels({ handler, class: cls })} ${c.bytes}`);
  }
  out.push('# HELP backrunner_request_duration_seconds Request duration by handler and status class.', '# TYPE backrunner_request_duration_seconds histogram');
  for (const [handler, cells] of Object.entries(snap.handlers)) {
    for (const cls of Object.keys(cells).filter((k) => /^\d+$/.test(k))) {
      for (const b of LATENCY_BUCKETS) out.push(`backrunner_request_duration_seconds_bucket${labels({ handler, class: cls, le: b })} ${cells[`le:${cls}:${b}`]?.requests ?? 0}`);
      const total = cells[`latency:${cls}`];
      out.push(`backrunner_request_duration_seconds_bucket${labels({ handler, class: cls, le: '+Inf' })} ${total?.requests ?? 0}`);
      out.push(`backrunner_request_duration_seconds_sum${labels({ handler, class: cls })} ${total?.bytes ?? 0}`);
      out.push(`backrunner_request_duration_seconds_count${labels({ handler, class: cls })} ${total?.requests ?? 0}`);
    }
  }
  const gauges: [string, string, (b: (typeof snap.backends)[number]) => number][] = [
    ['backrunner_backend_total_bytes', 'Filesystem size under the backend.', (b) => b.total],
    ['backrunner_backend_avail_bytes', 'Free filesystem bytes under the backend.', (b) => b.avail],
    ['backrunner_backend_limit_bytes', 'Size limit of the backend.', (b) => b.limit],
    ['backrunner_backend_used_bytes', 'Bytes of blob files.', (b) => b.used],
    ['backrunner_backend_records', 'Records in the backend.', (b) => b.recordsTotal],
    ['backrunner_backend_removed_records', 'Removed records in the backend.', (b) => b.recordsRemoved],
    ['backrunner_backend_read_only', '1 when the backend is read-only.', (b) => (b.readOnly ? 1 : 0)],
    ['backrunner_backend_delay_ms', 'Delay injected per operation.', (b) => b.delay],
    ['backrunner_backend_error', 'Error code in the backend statistics (0 = fine).', (b) => b.error],
  ];
  for (const [name, help, get] of gauges) {
    out.push(`# HELP ${name} ${help}`, `# TYPE ${name} gauge`);
    for (const b of snap.backends) out.push(`${name}${labels({ group: b.group, address: b.address, backend: b.backendId })} ${get(b)}`);
  }
  out.push('# HELP backrunner_pool_connections Connections of this worker to each storage node.', '# TYPE backrunner_pool_connections gauge');
  for (const p of req.ctx.cluster.nodes()) out.push(`backrunner_pool_connections${labels({ node: p.address ?? p.endpoint, worker: process.pid })} ${p.connections}`);
  out.push('# HELP backrunner_pool_in_flight Storage transactions in flight from this worker.', '# TYPE backrunner_pool_in_flight gauge');
  for (const p of req.ctx.cluster.nodes()) out.push(`backrunner_pool_in_flight${labels({ node: p.address ?? p.endpoint, worker: process.pid })} ${p.inFlight}`);
  req.ex.end(200, [['Content-Type', 'text/plain; version=0.0.4; charset=utf-8']], `${out.join('\n')}\n`);
}
