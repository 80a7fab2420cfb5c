// The primary (DESIGN §1): validates the config, starts the embedded node, holds the metadata
// connection, loads buckets and storage statistics on their intervals (and on SIGHUP), folds the
// workers' counters, and broadcasts snapshots to the HTTP workers it supervises.

import os from 'node:os';
import path from 'node:path';
import { formatEndpoint, type Endpoint } from '../elliptics/protocol/addr.js';
import { embeddedSocket, loadBackrunnerConfig, logOptions, type BackrunnerConfig } from '../config/backrunner-config.js';
import { parseProxyConfig, parseProxyConfigText, type ProxyConfig } from '../config/proxy-config.js';
import { withConfigFile } from '../config/reader.js';
import { parseDefinitionsAt } from '../buckets/definitions.js';
import { MetadataStore, readBucketListFile } from '../buckets/metadata-store.js';
import type { BucketMeta } from '../buckets/metadata.js';
import { Cluster } from '../elliptics/cluster.js';
import { Session } from '../elliptics/session.js';
import type { BackendStats } from '../elliptics/stats.js';
import { loadUws } from '../util/uws.js';
import { encodeLive, type ProcessGauge } from '../ipc/live.js';
import { decodeReport } from '../ipc/report.js';
import type { ControlRequest } from '../ipc/messages.js';
import { encodeSnapshot, toSnapshotBucket, type Snapshot } from '../ipc/snapshot.js';
import { ProcessMeter } from '../util/process-meter.js';
import { commandRates, StatsFold } from './stats-fold.js';
import { createLogger, reopenLogs, type Logger } from '../util/logger.js';
import { ensureBuckets, loadBuckets } from './buckets.js';
import { announce } from './announce.js';
import { EmbeddedNode } from './embedded-node.js';
import { Handoff } from './handoff.js';
import { ProxySource } from './proxy-source.js';
import { Supervisor } from './supervisor.js';

export interface PrimaryOptions {
  config: string;
  /** Bucket-list file (`--buckets`). */
  buckets?: string;
  /** Overrides proxy.workers. */
  workers?: number;
}

export class Primary {
  private proxy: ProxyConfig;
  private embedded: EmbeddedNode | undefined;
  private cluster: Cluster | undefined;
  private store: MetadataStore | undefined;
  private supervisor: Supervisor | undefined;
  private handoff: Handoff | undefined;
  private buckets: BucketMeta[] = [];
  /** `embedded.buckets`: created when their metadata is missing; their names are the bucket list. */
  private readonly embeddedBuckets: BucketMeta[];
  /** Where storage is dialled (the workers dial the same). */
  private remotes: Endpoint[] = [];
  private backends: BackendStats[] = [];
  /** Every worker's reports, folded: write health (PID), counters, rates, shares, errors. */
  private readonly fold = new StatsFold();
  private readonly proxySource: ProxySource;
  private readonly meter = new ProcessMeter();
  private refreshing = false;
  private seq = 0;
  private readonly startTime = Date.now();
  private configTime = 0;
  private statTime = 0;
  private encoded: Uint8Array | undefined;
  private timers: NodeJS.Timeout[] = [];
  private configFrozenUntil = 0;
  private stopping: Promise<void> | undefined;
  private reloading = false;
  private booted = false;
  private hupDuringStart = false;

  private constructor(
    private config: BackrunnerConfig,
    private readonly opts: PrimaryOptions,
    private readonly log: Logger,
  ) {
    this.proxySource = new ProxySource(log);
    // The file alone is validated before anything starts; a stored config joins it once storage is reachable.
    this.proxy = this.withOverrides(withConfigFile(config.file, () => parseProxyConfig(config.proxy, config.file)));
    this.embeddedBuckets = withConfigFile(config.file, () => parseDefinitionsAt(config.embedded?.bucketDefinitions, 'embedded.buckets'));
  }

  static async start(opts: PrimaryOptions): Promise<Primary> {
    const config = loadBackrunnerConfig(opts.config);
    // A missing --buckets file is found before anything starts.
    if (opts.buckets) await readBucketListFile(opts.buckets);
    const log = createLogger('primary', logOptions(config.elliptics));
    const p = new Primary(config, opts, log);
    p.installSignals();
    // Refuse to start on the slow pure-JS fallback of uWebSockets.js (before forking anything).
    loadUws();
    try {
      await p.boot();
    } catch (err) {
      await p.shutdown('start-up failed');
      throw err;
    }
    return p;
  }

  private async boot(): Promise<void> {
    const e = this.config.elliptics;
    if (this.config.embedded) {
      const p = this.proxy;
      if (p.redirectPort > 0 && p.redirectToken === '') this.log.warn('proxy.redirect-port is set but redirect-token is empty: the embedded node serves no redirect targets');
      this.embedded = await EmbeddedNode.start(this.config.embedded, e.maxFrame, logOptions(e), this.log, { port: p.redirectPort, token: p.redirectToken, root: p.redirectRoot });
    }
    this.remotes = this.embedded && this.config.embedded ? [{ host: this.config.embedded.address.host, port: this.embedded.port }] : e.remotes;
    this.cluster = await Cluster.connect({
      remotes: this.remotes,
      protocolVersion: e.protocolVersion,
      poolSize: 1,
      timeoutMs: e.waitTimeoutMs,
      checkIntervalMs: e.checkIntervalMs,
      maxFrame: e.maxFrame,
      log: this.log,
    });
    this.store = new MetadataStore(this.cluster, e.metadataGroups);
    this.proxy = this.withOverrides(await this.effectiveProxy(this.config));
    if (this.config.embedded && this.embeddedBuckets.length > 0) {
      await ensureBuckets(this.store, this.embeddedBuckets, path.join(this.config.embedded.dir, 'tokens'), this.log);
    }
    await this.reloadBuckets(true);
    await this.refreshStats();
    if (this.proxy.hintedHandoff) {
      this.handoff = await Handoff.start(this.cluster, {
        dir: this.hintsDir(),
        limit: this.proxy.hintLimit,
        rate: this.proxy.hintReplayRate,
        timeoutMs: this.proxy.writeAttemptTimeout * 1000,
        groupsOf: (bucket) => this.buckets.find((b) => b.name === bucket)?.groups,
        broadcast: (m) => this.supervisor?.broadcast(m),
        log: this.log,
      });
    }
    this.supervisor = new Supervisor({
      count: this.proxy.workers,
      configFile: path.resolve(this.opts.config),
      log: this.log,
      snapshot: () => this.snapshot(),
      onReport: (data) => this.foldReport(data),
      onWorkerGone: (index) => this.fold.forgetWorker(index),
      onGiveUp: (reason) => {
        process.stderr.write(`backrunner: ${reason}\n`);
        void this.shutdown(reason).then(() => process.exit(1));
      },
      onControl: (m) => this.control(m),
      onHints: (m) => this.handoff?.accept(m.seq, m.hints) ?? Promise.resolve({ type: 'hints-ack', seq: m.seq, stored: false }),
      greeting: () => (this.handoff ? [this.handoff.staleSet()] : []),
    });
    await this.supervisor.start();
    this.schedule();
    this.booted = true;
    this.announce();
    // A SIGHUP that came while starting (the workers may already answer) is honoured now.
    if (this.hupDuringStart) void this.reload('SIGHUP during start-up');
  }

  /**
   * SIGHUP reloads, SIGUSR1 reopens the log files (logrotate) in every process of the proxy.
   * Installed before anything is forked: a signal that arrives during the start must not kill the
   * primary by its default action.
   */
  private installSignals(): void {
    process.on('SIGHUP', () => {
      if (this.booted) void this.reload('SIGHUP');
      else this.hupDuringStart = true;
    });
    process.on('SIGUSR1', () => {
      reopenLogs();
      this.supervisor?.broadcast({ type: 'reopen-logs' });
      this.embedded?.signal('SIGUSR1');
      this.log.info('log files reopened (SIGUSR1)');
    });
  }

  /** proxy.hints-dir, else the embedded node's directory + /hints, else var/hints beside the config file. */
  private hintsDir(): string {
    if (this.proxy.hintsDir) return this.proxy.hintsDir;
    if (this.config.embedded) return path.join(this.config.embedded.dir, 'hints');
    return path.resolve(path.dirname(path.resolve(this.opts.config)), 'var', 'hints');
  }

  /** --workers wins over proxy.workers, at start and on every reload. */
  private withOverrides(p: ProxyConfig): ProxyConfig {
    return this.opts.workers ? { ...p, workers: this.opts.workers } : p;
  }

  private effectiveProxy(config: BackrunnerConfig): Promise<ProxyConfig> {
    return this.proxySource.read(config, this.store!);
  }

  private schedule(): void {
    for (const t of this.timers) clearInterval(t);
    this.timers = [];
    if (this.proxy.bucketUpdateInterval > 0) this.timers.push(setInterval(() => void this.reload('interval'), this.proxy.bucketUpdateInterval * 1000));
    if (this.proxy.bucketStatUpdateInterval > 0) this.timers.push(setInterval(() => void this.refreshStats().then((fresh) => fresh && this.broadcast()), this.proxy.bucketStatUpdateInterval * 1000));
    // Once a second: PIDs fed with what the workers measured, and the folded view to every worker.
    this.timers.push(setInterval(() => this.tick(), 1000));
    for (const t of this.timers) t.unref();
  }

  /** The bucket list: --buckets file, elliptics.bucket-list-key, or the embedded definitions. */
  private async bucketNames(): Promise<string[]> {
    const e = this.config.elliptics;
    if (e.bucketListKey || this.opts.buckets) {
      return this.store!.readBucketList({ key: e.bucketListKey || undefined, file: this.opts.buckets });
    }
    if (this.config.embedded) return this.embeddedBuckets.map((b) => b.name);
    throw new Error('no bucket list: give --buckets <file> or set elliptics.bucket-list-key');
  }

  private async reloadBuckets(atStart: boolean): Promise<void> {
    const names = await this.bucketNames();
    const { buckets, failed } = await loadBuckets(this.store!, names, this.log);
    if (buckets.length === 0) {
      const why = `none of the ${names.length} listed buckets could be read${failed.length ? ` (${failed.join(', ')})` : ''}`;
      if (atStart) throw new Error(`${why}; nothing to serve`);
      this.log.error(`${why}; keeping the previous buckets`);
      return;
    }
    this.buckets = buckets;
    this.configTime = Date.now();
    void this.selfReport();
  }

  /**
   * Config (unless frozen by /update_local_config/) and buckets, now. Single-flight: a reload asked
   * for while one runs (a slow storage, a burst of SIGHUPs) is skipped, not queued.
   */
  private async reload(why: string): Promise<void> {
    if (this.reloading) {
      this.log.info({ why }, 'reload skipped: the previous one is still running');
      return;
    }
    this.reloading = true;
    try {
      if (Date.now() >= this.configFrozenUntil) {
        const fresh = loadBackrunnerConfig(this.opts.config);
        const proxy = await this.effectiveProxy(fresh);
        this.proxy = this.applicable(this.withOverrides(proxy));
        this.config = { ...fresh, elliptics: this.config.elliptics, embedded: this.config.embedded };
      }
      await this.reloadBuckets(false);
      this.schedule();
      this.broadcast();
      this.log.info({ why, buckets: this.buckets.map((b) => b.name) }, 'config and buckets reloaded');
    } catch (err) {
      this.log.error({ why, err: (err as Error).message }, 'reload failed; keeping the previous state');
    } finally {
      this.reloading = false;
    }
  }

  /**
   * MONITOR_STAT of every node, and the command rates since the previous poll. Single-flight: a
   * poll that finds the previous one still running (a hung node) is skipped. True when it ran.
   */
  private async refreshStats(): Promise<boolean> {
    if (this.refreshing) {
      this.log.debug('statistics poll skipped: the previous one is still running');
      return false;
    }
    this.refreshing = true;
    try {
      const nodes = await new Session(this.cluster!).monitorStats();
      const backends = nodes.flatMap((n) => n.backends);
      const time = Math.max(0, ...nodes.map((n) => n.timestamp)) || Date.now();
      this.fold.setCommandRates(commandRates(this.backends, this.statTime, backends, time));
      this.backends = backends;
      this.statTime = time;
    } catch (err) {
      this.log.warn({ err: (err as Error).message }, 'storage statistics unavailable');
    } finally {
      this.refreshing = false;
    }
    return true;
  }

  private reportProblem = '';

  /** A worker's report into the fold; one it cannot read (another build's) is logged once and dropped. */
  private foldReport(data: Uint8Array): void {
    try {
      this.fold.addReport(decodeReport(data));
    } catch (err) {
      const why = (err as Error).message;
      if (why !== this.reportProblem) this.log.error({ err: why }, 'worker report ignored');
      this.reportProblem = why;
    }
  }

  /** Feeds the PIDs and sends every worker the folded view. */
  private tick(): void {
    this.fold.tick();
    const gauges: ProcessGauge[] = [{ kind: 'primary', index: '', ...this.meter.read(process.pid) }];
    if (this.embedded?.pid) gauges.push({ kind: 'storage-node', index: '', ...this.meter.read(this.embedded.pid) });
    this.supervisor?.broadcast({ type: 'live', data: encodeLive(this.fold.view(gauges, this.handoff?.stats())) });
  }

  private snapshot(): Uint8Array {
    if (this.encoded) return this.encoded;
    const groups = new Set(this.buckets.flatMap((b) => b.groups));
    const routes: Snapshot['routes'] = [...groups].map((g) => [g, [...new Map(this.cluster!.routes.pointsOf(g).map((p) => [`${p.node}/${p.backendId}`, [p.node, p.backendId] as [string, number]])).values()]]);
    const s: Snapshot = {
      seq: ++this.seq,
      proxy: this.proxy,
      remotes: this.remotes,
      buckets: this.buckets.map((b) => toSnapshotBucket(b, true)),
      backends: this.backends,
      routes,
      localNode: this.embedded && this.config.embedded ? { endpoint: formatEndpoint(this.remotes[0]!), dir: this.config.embedded.dir, socket: embeddedSocket(this.config.embedded) } : undefined,
      startTime: this.startTime,
      configTime: this.configTime,
      statTime: this.statTime,
    };
    this.encoded = encodeSnapshot(s);
    return this.encoded;
  }

  private broadcast(): void {
    this.encoded = undefined;
    this.supervisor?.broadcast({ type: 'snapshot', data: this.snapshot() });
  }

  /**
   * A new proxy config as it can apply to running workers: listen addresses, TLS files and the
   * worker count stay as started; everything read per request changes.
   */
  private applicable(next: ProxyConfig): ProxyConfig {
    const p = this.proxy;
    return { ...next, address: p.address, httpsAddress: p.httpsAddress, certFile: p.certFile, keyFile: p.keyFile, workers: p.workers };
  }

  private control(m: ControlRequest): void {
    if (m.type === 'exit') {
      void this.shutdown('/exit/ request').then(() => process.exit(0));
      return;
    }
    try {
      const proxy = parseProxyConfigText(m.config, 'update_local_config');
      // As the original: the redirect token is kept.
      this.proxy = { ...this.applicable(proxy), redirectToken: this.proxy.redirectToken };
      this.configFrozenUntil = Date.now() + proxy.disableConfigUpdateForSeconds * 1000;
      this.schedule();
      this.broadcast();
      this.log.info({ frozenForSeconds: proxy.disableConfigUpdateForSeconds }, 'proxy config replaced by /update_local_config/');
    } catch (err) {
      this.log.error({ err: (err as Error).message }, '/update_local_config/ document refused');
    }
  }

  /** `<hostname>.ReadConfig` in the metadata groups after each reload (spec §15.4); best effort. */
  private async selfReport(): Promise<void> {
    const key = `${os.hostname()}.ReadConfig`;
    const doc = { Meta: { Key: key, Timestamp: Math.floor(Date.now() / 1000) }, Data: { BucketNum: this.buckets.length, ConfigTime: Math.floor(this.configTime / 1000), Hostname: os.hostname() } };
    await this.store!.writeRaw(key, Buffer.from(JSON.stringify(doc, null, 2))).catch((err: unknown) => this.log.debug({ err: (err as Error).message }, 'self-report not written'));
  }

  private announce(): void {
    announce(this.log, {
      proxy: this.proxy,
      workers: this.supervisor!.pids.length,
      buckets: this.buckets,
      embedded: this.embedded && this.config.embedded ? { address: this.embedded.address, dir: this.config.embedded.dir, groups: this.config.embedded.groups } : undefined,
      remotes: this.config.elliptics.remotes,
    });
  }

  /** Drains the workers, closes storage, stops the embedded node. */
  shutdown(why: string): Promise<void> {
    this.stopping ??= (async () => {
      this.log.info({ why }, 'shutting down');
      for (const t of this.timers) clearInterval(t);
      await this.supervisor?.stop((this.proxy.shutdownTimeout + 5) * 1000);
      this.handoff?.close();
      this.cluster?.close();
      await this.embedded?.stop();
      this.log.info('stopped');
    })();
    return this.stopping;
  }
}
