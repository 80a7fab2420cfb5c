// The primary's folded view of every worker's reports, broadcast about once a second (DESIGN §1):
// per-backend write health (PID pain, write counters, recent latency), request counters and rates
// per handler, the share of automatic uploads per bucket, recent errors, process and pool gauges.
// Every worker answers /metrics, /stat/ and /proxy_stat/ from the same view, and selection reads
// its pains. The rarely changing part (config, buckets, MONITOR_STAT) travels in the Snapshot.

import { decodeMessage, encodeMessage } from './codec.js';
import { DEFAULT_COST, type CostModel } from '../buckets/cost-model.js';
import type { PidState } from '../buckets/pid.js';
import { histogramShape, poolGaugeShape, recentErrorShape, requestCellShape, type Histogram, type PoolGauge, type RecentError, type RequestCell } from './report.js';
import { arr, int, num, obj, opt, record, str } from './schema.js';

/** Cumulative writes to one backend since the primary started. */
export interface WriteTotals {
  writes: number;
  errors: number;
  bytes: number;
  micros: number;
  latency: Histogram;
}

/** One step of a backend's recent write history. */
export interface WriteStep {
  /** Start of the step, ms since the epoch. */
  time: number;
  writes: number;
  errors: number;
  /** Σ storage µs of the step's writes. */
  micros: number;
}

export interface CommandRate {
  rpsSuccess: number;
  rpsFailures: number;
  bps: number;
}

export interface BackendLive {
  /** The original's PID (spec §12.5), shown in /stat/; selection uses `cost` and `failure`. */
  pid: PidState;
  /** Predicted write time: fixed µs + µs per byte (buckets/cost-model.ts). */
  cost: CostModel;
  /** µs per byte added while the backend fails writes: the write-error pain, halving every second once they stop. */
  failure: number;
  totals: WriteTotals;
  /** Oldest first; HISTORY_STEP_MS each, HISTORY_STEPS at most. */
  history: WriteStep[];
  lastError: { time: number; text: string } | undefined;
  /** From consecutive MONITOR_STAT replies (spec §4.5 Commands RPS/BPS). */
  commands: Record<string, CommandRate>;
}

export interface ProcessGauge {
  /** "primary", "worker", "storage-node". */
  kind: string;
  /** Stable label: the worker index ("0", "1", …), or "" for the others. */
  index: string;
  pid: number;
  rss: number;
  heapUsed: number;
  loopLagMs: number;
}

export interface WorkerGauges {
  index: number;
  inFlight: number;
  /** Requests refused with 503 under load since the worker started. */
  shed: number;
  localReads: number;
  localMisses: number;
  pools: PoolGauge[];
}

export interface RateCell {
  rps: number;
  bps: number;
}

/** Replica repair: hinted handoff (the primary's journal and deliveries) and read-repair (the workers'). */
export interface RepairStats {
  pendingHints: number;
  journalBytes: number;
  /** Hints refused because the journal was full (proxy.hint-limit). */
  overflowed: number;
  delivered: number;
  deliveryFailures: number;
  dropped: number;
  copiedBytes: number;
  lastError: string;
  readRepairs: number;
  readRepairFailures: number;
}

export function emptyRepairs(): RepairStats {
  return { pendingHints: 0, journalBytes: 0, overflowed: 0, delivered: 0, deliveryFailures: 0, dropped: 0, copiedBytes: 0, lastError: '', readRepairs: 0, readRepairFailures: 0 };
}

export interface LiveView {
  seq: number;
  time: number;
  /** `address/backend` → write health. */
  backends: Record<string, BackendLive>;
  /** handler → status code → totals since the primary started. */
  requests: Record<string, Record<string, RequestCell>>;
  /** handler → status class ("200", "300", …) → rates over the last RATE_WINDOW_S seconds. */
  rates: Record<string, Record<string, RateCell>>;
  /** bucket → automatic uploads it took over the last SHARE_WINDOW_MS, and its share of them. */
  shares: Record<string, { chosen: number; share: number }>;
  errors: RecentError[];
  processes: ProcessGauge[];
  workers: WorkerGauges[];
  repairs: RepairStats;
  /** The fleet's typical write cost: the model of a backend nobody wrote to recently. */
  fleet: CostModel;
  /** bucket → when an automatic upload last went there (ms; by any worker). */
  lastChosen: Record<string, number>;
}

export const HISTORY_STEP_MS = 10_000;
export const HISTORY_STEPS = 30;
export const RATE_WINDOW_S = 10;
export const SHARE_WINDOW_MS = 60_000;

export function encodeLive(v: LiveView): Buffer {
  return encodeMessage(v);
}

const costShape = obj<CostModel>({ fixed: num, perByte: num, weight: num });

const backendLive = obj<BackendLive>({
  pid: obj<PidState>({ error: num, integralError: num, errorTime: num, pain: num, decayedAt: num, floor: num }),
  cost: costShape,
  failure: num,
  totals: obj<WriteTotals>({ writes: num, errors: num, bytes: num, micros: num, latency: histogramShape }),
  history: arr(obj<WriteStep>({ time: num, writes: num, errors: num, micros: num })),
  lastError: opt(obj<{ time: number; text: string }>({ time: num, text: str })),
  commands: record(obj<CommandRate>({ rpsSuccess: num, rpsFailures: num, bps: num })),
});

const liveShape = obj<LiveView>({
  seq: int,
  time: num,
  backends: record(backendLive),
  requests: record(record(requestCellShape)),
  rates: record(record(obj<RateCell>({ rps: num, bps: num }))),
  shares: record(obj<{ chosen: number; share: number }>({ chosen: num, share: num })),
  errors: arr(recentErrorShape),
  processes: arr(obj<ProcessGauge>({ kind: str, index: str, pid: int, rss: num, heapUsed: num, loopLagMs: num })),
  workers: arr(obj<WorkerGauges>({ index: int, inFlight: int, shed: int, localReads: num, localMisses: num, pools: arr(poolGaugeShape) })),
  repairs: obj<RepairStats>({
    pendingHints: num, journalBytes: num, overflowed: num, delivered: num, deliveryFailures: num, dropped: num,
    copiedBytes: num, lastError: str, readRepairs: num, readRepairFailures: num,
  }),
  fleet: costShape,
  lastChosen: record(num),
});

export function decodeLive(b: Uint8Array): LiveView {
  return decodeMessage(b, 'the live view from the primary', liveShape);
}

export function emptyLive(): LiveView {
  return { seq: 0, time: 0, backends: {}, requests: {}, rates: {}, shares: {}, errors: [], processes: [], workers: [], repairs: emptyRepairs(), fleet: DEFAULT_COST, lastChosen: {} };
}
