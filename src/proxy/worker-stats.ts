// A worker's counters between two reports to the primary: requests per handler and status code,
// storage writes per backend (storage time only), automatic bucket choices, recent errors. The
// primary folds every worker's reports into the figures /metrics, /stat/, /proxy_stat/ and bucket
// selection use.

import { ProcessMeter } from '../util/process-meter.js';
import { newHistogram, observe, type RecentError, type RequestCell, type WorkerReport, type WriteCell } from '../ipc/report.js';

/** How long a worker keeps a backend it saw fail out of its own automatic choices (the primary's PID takes over). */
const LOCAL_FAILURE_MS = 3000;
const MAX_ERRORS = 128;

export class WorkerStats {
  private requests = new Map<string, Map<number, RequestCell>>();
  private writes: Record<string, WriteCell> = {};
  private choices: Record<string, number> = {};
  private errors: RecentError[] = [];
  private readonly failedUntil = new Map<string, number>();
  private readonly meter = new ProcessMeter();

  constructor(private readonly worker: number) {}

  /** One finished request. */
  request(handler: string, status: number, bytesIn: number, bytesOut: number, seconds: number): void {
    let byStatus = this.requests.get(handler);
    if (!byStatus) this.requests.set(handler, (byStatus = new Map()));
    let c = byStatus.get(status);
    if (!c) byStatus.set(status, (c = { requests: 0, bytesIn: 0, bytesOut: 0, size: 0, latency: newHistogram() }));
    c.requests++;
    c.bytesIn += bytesIn;
    c.bytesOut += bytesOut;
    c.size += bytesIn || bytesOut;
    observe(c.latency, seconds);
  }

  error(e: RecentError): void {
    this.errors.push(e);
    if (this.errors.length > MAX_ERRORS) this.errors.shift();
  }

  /** One write to one backend (`address/backend`): storage time, and whether the storage failed it. */
  write(backend: string, ok: boolean, bytes: number, micros: number, error?: string): void {
    const c = (this.writes[backend] ??= { writes: 0, errors: 0, bytes: 0, micros: 0, latency: newHistogram(), cost: { writes: 0, bytes: 0, sizeSq: 0, micros: 0, sizeMicros: 0 } });
    c.writes++;
    c.bytes += bytes;
    c.micros += micros;
    observe(c.latency, micros / 1e6);
    if (ok) {
      // What the cost model fits: how long a write of this size took (a failure's time says nothing of that).
      c.cost.writes++;
      c.cost.bytes += bytes;
      c.cost.sizeSq += bytes * bytes;
      c.cost.micros += micros;
      c.cost.sizeMicros += bytes * micros;
    } else {
      c.errors++;
      if (error) c.lastError = error;
      this.failedUntil.set(backend, Date.now() + LOCAL_FAILURE_MS);
    }
  }

  /** This worker saw `backend` fail a write moments ago: keep it out of automatic choices already. */
  failedRecently(backend: string, now: number): boolean {
    const until = this.failedUntil.get(backend);
    if (until === undefined) return false;
    if (until > now) return true;
    this.failedUntil.delete(backend);
    return false;
  }

  private readRepairs = 0;
  private readRepairFailures = 0;

  /** A read-repair finished (rewritten, or failed). */
  readRepaired(ok: boolean): void {
    if (ok) this.readRepairs++;
    else this.readRepairFailures++;
  }

  chose(bucket: string): void {
    this.choices[bucket] = (this.choices[bucket] ?? 0) + 1;
  }

  /** Everything since the last call, with the worker's gauges. */
  drain(gauges: Pick<WorkerReport, 'inFlight' | 'shed' | 'localReads' | 'localMisses' | 'pools'>): WorkerReport {
    const requests: WorkerReport['requests'] = {};
    for (const [handler, byStatus] of this.requests) requests[handler] = Object.fromEntries([...byStatus].map(([status, c]) => [String(status), c]));
    const me = this.meter.read(process.pid);
    const report: WorkerReport = {
      worker: this.worker,
      pid: process.pid,
      requests,
      writes: this.writes,
      choices: this.choices,
      errors: this.errors,
      rss: me.rss,
      heapUsed: me.heapUsed,
      loopLagMs: me.loopLagMs,
      inFlight: gauges.inFlight,
      shed: gauges.shed,
      localReads: gauges.localReads,
      localMisses: gauges.localMisses,
      pools: gauges.pools,
      readRepairs: this.readRepairs,
      readRepairFailures: this.readRepairFailures,
    };
    this.readRepairs = 0;
    this.readRepairFailures = 0;
    this.requests = new Map();
    this.writes = {};
    this.choices = {};
    this.errors = [];
    return report;
  }
}
