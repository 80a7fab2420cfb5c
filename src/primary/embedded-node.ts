// The embedded storage node (DESIGN §1): a child process running the same node as
// `backrunner node`, started before anything else, supervised like a worker — restarted with
// back-off when it dies (its data is checked at start, a torn tail cut; the workers' clients
// reconnect by themselves) — and stopped with the proxy.

import { fork, type ChildProcess } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { embeddedNodeDocument, type EmbeddedConfig, type EmbeddedRedirect } from '../config/backrunner-config.js';
import { MANAGED_NODE_ENV, type NodeToParent, type ParentToNode } from '../ipc/node-messages.js';
import type { Logger, LogOptions } from '../util/logger.js';

const ENTRY = fileURLToPath(new URL('../../workers/storage-node.js', import.meta.url));
const START_TIMEOUT_MS = 60_000;
const RESTART_MIN_MS = 250;
const RESTART_MAX_MS = 30_000;
/** A node that ran this long resets the back-off. */
const STABLE_MS = 60_000;

export class EmbeddedNode {
  address = '';
  port = 0;
  private proc: ChildProcess | undefined;
  private stopping: Promise<void> | undefined;
  private backoff = RESTART_MIN_MS;
  private startedAt = 0;
  /** Restarts so far (for logs and tests). */
  restarts = 0;

  private constructor(
    private readonly e: EmbeddedConfig,
    private readonly maxFrame: number,
    private readonly logs: LogOptions,
    private readonly log: Logger,
    private readonly redirect: EmbeddedRedirect | undefined,
  ) {}

  /**
   * Starts the node; rejects when the first start fails (a problem of the config or the machine).
   * `redirect`: the proxy's redirect-port, -token and -root, for the node to serve redirect targets.
   */
  static async start(e: EmbeddedConfig, maxFrame: number, logs: LogOptions, log: Logger, redirect?: EmbeddedRedirect): Promise<EmbeddedNode> {
    const node = new EmbeddedNode(e, maxFrame, logs, log, redirect);
    await node.spawn();
    log.info({ address: node.address, dir: e.dir, groups: e.groups }, 'embedded storage node ready');
    return node;
  }

  get pid(): number | undefined {
    return this.proc?.pid;
  }

  /** Writes the node config (the port once bound, so a restarted node listens where clients dial) and forks it. */
  private async spawn(): Promise<void> {
    const e = this.e;
    mkdirSync(e.dir, { recursive: true });
    const file = path.join(e.dir, 'node.json');
    writeFileSync(file, `${JSON.stringify(embeddedNodeDocument(e, this.maxFrame, this.logs, this.port || e.address.port, this.redirect), null, 2)}\n`);
    // BACKRUNNER_CPU_PROFILE_DIR: the node writes a V8 CPU profile there too when it exits (bench/proxy --profile).
    const cpuDir = process.env.BACKRUNNER_CPU_PROFILE_DIR;
    // --expose-gc: at rest the node hands its idle buffer pools back and asks for one collection (startIdleReclaim).
    const execArgv = [...process.execArgv, '--expose-gc', ...(cpuDir ? ['--cpu-prof', `--cpu-prof-dir=${cpuDir}`, '--cpu-prof-name=storage-node.cpuprofile'] : [])];
    const proc = fork(ENTRY, [file], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'], env: { ...process.env, [MANAGED_NODE_ENV]: '1' }, execArgv });
    const ready = await new Promise<NodeToParent>((resolve, reject) => {
      const timer = setTimeout(() => {
        proc.kill('SIGKILL');
        reject(new Error(`the embedded storage node did not start within ${START_TIMEOUT_MS / 1000} s (embedded.dir ${e.dir})`));
      }, START_TIMEOUT_MS);
      proc.once('message', (m: NodeToParent) => {
        clearTimeout(timer);
        resolve(m);
      });
      proc.once('exit', (code, signal) => {
        clearTimeout(timer);
        reject(new Error(`the embedded storage node exited (${signal ?? `code ${code}`}) before it was ready (see its log; check embedded.address and embedded.dir)`));
      });
    });
    if (ready.type !== 'ready') throw new Error(`the embedded storage node failed: ${ready.error}`);
    this.proc = proc;
    this.address = ready.address;
    this.port = ready.port;
    this.startedAt = Date.now();
    proc.on('exit', (code, signal) => this.onExit(proc, code, signal));
  }

  private onExit(proc: ChildProcess, code: number | null, signal: NodeJS.Signals | null): void {
    if (this.proc !== proc || this.stopping) return;
    this.proc = undefined;
    if (Date.now() - this.startedAt > STABLE_MS) this.backoff = RESTART_MIN_MS;
    this.log.error({ code, signal, restartInMs: this.backoff }, 'the embedded storage node died; restarting it');
    this.scheduleRestart();
  }

  private scheduleRestart(): void {
    const wait = this.backoff;
    this.backoff = Math.min(RESTART_MAX_MS, this.backoff * 2);
    setTimeout(() => void this.restart(), wait).unref();
  }

  private async restart(): Promise<void> {
    if (this.stopping) return;
    try {
      await this.spawn();
      this.restarts++;
      this.log.warn({ address: this.address, pid: this.proc?.pid, restarts: this.restarts }, 'embedded storage node restarted (its data was checked at start)');
    } catch (err) {
      this.log.error({ err: (err as Error).message, retryInMs: this.backoff }, 'the embedded storage node could not be restarted; trying again');
      this.scheduleRestart();
    }
  }

  signal(sig: NodeJS.Signals): void {
    const p = this.proc;
    if (p && p.exitCode === null && p.signalCode === null) p.kill(sig);
  }

  stop(): Promise<void> {
    this.stopping ??= new Promise<void>((resolve) => {
      const proc = this.proc;
      if (!proc || proc.exitCode !== null || proc.signalCode !== null) return resolve();
      proc.once('exit', () => resolve());
      if (proc.connected) proc.send({ type: 'stop' } satisfies ParentToNode);
      else proc.kill('SIGTERM');
      setTimeout(() => proc.kill('SIGKILL'), 10_000).unref();
    });
    return this.stopping;
  }
}
