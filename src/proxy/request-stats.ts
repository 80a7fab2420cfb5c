// Per-worker request counters, reported to the primary about once a second and folded there into
// the proxy-wide figures of /proxy_stat/ and /metrics.

import type { HandlerCounters, RecentError, WorkerReport } from './snapshot.js';

/** Latency buckets (seconds) of the /metrics histogram. */
export const LATENCY_BUCKETS = [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];

export function statusClass(status: number): string {
  return status >= 100 && status < 600 ? `${Math.floor(status / 100)}00` : String(status);
}

export class RequestStats {
  private handlers: Record<string, HandlerCounters> = {};
  private errors: RecentError[] = [];

  record(handler: string, status: number, bytes: number, seconds: number): void {
    const h = (this.handlers[handler] ??= {});
    const cls = statusClass(status);
    const c = (h[cls] ??= { requests: 0, bytes: 0 });
    c.requests++;
    c.bytes += bytes;
    // Latency histogram cells live beside the counters: "le:<bound>" → count, "sum" → seconds.
    const lat = (h[`latency:${cls}`] ??= { requests: 0, bytes: 0 });
    lat.requests++;
    lat.bytes += seconds;
    for (const b of LATENCY_BUCKETS) {
      if (seconds <= b) {
        const cell = (h[`le:${cls}:${b}`] ??= { requests: 0, bytes: 0 });
        cell.requests++;
      }
    }
  }

  error(e: RecentError): void {
    this.errors.push(e);
    if (this.errors.length > 128) this.errors.shift();
  }

  /** What happened since the last call. */
  drain(): WorkerReport {
    const report = { handlers: this.handlers, errors: this.errors };
    this.handlers = {};
    this.errors = [];
    return report;
  }
}

/** Adds a worker report into running totals (primary side). */
export function foldReport(totals: Record<string, HandlerCounters>, errors: RecentError[], r: WorkerReport): void {
  for (const [handler, classes] of Object.entries(r.handlers)) {
    const t = (totals[handler] ??= {});
    for (const [cls, c] of Object.entries(classes)) {
      const cell = (t[cls] ??= { requests: 0, bytes: 0 });
      cell.requests += c.requests;
      cell.bytes += c.bytes;
    }
  }
  errors.push(...r.errors);
  errors.sort((a, b) => a.time - b.time);
  if (errors.length > 128) errors.splice(0, errors.length - 128);
}
