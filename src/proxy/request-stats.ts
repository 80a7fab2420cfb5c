// Per-worker request counters, reported to the primary about once a second and folded there into
// the proxy-wide figures of /proxy_stat/ and /metrics.

import type { HandlerCounters, RecentError, WorkerReport } from './snapshot.js';

/** Latency buckets (seconds) of the /metrics histogram. */
export const LATENCY_BUCKETS = [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];

export function statusClass(status: number): string {
  return status >= 100 && status < 600 ? `${Math.floor(status / 100)}00` : String(status);
}

type Cell = { requests: number; bytes: number };

/** The cells one (handler, status class) pair updates, found once instead of by building keys per request. */
interface ClassCells {
  count: Cell;
  /** requests = count, bytes = sum of seconds. */
  latency: Cell;
  /** One per LATENCY_BUCKETS bound (cumulative, as Prometheus wants them). */
  le: Cell[];
}

export class RequestStats {
  private handlers: Record<string, HandlerCounters> = {};
  private errors: RecentError[] = [];
  private cells = new Map<string, Map<number, ClassCells>>();

  // The cells live beside the counters in the report: "<class>" → requests, bytes;
  // "latency:<class>" → count, seconds; "le:<class>:<bound>" → count.
  private cellsOf(handler: string, status: number): ClassCells {
    let byStatus = this.cells.get(handler);
    if (!byStatus) this.cells.set(handler, (byStatus = new Map()));
    let c = byStatus.get(status);
    if (!c) {
      const h = (this.handlers[handler] ??= {});
      const cls = statusClass(status);
      const cell = (key: string): Cell => (h[key] ??= { requests: 0, bytes: 0 });
      c = { count: cell(cls), latency: cell(`latency:${cls}`), le: LATENCY_BUCKETS.map((b) => cell(`le:${cls}:${b}`)) };
      byStatus.set(status, c);
    }
    return c;
  }

  record(handler: string, status: number, bytes: number, seconds: number): void {
    const c = this.cellsOf(handler, status);
    c.count.requests++;
    c.count.bytes += bytes;
    c.latency.requests++;
    c.latency.bytes += seconds;
    for (let i = LATENCY_BUCKETS.length - 1; i >= 0 && seconds <= LATENCY_BUCKETS[i]!; i--) c.le[i]!.requests++;
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
    this.cells.clear();
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
