// What a worker tells the primary about once a second (DESIGN §1): counters since its last report,
// small and bounded — per handler and status code, per storage backend written to, per bucket
// chosen automatically — plus the last errors and the worker's own gauges. msgpackr-encoded.

import type { MeasuredWrites } from '../buckets/cost-model.js';
import { decodeMessage, encodeMessage } from './codec.js';
import { arr, count, int, IpcShapeError, num, obj, opt, record, str, type Schema } from './schema.js';

/** Latency bounds (seconds) of every histogram: requests, storage writes. */
export const LATENCY_BUCKETS = [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10] as const;

/** A latency histogram: count per bound of LATENCY_BUCKETS (not cumulative), plus the total. */
export interface Histogram {
  le: number[];
  count: number;
  /** Σ seconds. */
  sum: number;
}

export function newHistogram(): Histogram {
  return { le: LATENCY_BUCKETS.map(() => 0), count: 0, sum: 0 };
}

export function observe(h: Histogram, seconds: number): void {
  h.count++;
  h.sum += seconds;
  for (let i = 0; i < LATENCY_BUCKETS.length; i++) {
    if (seconds <= LATENCY_BUCKETS[i]!) {
      h.le[i]!++;
      return;
    }
  }
}

export function addHistogram(into: Histogram, h: Histogram): void {
  into.count += h.count;
  into.sum += h.sum;
  for (let i = 0; i < into.le.length; i++) into.le[i]! += h.le[i] ?? 0;
}

/** Requests of one handler that ended with one status code. */
export interface RequestCell {
  requests: number;
  /** Body bytes received. */
  bytesIn: number;
  /** Body bytes sent. */
  bytesOut: number;
  /** The original's estimator size (spec §2 step 9): request length, else response length. */
  size: number;
  latency: Histogram;
}

/** Writes to one storage backend (`address/backend`), storage time only. */
export interface WriteCell {
  writes: number;
  errors: number;
  bytes: number;
  /** Σ microseconds the storage spent on these writes. */
  micros: number;
  latency: Histogram;
  /** The last error's text (for the status page), when there was one. */
  lastError?: string;
  /** The successful writes alone, with the sums the cost model's fit needs (buckets/cost-model.ts). */
  cost: MeasuredWrites;
}

export interface RecentError {
  time: number;
  method: string;
  remote: string;
  /** The request URI as received. */
  url: string;
  handler: string;
  error: string;
  status: number;
}

export interface PoolGauge {
  node: string;
  connections: number;
  inFlight: number;
  /** Node health as this worker's client sees it (see elliptics/node-health). */
  state: string;
}

export interface WorkerReport {
  /** The worker's stable index (0 … workers−1), kept by a replacement. */
  worker: number;
  pid: number;
  /** handler → status code → counters since the last report. */
  requests: Record<string, Record<string, RequestCell>>;
  /** `address/backend` → storage writes since the last report. */
  writes: Record<string, WriteCell>;
  /** bucket → automatic uploads placed there since the last report. */
  choices: Record<string, number>;
  errors: RecentError[];
  rss: number;
  heapUsed: number;
  /** Event-loop delay p99 over the last report period, milliseconds. */
  loopLagMs: number;
  inFlight: number;
  /** Requests refused with 503 under load since the worker started (proxy.max-*-in-flight). */
  shed: number;
  /** Reads of the embedded node taken from its files, and those that went through the node after all, since the start. */
  localReads: number;
  localMisses: number;
  pools: PoolGauge[];
  /** Read-repairs since the last report: rewrites made, and those that failed. */
  readRepairs: number;
  readRepairFailures: number;
}

export function encodeReport(r: WorkerReport): Buffer {
  return encodeMessage(r);
}

export const histogramShape: Schema<Histogram> = (v, at) => {
  const h = obj<Histogram>({ le: arr(count), count, sum: count })(v, at);
  if (h.le.length !== LATENCY_BUCKETS.length) throw new IpcShapeError(`${at}.le`, `must have ${LATENCY_BUCKETS.length} counts`);
  return h;
};

export const requestCellShape = obj<RequestCell>({ requests: count, bytesIn: count, bytesOut: count, size: count, latency: histogramShape });

export const recentErrorShape = obj<RecentError>({ time: num, method: str, remote: str, url: str, handler: str, error: str, status: int });

export const poolGaugeShape = obj<PoolGauge>({ node: str, connections: int, inFlight: int, state: str });

const writeCell = obj<WriteCell>({
  writes: count,
  errors: count,
  bytes: count,
  micros: count,
  latency: histogramShape,
  lastError: opt(str),
  cost: obj<MeasuredWrites>({ writes: count, bytes: count, sizeSq: count, micros: count, sizeMicros: count }),
});

const reportShape = obj<WorkerReport>({
  worker: int,
  pid: int,
  requests: record(record(requestCellShape)),
  writes: record(writeCell),
  choices: record(count),
  errors: arr(recentErrorShape),
  rss: count,
  heapUsed: count,
  loopLagMs: count,
  inFlight: int,
  shed: int,
  localReads: count,
  localMisses: count,
  pools: arr(poolGaugeShape),
  readRepairs: count,
  readRepairFailures: count,
});

export function decodeReport(b: Uint8Array): WorkerReport {
  return decodeMessage(b, 'a worker report', reportShape);
}
