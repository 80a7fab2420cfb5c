// Everything a request handler may use in a worker: the latest snapshot (config, buckets, storage
// statistics), the worker's own pooled Elliptics client, on-demand bucket reads, counters, the log.

import path from 'node:path';
import type { Cluster } from '../elliptics/cluster.js';
import { LocalFiles } from '../elliptics/local-files.js';
import { EllipticsError } from '../elliptics/errors.js';
import { backendKey, type BackendStats } from '../elliptics/stats.js';
import { BucketMetaError, type BucketMeta } from '../buckets/metadata.js';
import { MetadataStore } from '../buckets/metadata-store.js';
import { WRITE_ERROR_PAIN } from '../buckets/pid.js';
import type { GroupFacts, KeyBackend } from '../buckets/selection.js';
import type { ProxyConfig } from '../config/proxy-config.js';
import type { Logger } from '../util/logger.js';
import { HttpError } from './errors.js';
import { Admission } from './admission.js';
import { emptyLive, type LiveView } from '../ipc/live.js';
import { fromSnapshotBucket, type Snapshot } from '../ipc/snapshot.js';
import { WorkerStats } from './worker-stats.js';
import { HintReporter } from './hint-reporter.js';
import { ReadRepair } from './read-repair.js';
import { StaleReplicaSet } from './stale-replicas.js';
import type { HintsMessage } from '../ipc/hints.js';

/** A bucket not in the bucket list, read on demand; misses are remembered briefly. */
interface OnDemand {
  meta: BucketMeta | undefined;
  error: HttpError | undefined;
  expires: number;
  pending: Promise<BucketMeta> | undefined;
}

const NEGATIVE_TTL_MS = 5000;

const NO_STATS: GroupFacts = { hasStats: false, liveRecords: 0 };

export class WorkerContext {
  snapshot: Snapshot;
  /** The primary's folded figures (write health, counters, rates), about once a second. */
  live: LiveView = emptyLive();
  private buckets = new Map<string, BucketMeta>();
  private writable: BucketMeta[] = [];
  private readonly onDemand = new Map<string, OnDemand>();
  /** group → node → backend id → statistics (no key strings built on the request path). */
  private statsByBackend = new Map<number, Map<string, Map<number, BackendStats>>>();
  private groups = new Map<number, GroupFacts>();
  readonly stats: WorkerStats;
  readonly metadata: MetadataStore;
  /** Requests in progress (for draining). */
  inFlight = 0;
  /** What this worker takes on at once (requests, upload bytes, read buffers). */
  readonly admission = new Admission(() => this.config);
  /**
   * The embedded node's endpoint (a write to several of its groups goes to it once) and the reader of
   * its blob files (reads skip its socket; proxy.local-reads), when there is one.
   */
  readonly localNode: string | undefined;
  readonly localFiles: LocalFiles | undefined;
  readonly startedAt = Date.now();
  /** bucket → when this worker last sent it an automatic upload to measure it (see probeDue). */
  readonly probedAt = new Map<string, number>();
  /** Replicas not to read until their hint is delivered (from the primary). */
  readonly stale = new StaleReplicaSet();
  readonly hints: HintReporter;
  readonly readRepair: ReadRepair;

  constructor(
    snapshot: Snapshot,
    readonly cluster: Cluster,
    metadataGroups: readonly number[],
    readonly log: Logger,
    /** This worker's stable index. */
    readonly index = 0,
    /** Sends hints to the primary (none in a worker without one: tests, benchmarks). */
    sendHints: (m: HintsMessage) => void = () => undefined,
  ) {
    this.stats = new WorkerStats(index);
    this.hints = new HintReporter(sendHints, log);
    this.readRepair = new ReadRepair(cluster, this.stats, this.hints, log, () => this.config.readRepairMaxSize);
    this.metadata = new MetadataStore(cluster, metadataGroups);
    this.localNode = snapshot.localNode?.endpoint;
    if (snapshot.localNode && snapshot.proxy.localReads) this.localFiles = new LocalFiles(snapshot.localNode.dir + path.sep);
    this.snapshot = snapshot;
    this.apply(snapshot);
  }

  get config(): ProxyConfig {
    return this.snapshot.proxy;
  }

  setSnapshot(s: Snapshot): void {
    this.snapshot = s;
    this.apply(s);
  }

  setLive(v: LiveView): void {
    if (v.seq > this.live.seq || v.time > this.live.time) this.live = v;
  }

  private apply(s: Snapshot): void {
    this.buckets = new Map(s.buckets.map((b) => [b.name, fromSnapshotBucket(b)]));
    this.writable = s.buckets.filter((b) => b.writable).map((b) => this.buckets.get(b.name)!);
    this.statsByBackend = new Map();
    for (const b of s.backends) {
      let byNode = this.statsByBackend.get(b.group);
      if (!byNode) this.statsByBackend.set(b.group, (byNode = new Map()));
      let byId = byNode.get(b.address);
      if (!byId) byNode.set(b.address, (byId = new Map()));
      byId.set(b.backendId, b);
    }
    this.groups = new Map();
    for (const b of s.backends) {
      const g = this.groups.get(b.group) ?? { hasStats: true, liveRecords: 0 };
      g.liveRecords += b.recordsTotal - b.recordsRemoved;
      this.groups.set(b.group, g);
    }
  }

  /** What bucket selection knows of a group: whether it has statistics, its live records. */
  groupFacts(group: number): GroupFacts {
    return this.groups.get(group) ?? NO_STATS;
  }

  /**
   * The backend that would store key `id` in `group`, for bucket selection: its statistics and
   * its write pain — the primary's, or the write-error pain when this worker saw it fail just now.
   */
  keyBackend(group: number, id: Buffer, now = Date.now()): KeyBackend {
    const route = this.cluster.routes.lookup(group, id);
    if (!route) return { routed: false, stats: undefined, pain: 0 };
    return this.backendAt(group, route.node, route.backendId, now);
  }

  /** A backend as selection sees it: statistics, predicted cost (the fleet's when never measured), failures. */
  backendAt(group: number, node: string, backendId: number, now = Date.now()): KeyBackend {
    const key = backendKey(node, backendId);
    const live = this.live.backends[key];
    const cost = live?.cost ?? this.live.fleet;
    const failure = this.stats.failedRecently(key, now) ? WRITE_ERROR_PAIN : live?.failure ?? 0;
    return { routed: true, stats: this.backendStats(group, node, backendId), pain: cost.perByte + failure, fixed: cost.fixed };
  }

  /** Buckets of the bucket list: the candidates of /nobucket_upload/. */
  writableBuckets(): readonly BucketMeta[] {
    return this.writable;
  }

  /** Buckets this worker holds (listed, then read on demand). */
  knownBuckets(): BucketMeta[] {
    const out = [...this.buckets.values()];
    for (const [name, d] of this.onDemand) if (d.meta && !this.buckets.has(name)) out.push(d.meta);
    return out;
  }

  /** Stats (from the last MONITOR_STAT poll) of one backend of `group`. */
  backendStats(group: number, node: string, backendId: number): BackendStats | undefined {
    return this.statsByBackend.get(group)?.get(node)?.get(backendId);
  }

  /** Stats (from the last MONITOR_STAT poll) of the backend that holds key `id` in `group`. */
  statsFor(group: number, id: Buffer): BackendStats | undefined {
    const route = this.cluster.routes.lookup(group, id);
    return route && this.backendStats(group, route.node, route.backendId);
  }

  /** A bucket of the snapshot, without a storage read (the request path's fast way). */
  knownBucket(name: string): BucketMeta | undefined {
    return this.buckets.get(name);
  }

  /**
   * A bucket by name: from the snapshot, else read from the metadata groups (and kept for one
   * bucket-update interval). Unreadable → 400 naming the bucket, as the original.
   */
  async bucket(name: string): Promise<BucketMeta> {
    const known = this.buckets.get(name);
    if (known) return known;
    const now = Date.now();
    let d = this.onDemand.get(name);
    if (d && d.expires > now) {
      if (d.meta) return d.meta;
      if (d.error) throw d.error;
    }
    if (d?.pending) return d.pending;
    d = { meta: undefined, error: undefined, expires: 0, pending: undefined };
    this.onDemand.set(name, d);
    const entry = d;
    entry.pending = this.metadata.readBucket(name).then(
      (meta) => {
        entry.meta = meta;
        entry.expires = Date.now() + Math.max(5, this.config.bucketUpdateInterval) * 1000;
        entry.pending = undefined;
        return meta;
      },
      (err: unknown) => {
        const why = err instanceof BucketMetaError || err instanceof EllipticsError ? err.message : String(err);
        entry.error = new HttpError(400, `${name}: could not find and read bucket: ${why}`);
        entry.expires = Date.now() + NEGATIVE_TTL_MS;
        entry.pending = undefined;
        throw entry.error;
      },
    );
    return entry.pending;
  }
}
