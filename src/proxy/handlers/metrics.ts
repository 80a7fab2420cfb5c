// GET /metrics: Prometheus text from the primary's folded view (DESIGN §6) — the same numbers
// whichever worker answers: requests per handler, status class and code (bytes in and out apart,
// latency histograms), storage writes per backend (storage time, errors, PID pain), bucket
// selection, storage statistics, pools and node states per worker, process gauges.

import { backendKey } from '../../elliptics/stats.js';
import { LATENCY_BUCKETS, type Histogram } from '../../ipc/report.js';
import type { Request } from '../request.js';
import { bucketSummaries } from '../selection-view.js';

type Labels = Record<string, string | number>;

class Exposition {
  private readonly lines: string[] = [];

  private static labels(l: Labels): string {
    const parts = Object.entries(l).map(([k, v]) => `${k}="${String(v).replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n')}"`);
    return parts.length ? `{${parts.join(',')}}` : '';
  }

  family(name: string, type: 'counter' | 'gauge' | 'histogram', help: string): this {
    this.lines.push(`# HELP ${name} ${help}`, `# TYPE ${name} ${type}`);
    return this;
  }

  sample(name: string, labels: Labels, value: number): void {
    this.lines.push(`${name}${Exposition.labels(labels)} ${Number.isFinite(value) ? value : value > 0 ? '+Inf' : 'NaN'}`);
  }

  histogram(name: string, labels: Labels, h: Histogram): void {
    let cumulative = 0;
    LATENCY_BUCKETS.forEach((bound, i) => {
      cumulative += h.le[i] ?? 0;
      this.sample(`${name}_bucket`, { ...labels, le: bound }, cumulative);
    });
    this.sample(`${name}_bucket`, { ...labels, le: '+Inf' }, h.count);
    this.sample(`${name}_sum`, labels, h.sum);
    this.sample(`${name}_count`, labels, h.count);
  }

  comment(text: string): void {
    this.lines.push(`# ${text}`);
  }

  text(): string {
    return `${this.lines.join('\n')}\n`;
  }
}

const classOf = (code: string): string => (/^[1-5]\d\d$/.test(code) ? `${code[0]}xx` : code);

export async function metrics(req: Request): Promise<void> {
  const { live, snapshot: snap } = req.ctx;
  const m = new Exposition();

  const requests = Object.entries(live.requests).flatMap(([handler, byCode]) => Object.entries(byCode).map(([code, c]) => ({ labels: { handler, class: classOf(code), code }, c })));
  m.family('backrunner_http_requests_total', 'counter', 'HTTP requests by handler, status class and status code (all workers).');
  for (const r of requests) m.sample('backrunner_http_requests_total', r.labels, r.c.requests);
  m.family('backrunner_http_request_bytes_total', 'counter', 'Request body bytes received, by handler, status class and code.');
  for (const r of requests) m.sample('backrunner_http_request_bytes_total', r.labels, r.c.bytesIn);
  m.family('backrunner_http_response_bytes_total', 'counter', 'Response body bytes sent, by handler, status class and code.');
  for (const r of requests) m.sample('backrunner_http_response_bytes_total', r.labels, r.c.bytesOut);
  m.family('backrunner_http_request_duration_seconds', 'histogram', 'Request duration by handler, status class and code.');
  for (const r of requests) m.histogram('backrunner_http_request_duration_seconds', r.labels, r.c.latency);

  const groupOf = new Map<string, number>();
  for (const [group, backends] of snap.routes) for (const [node, id] of backends) groupOf.set(backendKey(node, id), group);
  for (const b of snap.backends) groupOf.set(backendKey(b.address, b.backendId), b.group);
  const backendLabels = (key: string): Labels => {
    const slash = key.lastIndexOf('/');
    return { address: key.slice(0, slash), backend: key.slice(slash + 1), group: groupOf.get(key) ?? '' };
  };
  const backends = Object.entries(live.backends).sort(([a], [b]) => (a < b ? -1 : 1));
  m.family('backrunner_storage_writes_total', 'counter', 'Writes of uploads to a storage backend (named and automatic).');
  for (const [key, b] of backends) m.sample('backrunner_storage_writes_total', backendLabels(key), b.totals.writes);
  m.family('backrunner_storage_write_errors_total', 'counter', 'Writes the storage backend failed (errors and timeouts).');
  for (const [key, b] of backends) m.sample('backrunner_storage_write_errors_total', backendLabels(key), b.totals.errors);
  m.family('backrunner_storage_write_bytes_total', 'counter', 'Bytes of uploads written to a storage backend.');
  for (const [key, b] of backends) m.sample('backrunner_storage_write_bytes_total', backendLabels(key), b.totals.bytes);
  m.family('backrunner_storage_write_duration_seconds', 'histogram', 'Storage time of writes (from the first frame sent to the last reply; waiting for the client excluded).');
  for (const [key, b] of backends) m.histogram('backrunner_storage_write_duration_seconds', backendLabels(key), b.totals.latency);
  m.family('backrunner_backend_pain', 'gauge', 'PID pain of a backend: expected write cost in microseconds per byte (spec §12.5).');
  for (const [key, b] of backends) m.sample('backrunner_backend_pain', backendLabels(key), b.pid.pain);

  const summaries = bucketSummaries(req.ctx);
  m.family('backrunner_backend_write_fixed_seconds', 'gauge', 'Cost model of a backend: seconds every write takes whatever its size.');
  for (const [key, b] of backends) m.sample('backrunner_backend_write_fixed_seconds', backendLabels(key), b.cost.fixed / 1e6);
  m.family('backrunner_backend_write_seconds_per_byte', 'gauge', 'Cost model of a backend: seconds a write takes per byte (1 / throughput).');
  for (const [key, b] of backends) m.sample('backrunner_backend_write_seconds_per_byte', backendLabels(key), b.cost.perByte / 1e6);
  m.family('backrunner_bucket_pain', 'gauge', 'Selection pain of a bucket for a 1 MiB upload on the worst backend of each group.');
  for (const s of summaries) m.sample('backrunner_bucket_pain', { bucket: s.bucket }, s.pain);
  m.family('backrunner_bucket_predicted_write_seconds', 'gauge', 'Predicted storage time of an upload into the bucket (worst backend of each group), for a small and a large size.');
  for (const s of summaries) {
    m.sample('backrunner_bucket_predicted_write_seconds', { bucket: s.bucket, size: '4KiB' }, s.costSmall / 1e6);
    m.sample('backrunner_bucket_predicted_write_seconds', { bucket: s.bucket, size: '1MiB' }, s.costLarge / 1e6);
  }
  m.family('backrunner_bucket_weight', 'gauge', 'Share of the draw of an automatic upload the bucket would get (0 … 1).');
  for (const s of summaries) m.sample('backrunner_bucket_weight', { bucket: s.bucket }, s.weight);
  m.family('backrunner_bucket_automatic_share', 'gauge', 'Share of automatic uploads the bucket took over the last minute (0 … 1).');
  for (const s of summaries) m.sample('backrunner_bucket_automatic_share', { bucket: s.bucket }, s.share);

  const gauges: [string, string, (b: (typeof snap.backends)[number]) => number][] = [
    ['backrunner_backend_total_bytes', 'Filesystem size under the backend.', (b) => b.total],
    ['backrunner_backend_avail_bytes', 'Free filesystem bytes under the backend.', (b) => b.avail],
    ['backrunner_backend_limit_bytes', 'Size limit of the backend.', (b) => b.limit],
    ['backrunner_backend_used_bytes', 'Bytes of blob files.', (b) => b.used],
    ['backrunner_backend_removed_bytes', 'Bytes of removed or overwritten records not reclaimed yet.', (b) => b.removedSize],
    ['backrunner_backend_records', 'Records in the backend.', (b) => b.recordsTotal],
    ['backrunner_backend_removed_records', 'Removed records in the backend.', (b) => b.recordsRemoved],
    ['backrunner_backend_read_only', '1 when the backend is read-only.', (b) => (b.readOnly ? 1 : 0)],
    ['backrunner_backend_defrag_state', 'Defragmentation state (0 not running, 1 in progress).', (b) => b.defragState],
    ['backrunner_backend_delay_ms', 'Delay injected per operation.', (b) => b.delay],
    ['backrunner_backend_error', 'Error code in the backend statistics (0 = fine).', (b) => b.error],
  ];
  for (const [name, help, get] of gauges) {
    m.family(name, 'gauge', help);
    for (const b of snap.backends) m.sample(name, { group: b.group, address: b.address, backend: b.backendId }, get(b));
  }

  m.family('backrunner_worker_in_flight_requests', 'gauge', 'Requests in progress in a worker.');
  for (const w of live.workers) m.sample('backrunner_worker_in_flight_requests', { worker: w.index }, w.inFlight);
  m.family('backrunner_worker_shed_requests_total', 'counter', 'Requests a worker refused with 503 under load (proxy.max-*-in-flight) since it started.');
  for (const w of live.workers) m.sample('backrunner_worker_shed_requests_total', { worker: w.index }, w.shed);
  m.family('backrunner_local_reads_total', 'counter', 'Reads of the embedded node taken from its blob files (served), or read through the node after all (missed: the record moved or changed).');
  for (const w of live.workers) {
    m.sample('backrunner_local_reads_total', { worker: w.index, result: 'served' }, w.localReads);
    m.sample('backrunner_local_reads_total', { worker: w.index, result: 'missed' }, w.localMisses);
  }
  m.family('backrunner_pool_connections', 'gauge', 'Connections of a worker to a storage node.');
  for (const w of live.workers) for (const p of w.pools) m.sample('backrunner_pool_connections', { worker: w.index, node: p.node }, p.connections);
  m.family('backrunner_pool_in_flight', 'gauge', 'Storage transactions in flight from a worker to a node.');
  for (const w of live.workers) for (const p of w.pools) m.sample('backrunner_pool_in_flight', { worker: w.index, node: p.node }, p.inFlight);
  m.family('backrunner_node_state', 'gauge', 'State of a storage node as a worker\'s client sees it (1 for the current state).');
  for (const w of live.workers) for (const p of w.pools) m.sample('backrunner_node_state', { worker: w.index, node: p.node, state: p.state }, 1);

  const r = live.repairs;
  const repairs: [string, 'gauge' | 'counter', string, number][] = [
    ['backrunner_hints_pending', 'gauge', 'Writes and removals that missed a group, journaled until delivered (hinted handoff).', r.pendingHints],
    ['backrunner_hint_journal_bytes', 'gauge', 'Size of the hint journal file.', r.journalBytes],
    ['backrunner_hints_overflowed_total', 'counter', 'Hints refused because the journal was full (proxy.hint-limit): run backrunner recover.', r.overflowed],
    ['backrunner_hints_delivered_total', 'counter', 'Hints delivered (the group holds the acknowledged state).', r.delivered],
    ['backrunner_hint_delivery_failures_total', 'counter', 'Hint deliveries that failed (retried with back-off).', r.deliveryFailures],
    ['backrunner_hints_dropped_total', 'counter', 'Hints dropped: their bucket is gone, or nothing is left to copy.', r.dropped],
    ['backrunner_hint_copied_bytes_total', 'counter', 'Bytes copied by hint deliveries.', r.copiedBytes],
    ['backrunner_read_repairs_total', 'counter', 'Replicas rewritten by read-repair.', r.readRepairs],
    ['backrunner_read_repair_failures_total', 'counter', 'Read-repairs that failed.', r.readRepairFailures],
  ];
  for (const [name, type, help, value] of repairs) {
    m.family(name, type, help);
    m.sample(name, {}, value);
  }

  m.family('process_resident_memory_bytes', 'gauge', 'Resident memory of each process of the proxy.');
  for (const p of live.processes) m.sample('process_resident_memory_bytes', { process: p.kind, worker: p.index }, p.rss);
  m.family('nodejs_heap_used_bytes', 'gauge', 'V8 heap in use.');
  for (const p of live.processes) if (p.heapUsed > 0) m.sample('nodejs_heap_used_bytes', { process: p.kind, worker: p.index }, p.heapUsed);
  m.family('nodejs_eventloop_lag_p99_seconds', 'gauge', 'p99 event-loop delay over the last second.');
  for (const p of live.processes) if (p.kind !== 'storage-node') m.sample('nodejs_eventloop_lag_p99_seconds', { process: p.kind, worker: p.index }, p.loopLagMs / 1000);
  m.family('backrunner_live_seq', 'gauge', 'Sequence number of the folded view this answer comes from.');
  m.sample('backrunner_live_seq', {}, live.seq);
  m.comment(`answered by worker ${req.ctx.index}`);

  req.ex.end(200, [['Content-Type', 'text/plain; version=0.0.4; charset=utf-8']], m.text());
}
