// Read-repair (the C++ client does it; spec §8): a GET that found a group lacking the object, or
// holding it damaged, and served it from another group rewrites it into the groups that lacked it —
// in the background, never delaying the reply, each object once however many reads notice it. A
// group that still held a copy older than a removal another group remembers gets the removal
// repeated. Objects above `read-repair-max-size` become hints for the primary instead.

import type { Cluster } from '../elliptics/cluster.js';
import type { DnetTime } from '../elliptics/protocol/index.js';
import { Session, type ReadMisses } from '../elliptics/session.js';
import { copyReplica, repairStatus, repeatRemoval, settled } from '../recovery/repair.js';
import type { Logger } from '../util/logger.js';
import type { HintReporter } from './hint-reporter.js';
import type { WorkerStats } from './worker-stats.js';

/** Repairs queued at most (more are skipped: hints and `recover` catch them). */
const QUEUE_MAX = 1000;
const CONCURRENCY = 2;

export interface RepairJob {
  bucket: string;
  groups: readonly number[];
  id: Buffer;
  misses: ReadMisses;
  /** The group that served the object, its size and timestamp (undefined when nothing was served). */
  served: { group: number; size: number; timestamp: DnetTime } | undefined;
}

export class ReadRepair {
  private readonly queued = new Map<string, RepairJob>();
  private running = 0;

  constructor(
    private readonly cluster: Cluster,
    private readonly stats: WorkerStats,
    private readonly hints: HintReporter,
    private readonly log: Logger,
    private readonly maxSize: () => number,
  ) {}

  /** Queues a repair (deduplicated); returns at once. */
  enqueue(job: RepairJob): void {
    if (this.maxSize() <= 0) return;
    const todo = job.misses.shadowed.length + (job.served ? job.misses.missing.length : 0);
    if (todo === 0) return;
    const key = `${job.bucket}/${job.id.toString('latin1')}`;
    if (this.queued.has(key) || this.queued.size >= QUEUE_MAX) return;
    this.queued.set(key, job);
    if (this.running < CONCURRENCY) setImmediate(() => void this.drain());
  }

  private async drain(): Promise<void> {
    this.running++;
    try {
      for (const [key, job] of this.queued) {
        this.queued.delete(key);
        await this.repair(job);
      }
    } finally {
      this.running--;
    }
  }

  private async repair(job: RepairJob): Promise<void> {
    const session = new Session(this.cluster, { groups: job.groups, removalTimes: true });
    const { misses, served } = job;
    try {
      if (misses.shadowed.length > 0 && misses.removedAt) {
        const out = await repeatRemoval(session, job.id, misses.shadowed, misses.removedAt);
        this.count([...out.results.values()]);
      }
      if (served && misses.missing.length > 0) {
        if (served.size > this.maxSize()) {
          // Too big to copy here: the primary's hints deliver it at its own pace.
          await this.hints.report(job.bucket, job.id, misses.missing, 'write', served.timestamp);
          return;
        }
        const out = await copyReplica(session, job.id, served.group, misses.missing);
        this.count([...out.results.values()]);
      }
    } catch (err) {
      this.stats.readRepaired(false);
      this.log.debug({ bucket: job.bucket, err: (err as Error).message, status: repairStatus(err) }, 'read-repair failed');
    }
  }

  private count(statuses: number[]): void {
    for (const s of statuses) this.stats.readRepaired(settled(s));
  }
}
