// The primary's fold of its workers' reports (DESIGN §1): request totals and rates, per-backend
// write health — each backend's PID state is fed once per tick with the storage time per byte its
// writes cost since the previous tick (or the write-error pain), and decays while nobody writes to
// it — recent write history, automatic-choice shares, recent errors, process gauges. `view()` is
// what every worker receives.

import {
  addSums, addWrites, COST_HALF_LIFE_MS, decaySums, DEFAULT_COST, emptySums, fitCost, predictCost, type CostModel, type CostSums, type MeasuredWrites,
} from '../buckets/cost-model.js';
import { decayPid, feedPid, newPid, WRITE_ERROR_PAIN } from '../buckets/pid.js';
import { backendKey, type BackendStats } from '../elliptics/stats.js';
import {
  emptyRepairs, type RepairStats,
  HISTORY_STEP_MS, HISTORY_STEPS, RATE_WINDOW_S, SHARE_WINDOW_MS,
  type BackendLive, type CommandRate, type LiveView, type ProcessGauge, type RateCell, type WorkerGauges,
} from '../ipc/live.js';
import { addHistogram, newHistogram, type RecentError, type RequestCell, type WorkerReport } from '../ipc/report.js';

const MAX_ERRORS = 128;

interface Pending {
  writes: number;
  errors: number;
  bytes: number;
  micros: number;
  cost: MeasuredWrites;
}

/** Writes of one tick whose mean time is this far off the prediction (either way) mean the backend changed. */
const REGIME_FACTOR = 2;
const REGIME_MIN_WRITES = 3;

function changedRegime(model: CostModel, w: MeasuredWrites): boolean {
  if (w.writes < REGIME_MIN_WRITES || model.weight < REGIME_MIN_WRITES) return false;
  const observed = w.micros / w.writes;
  const predicted = predictCost(model, w.bytes / w.writes);
  return observed > REGIME_FACTOR * predicted || observed * REGIME_FACTOR < predicted;
}

/** A failure's pain halves every second once writes stop failing (as the PID's excess does). */
const FAILURE_HALF_LIFE_MS = 1000;

/** Status code → the original's class key ("200" for 2xx …, spec §15.2). */
export function statusClass(code: number): string {
  return code >= 100 && code < 600 ? `${Math.floor(code / 100)}00` : String(code);
}

export class StatsFold {
  private seq = 0;
  private readonly backends = new Map<string, BackendLive>();
  private pending = new Map<string, Pending>();
  private readonly requests: Record<string, Record<string, RequestCell>> = {};
  /** handler → class → epoch second → [requests, size]. */
  private readonly rateSlots = new Map<string, Map<string, Map<number, [number, number]>>>();
  /** step start → bucket → automatic uploads. */
  private readonly choiceSteps = new Map<number, Record<string, number>>();
  private readonly errors: RecentError[] = [];
  /** Per backend, the decayed sums of its successful writes (the cost model's fit). */
  private readonly costSums = new Map<string, CostSums>();
  private fleet: CostModel = DEFAULT_COST;
  private lastTick: number;
  /** bucket → when an automatic upload last went there. */
  private readonly lastChosen: Record<string, number> = {};
  private readRepairs = 0;
  private readRepairFailures = 0;
  private readonly workerGauges = new Map<number, { gauge: ProcessGauge; workers: WorkerGauges }>();

  constructor(private readonly now: () => number = Date.now) {
    this.lastTick = now();
  }

  private backend(key: string, now: number): BackendLive {
    let b = this.backends.get(key);
    if (!b) {
      b = { pid: newPid(now), cost: this.fleet, failure: 0, totals: { writes: 0, errors: 0, bytes: 0, micros: 0, latency: newHistogram() }, history: [], lastError: undefined, commands: {} };
      this.backends.set(key, b);
    }
    return b;
  }

  addReport(r: WorkerReport): void {
    const now = this.now();
    this.readRepairs += r.readRepairs ?? 0;
    this.readRepairFailures += r.readRepairFailures ?? 0;
    for (const [handler, byCode] of Object.entries(r.requests)) {
      const totals = (this.requests[handler] ??= {});
      for (const [code, c] of Object.entries(byCode)) {
        const t = (totals[code] ??= { requests: 0, bytesIn: 0, bytesOut: 0, size: 0, latency: newHistogram() });
        t.requests += c.requests;
        t.bytesIn += c.bytesIn;
        t.bytesOut += c.bytesOut;
        t.size += c.size;
        addHistogram(t.latency, c.latency);
        this.countRate(handler, statusClass(Number(code)), c.requests, c.size, now);
      }
    }
    const step = Math.floor(now / HISTORY_STEP_MS) * HISTORY_STEP_MS;
    for (const [key, w] of Object.entries(r.writes)) {
      const b = this.backend(key, now);
      const p = this.pending.get(key) ?? { writes: 0, errors: 0, bytes: 0, micros: 0, cost: { writes: 0, bytes: 0, sizeSq: 0, micros: 0, sizeMicros: 0 } };
      p.writes += w.writes;
      p.errors += w.errors;
      p.bytes += w.bytes;
      p.micros += w.micros;
      if (w.cost) {
        p.cost.writes += w.cost.writes;
        p.cost.bytes += w.cost.bytes;
        p.cost.sizeSq += w.cost.sizeSq;
        p.cost.micros += w.cost.micros;
        p.cost.sizeMicros += w.cost.sizeMicros;
      }
      this.pending.set(key, p);
      b.totals.writes += w.writes;
      b.totals.errors += w.errors;
      b.totals.bytes += w.bytes;
      b.totals.micros += w.micros;
      addHistogram(b.totals.latency, w.latency);
      let last = b.history[b.history.length - 1];
      if (!last || last.time !== step) {
        b.history.push((last = { time: step, writes: 0, errors: 0, micros: 0 }));
        if (b.history.length > HISTORY_STEPS) b.history.shift();
      }
      last.writes += w.writes;
      last.errors += w.errors;
      last.micros += w.micros;
      if (w.lastError) b.lastError = { time: now, text: w.lastError };
    }
    if (Object.keys(r.choices).length > 0) {
      const choices = this.choiceSteps.get(step) ?? {};
      for (const [bucket, n] of Object.entries(r.choices)) {
        choices[bucket] = (choices[bucket] ?? 0) + n;
        this.lastChosen[bucket] = now;
      }
      this.choiceSteps.set(step, choices);
    }
    if (r.errors.length > 0) {
      this.errors.push(...r.errors);
      this.errors.sort((a, b) => a.time - b.time);
      if (this.errors.length > MAX_ERRORS) this.errors.splice(0, this.errors.length - MAX_ERRORS);
    }
    this.workerGauges.set(r.worker, {
      gauge: { kind: 'worker', index: String(r.worker), pid: r.pid, rss: r.rss, heapUsed: r.heapUsed, loopLagMs: r.loopLagMs },
      workers: { index: r.worker, inFlight: r.inFlight, shed: r.shed, localReads: r.localReads, localMisses: r.localMisses, pools: r.pools },
    });
  }

  private countRate(handler: string, cls: string, requests: number, size: number, now: number): void {
    let byClass = this.rateSlots.get(handler);
    if (!byClass) this.rateSlots.set(handler, (byClass = new Map()));
    let slots = byClass.get(cls);
    if (!slots) byClass.set(cls, (slots = new Map()));
    const sec = Math.floor(now / 1000);
    const slot = slots.get(sec) ?? [0, 0];
    slot[0] += requests;
    slot[1] += size;
    slots.set(sec, slot);
  }

  /** A worker that went away (its gauges would otherwise linger). */
  forgetWorker(index: number): void {
    this.workerGauges.delete(index);
  }

  /** Command rates of every backend from the latest MONITOR_STAT (see commandRates). */
  setCommandRates(rates: ReadonlyMap<string, Record<string, CommandRate>>): void {
    const now = this.now();
    for (const [key, commands] of rates) this.backend(key, now).commands = commands;
  }

  /**
   * Feeds the PID of every backend written to since the last tick (one sample per tick: workers
   * report about once a second, and feeding each report alone would make the derivative term jump
   * with the reporting jitter) and decays the others.
   */
  tick(): void {
    const now = this.now();
    const dt = now - this.lastTick;
    this.lastTick = now;
    let pooled = emptySums();
    for (const [key, b] of this.backends) {
      const p = this.pending.get(key);
      if (p && p.writes > 0) {
        const e = p.errors > 0 ? WRITE_ERROR_PAIN : p.micros / Math.max(1, p.bytes);
        b.pid = feedPid(b.pid, e, now);
      } else b.pid = decayPid(b.pid, now);
      let sums = decaySums(this.costSums.get(key) ?? emptySums(), dt);
      if (p) {
        // A backend whose writes of this second took far longer (or shorter) than predicted changed:
        // its older writes say little now, and are mostly dropped rather than averaged in.
        if (changedRegime(b.cost, p.cost)) sums = decaySums(sums, 3 * COST_HALF_LIFE_MS);
        sums = addWrites(sums, p.cost);
      }
      this.costSums.set(key, sums);
      pooled = addSums(pooled, sums);
      b.failure = p && p.errors > 0 ? WRITE_ERROR_PAIN : b.failure * 2 ** (-dt / FAILURE_HALF_LIFE_MS);
      if (b.failure < 1e-4) b.failure = 0; // ~100 µs per MiB, under any real cost: over
    }
    // The fleet's model first (every backend's writes pooled), then each backend's against it.
    this.fleet = fitCost(pooled, DEFAULT_COST);
    for (const [key, b] of this.backends) b.cost = fitCost(this.costSums.get(key)!, this.fleet);
    this.pending = new Map();
    for (const step of this.choiceSteps.keys()) if (step < now - SHARE_WINDOW_MS - HISTORY_STEP_MS) this.choiceSteps.delete(step);
    for (const byClass of this.rateSlots.values()) {
      for (const slots of byClass.values()) for (const sec of slots.keys()) if (sec < now / 1000 - RATE_WINDOW_S - 1) slots.delete(sec);
    }
  }

  /** `handoff`: the primary's hint figures (the read-repair counts are the workers', folded here). */
  view(extra: ProcessGauge[], handoff: RepairStats = emptyRepairs()): LiveView {
    const now = this.now();
    const rates: Record<string, Record<string, RateCell>> = {};
    const nowSec = Math.floor(now / 1000);
    for (const [handler, byClass] of this.rateSlots) {
      for (const [cls, slots] of byClass) {
        let n = 0;
        let size = 0;
        // The last RATE_WINDOW_S complete seconds (the current one is still filling).
        for (const [sec, [r, s]] of slots) {
          if (sec < nowSec && sec >= nowSec - RATE_WINDOW_S) {
            n += r;
            size += s;
          }
        }
        (rates[handler] ??= {})[cls] = { rps: n / RATE_WINDOW_S, bps: size / RATE_WINDOW_S };
      }
    }
    const chosen: Record<string, number> = {};
    let total = 0;
    for (const [step, choices] of this.choiceSteps) {
      if (step < now - SHARE_WINDOW_MS) continue;
      for (const [bucket, n] of Object.entries(choices)) {
        chosen[bucket] = (chosen[bucket] ?? 0) + n;
        total += n;
      }
    }
    const shares = Object.fromEntries(Object.entries(chosen).map(([bucket, n]) => [bucket, { chosen: n, share: total > 0 ? n / total : 0 }]));
    const gauges = [...this.workerGauges.values()].sort((a, b) => a.workers.index - b.workers.index);
    return {
      seq: ++this.seq,
      time: now,
      backends: Object.fromEntries(this.backends),
      requests: this.requests,
      rates,
      shares,
      errors: this.errors,
      processes: [...extra, ...gauges.map((g) => g.gauge)],
      workers: gauges.map((g) => g.workers),
      repairs: { ...handoff, readRepairs: this.readRepairs, readRepairFailures: this.readRepairFailures },
      fleet: this.fleet,
      lastChosen: this.lastChosen,
    };
  }
}

/** Per-command rates between two MONITOR_STAT snapshots (spec §11.1 "Rates"). */
export function commandRates(prev: readonly BackendStats[], prevTime: number, next: readonly BackendStats[], nextTime: number): Map<string, Record<string, CommandRate>> {
  const out = new Map<string, Record<string, CommandRate>>();
  const dt = (nextTime - prevTime) / 1000;
  const before = new Map(prev.map((b) => [backendKey(b.address, b.backendId), b]));
  for (const b of next) {
    const key = backendKey(b.address, b.backendId);
    const old = before.get(key);
    const rates: Record<string, CommandRate> = {};
    for (const [cmd, c] of Object.entries(b.commands)) {
      const o = old?.commands[cmd];
      rates[cmd] = !o || dt <= 0
        ? { rpsSuccess: 0, rpsFailures: 0, bps: 0 }
        : { rpsSuccess: Math.max(0, c.requestsSuccess - o.requestsSuccess) / dt, rpsFailures: Math.max(0, c.requestsFailures - o.requestsFailures) / dt, bps: Math.max(0, c.bytes - o.bytes) / dt };
    }
    out.set(key, rates);
  }
  return out;
}
