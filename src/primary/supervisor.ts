// The HTTP workers (node:cluster): forked with the config file into numbered slots, fed snapshots,
// replaced with back-off whenever they die — whatever their age — and drained on shutdown. A slot
// whose workers keep dying before they listen does not loop for ever: after MAX_START_FAILURES in
// a row the supervisor gives up with the reason, and the primary exits.

import cluster, { type Worker } from 'node:cluster';
import { fileURLToPath } from 'node:url';
import { IPC_VERSION } from '../ipc/codec.js';
import type { HintsAck, HintsMessage } from '../ipc/hints.js';
import type { ControlRequest, PrimaryMessage, WorkerMessage } from '../ipc/messages.js';
import type { Logger } from '../util/logger.js';

const ENTRY = fileURLToPath(new URL('../../workers/http-worker.js', import.meta.url));
const RESPAWN_MIN_MS = 200;
const RESPAWN_MAX_MS = 10_000;
/** A worker that served this long resets its slot's back-off. */
const STABLE_MS = 60_000;
/**
 * V8 sizes a worker's heap for the machine: 2 × 16 MiB semi-spaces, and an old generation allowed to
 * grow to 4× its live size between full collections, because the default limit is 4 GiB on a large
 * machine. A worker's live heap is ~11 MiB: what a request allocates dies young and scavenges stay
 * cheap with 2 × 4 MiB; a 512 MiB limit puts V8 in its tighter growing regime (~2×). Together they take
 * ~25 MiB off a worker's peak RSS at no measurable throughput cost (bench/proxy prints both). A worker
 * that would need more than 512 MiB of JavaScript heap is a bug: it dies and the supervisor replaces it.
 * --expose-gc: a worker at rest hands its idle buffer pools back and asks for one collection (startIdleReclaim).
 */
export const WORKER_V8_FLAGS = ['--max-semi-space-size=4', '--max-old-space-size=512', '--expose-gc'];
/** glibc gives every thread that allocates its own malloc arena; two keep a worker's private memory small. */
const WORKER_ENV = { MALLOC_ARENA_MAX: process.env.MALLOC_ARENA_MAX ?? '2' };
/** Workers of one slot that died in a row before listening: then the supervisor gives up. */
export const MAX_START_FAILURES = 5;

export interface SupervisorOptions {
  count: number;
  configFile: string;
  log: Logger;
  /** The current snapshot, encoded (sent to every worker that says hello). */
  snapshot: () => Uint8Array;
  onReport: (data: Uint8Array) => void;
  onControl: (m: ControlRequest) => void;
  /** A worker's hints: answered (to that worker) once they are journaled. */
  onHints?: (m: HintsMessage) => Promise<HintsAck>;
  /** Messages a new worker gets after its first snapshot (the stale replicas it must not read). */
  greeting?: () => PrimaryMessage[];
  /** A slot's worker is gone (its gauges are stale). */
  onWorkerGone?: (index: number) => void;
  /** Workers cannot be kept running (they die before listening, again and again). */
  onGiveUp?: (reason: string) => void;
}

interface Slot {
  index: number;
  worker: Worker | undefined;
  /** When its current worker reported it listens (undefined before). */
  readyAt: number | undefined;
  backoff: number;
  /** Consecutive workers that died before listening. */
  startFailures: number;
  /** The last fatal message or exit of a worker that never listened. */
  lastFailure: string;
}

export class Supervisor {
  private readonly slots: Slot[];
  private stopping = false;
  private gaveUp = false;
  /** Rejects start() while it waits. */
  private startFailed: ((err: Error) => void) | undefined;

  constructor(private readonly opts: SupervisorOptions) {
    // BACKRUNNER_CPU_PROFILE_DIR / BACKRUNNER_HEAP_PROFILE_DIR: every worker writes a V8 CPU profile /
    // an allocation-sampling profile there when it exits (bench/proxy --profile).
    // BACKRUNNER_WORKER_V8_FLAGS: flags added after (and so overriding) the defaults above.
    const cpuDir = process.env.BACKRUNNER_CPU_PROFILE_DIR;
    const heapDir = process.env.BACKRUNNER_HEAP_PROFILE_DIR;
    const extra = (process.env.BACKRUNNER_WORKER_V8_FLAGS ?? '').split(/\s+/).filter(Boolean);
    const execArgv = [...process.execArgv, ...WORKER_V8_FLAGS, ...extra,
      ...(cpuDir ? ['--cpu-prof', `--cpu-prof-dir=${cpuDir}`] : []),
      ...(heapDir ? ['--heap-prof', `--heap-prof-dir=${heapDir}`, '--heap-prof-interval=16384'] : [])];
    cluster.setupPrimary({ exec: ENTRY, serialization: 'advanced', silent: false, execArgv });
    this.slots = Array.from({ length: opts.count }, (_, index) => ({ index, worker: undefined, readyAt: undefined, backoff: RESPAWN_MIN_MS, startFailures: 0, lastFailure: '' }));
  }

  /**
   * Forks the workers; resolves when all listen. Rejects with a worker's fatal error (a problem of
   * the config or the machine, which another try would meet again) or once a slot gave up.
   */
  start(): Promise<void> {
    return new Promise((resolve, reject) => {
      let ready = 0;
      const first = {
        ready: () => {
          if (++ready < this.slots.length) return;
          this.startFailed = undefined;
          resolve();
        },
        fatal: (error: string) => reject(new Error(error)),
      };
      this.startFailed = reject;
      for (const slot of this.slots) this.fork(slot, first);
    });
  }

  private fork(slot: Slot, first?: { ready: () => void; fatal: (error: string) => void }): void {
    const w = cluster.fork({ BACKRUNNER_CONFIG: this.opts.configFile, BACKRUNNER_WORKER_INDEX: String(slot.index), ...WORKER_ENV });
    slot.worker = w;
    slot.readyAt = undefined;
    w.on('message', (m: WorkerMessage) => {
      switch (m.type) {
        case 'hello':
          // A worker of another build is told nothing else: it finds the version in the snapshot's
          // first byte, says why it cannot run, and stops (a 'fatal' below).
          if (m.version !== IPC_VERSION) {
            this.opts.log.error({ worker: slot.index, pid: m.pid, workerVersion: m.version ?? 'none', primaryVersion: IPC_VERSION }, 'worker speaks another IPC version than the primary: the primary and its workers run different builds (restart the whole proxy after an upgrade)');
          }
          this.send(w, { type: 'snapshot', data: this.opts.snapshot() });
          for (const g of this.opts.greeting?.() ?? []) this.send(w, g);
          break;
        case 'ready':
          slot.readyAt = Date.now();
          slot.startFailures = 0;
          this.opts.log.debug({ pid: m.pid, worker: slot.index }, 'worker listening');
          first?.ready();
          first = undefined;
          break;
        case 'report':
          this.opts.onReport(m.data);
          break;
        case 'node-suspect':
          // Each worker would find a hung node by itself, seconds apart: tell the others at once.
          for (const s of this.slots) if (s.worker && s.worker !== w) this.send(s.worker, m);
          break;
        case 'hints':
          if (this.opts.onHints) void this.opts.onHints(m).then((ack) => this.send(w, ack));
          else this.send(w, { type: 'hints-ack', seq: m.seq, stored: false });
          break;
        case 'fatal':
          slot.lastFailure = m.error;
          this.opts.log.error({ pid: w.process.pid, worker: slot.index, error: m.error }, 'worker failed');
          first?.fatal(m.error);
          break;
        default:
          this.opts.onControl(m);
      }
    });
    w.on('exit', (code, signal) => this.onExit(slot, w, code, signal, first !== undefined));
    // A message to a worker that is dying fails on its IPC channel: the exit handler takes over.
    w.on('error', (err) => this.opts.log.debug({ worker: slot.index, err: err.message }, 'worker channel error'));
  }

  private onExit(slot: Slot, w: Worker, code: number | null, signal: string | null, atFirstStart: boolean): void {
    if (slot.worker !== w) return;
    slot.worker = undefined;
    this.opts.onWorkerGone?.(slot.index);
    if (this.stopping || this.gaveUp) return;
    if (slot.readyAt === undefined) {
      // Died before it listened: a fatal error at the first start is reported by start() at once.
      if (atFirstStart && slot.lastFailure) return;
      slot.startFailures++;
      slot.lastFailure ||= `exited with ${signal ?? `code ${code}`} before listening`;
      if (slot.startFailures >= MAX_START_FAILURES) {
        this.gaveUp = true;
        const reason = `worker ${slot.index} died ${slot.startFailures} times in a row before it could listen (last: ${slot.lastFailure})`;
        this.opts.log.fatal({ worker: slot.index }, `${reason}; giving up`);
        if (this.startFailed) this.startFailed(new Error(reason));
        else this.opts.onGiveUp?.(reason);
        return;
      }
    } else if (Date.now() - slot.readyAt > STABLE_MS) slot.backoff = RESPAWN_MIN_MS;
    const wait = slot.backoff;
    slot.backoff = Math.min(RESPAWN_MAX_MS, slot.backoff * 2);
    this.opts.log.warn({ pid: w.process.pid, worker: slot.index, code, signal, respawnInMs: wait }, 'worker died; starting a new one');
    setTimeout(() => {
      if (!this.stopping && !this.gaveUp) this.fork(slot);
    }, wait).unref();
  }

  private send(w: Worker, m: PrimaryMessage): void {
    if (w.isConnected()) w.send(m);
  }

  broadcast(m: PrimaryMessage): void {
    for (const s of this.slots) if (s.worker) this.send(s.worker, m);
  }

  get pids(): number[] {
    return this.slots.map((s) => s.worker?.process.pid).filter((p): p is number => p !== undefined);
  }

  /** Asks every worker to drain; kills those still there after `timeoutMs`. */
  async stop(timeoutMs: number): Promise<void> {
    this.stopping = true;
    const workers = this.slots.map((s) => s.worker).filter((w): w is Worker => w !== undefined);
    const exits = workers.map((w) => new Promise<void>((resolve) => {
      if (w.isDead()) return resolve();
      w.once('exit', () => resolve());
      this.send(w, { type: 'drain' });
    }));
    const timer = setTimeout(() => {
      for (const w of workers) w.process.kill('SIGKILL');
    }, timeoutMs);
    await Promise.all(exits);
    clearTimeout(timer);
  }
}
