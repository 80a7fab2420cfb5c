// The HTTP workers (node:cluster): forked with the config file, fed snapshots, respawned with
// back-off when they die, drained on shutdown.

import cluster, { type Worker } from 'node:cluster';
import { fileURLToPath } from 'node:url';
import type { ControlRequest, PrimaryMessage, WorkerMessage } from '../proxy/snapshot.js';
import type { Logger } from '../util/logger.js';

const ENTRY = fileURLToPath(new URL('../../workers/http-worker.js', import.meta.url));
const RESPAWN_MIN_MS = 500;
const RESPAWN_MAX_MS = 30_000;
/** A worker that lived this long resets the back-off. */
const STABLE_MS = 60_000;

export interface SupervisorOptions {
  count: number;
  configFile: string;
  log: Logger;
  /** The current snapshot, encoded (sent to every worker that says hello). */
  snapshot: () => Uint8Array;
  onReport: (data: Uint8Array) => void;
  onControl: (m: ControlRequest) => void;
}

export class Supervisor {
  private readonly workers = new Set<Worker>();
  private stopping = false;
  private backoff = RESPAWN_MIN_MS;
  private startedAt = new Map<Worker, number>();

  constructor(private readonly opts: SupervisorOptions) {
    // BACKRUNNER_CPU_PROFILE_DIR: every worker writes a V8 CPU profile there when it exits.
    const profileDir = process.env.BACKRUNNER_CPU_PROFILE_DIR;
    const execArgv = profileDir ? [...process.execArgv, '--cpu-prof', `--cpu-prof-dir=${profileDir}`] : process.execArgv;
    cluster.setupPrimary({ exec: ENTRY, serialization: 'advanced', silent: false, execArgv });
  }

  /** Forks the workers; resolves when all listen, rejects with the first worker's fatal error. */
  start(): Promise<void> {
    return new Promise((resolve, reject) => {
      let ready = 0;
      for (let i = 0; i < this.opts.count; i++) {
        this.fork({
          ready: () => {
            if (++ready === this.opts.count) resolve();
          },
          fatal: (error) => reject(new Error(error)),
        });
      }
    });
  }

  private fork(first?: { ready: () => void; fatal: (error: string) => void }): void {
    const w = cluster.fork({ BACKRUNNER_CONFIG: this.opts.configFile });
    this.workers.add(w);
    this.startedAt.set(w, Date.now());
    w.on('message', (m: WorkerMessage) => {
      switch (m.type) {
        case 'hello':
          this.send(w, { type: 'snapshot', data: this.opts.snapshot() });
          break;
        case 'ready':
          this.opts.log.debug({ pid: m.pid }, 'worker listening');
          first?.ready();
          break;
        case 'report':
          this.opts.onReport(m.data);
          break;
        case 'fatal':
          this.opts.log.error({ pid: w.process.pid, error: m.error }, 'worker failed');
          first?.fatal(m.error);
          break;
        default:
          this.opts.onControl(m);
      }
    });
    w.on('exit', (code, signal) => {
      this.workers.delete(w);
      const lived = Date.now() - (this.startedAt.get(w) ?? 0);
      this.startedAt.delete(w);
      if (this.stopping) return;
      if (first && lived < 5000) return; // failed at start-up: start() reports it
      if (lived > STABLE_MS) this.backoff = RESPAWN_MIN_MS;
      this.opts.log.warn({ pid: w.process.pid, code, signal, respawnInMs: this.backoff }, 'worker died; starting a new one');
      setTimeout(() => {
        if (!this.stopping) this.fork();
      }, this.backoff).unref();
      this.backoff = Math.min(RESPAWN_MAX_MS, this.backoff * 2);
    });
  }

  private send(w: Worker, m: PrimaryMessage): void {
    if (w.isConnected()) w.send(m);
  }

  broadcast(m: PrimaryMessage): void {
    for (const w of this.workers) this.send(w, m);
  }

  get pids(): number[] {
    return [...this.workers].map((w) => w.process.pid!).filter(Boolean);
  }

  /** Asks every worker to drain; kills those still there after `timeoutMs`. */
  async stop(timeoutMs: number): Promise<void> {
    this.stopping = true;
    const exits = [...this.workers].map((w) => new Promise<void>((resolve) => {
      if (w.isDead()) return resolve();
      w.once('exit', () => resolve());
      this.send(w, { type: 'drain' });
    }));
    const timer = setTimeout(() => {
      for (const w of this.workers) w.process.kill('SIGKILL');
    }, timeoutMs);
    await Promise.all(exits);
    clearTimeout(timer);
  }
}
