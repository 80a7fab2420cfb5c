// Delivers the hints of the journal: once the node holding a hinted group answers again, the write
// it missed is copied there from a replica of the bucket that has it, or the removal it missed is
// repeated — both with the source's timestamp under CAS_TIMESTAMP (repair.ts), so anything newer
// that reached the group meanwhile stays. Paced by bytes per second so that repairs do not crowd out
// live traffic; a hint whose delivery fails waits longer before each next try.

import type { Cluster } from '../elliptics/cluster.js';
import { EllipticsError } from '../elliptics/errors.js';
import { compareTime, Errno, type DnetTime } from '../elliptics/protocol/index.js';
import { Session } from '../elliptics/session.js';
import type { Logger } from '../util/logger.js';
import type { HintJournal, PendingHint } from './hint-journal.js';
import { rateLimiter } from './recover.js';
import { copyReplica, repairStatus, repeatRemoval, settled } from './repair.js';

export interface ReplayStats {
  delivered: number;
  failed: number;
  /** Hints dropped because their bucket is gone or no replica holds anything to copy. */
  dropped: number;
  bytes: number;
  lastError: string | undefined;
}

export interface ReplayerOptions {
  /** Groups of a bucket, or undefined when the bucket is no longer known. */
  groupsOf: (bucket: string) => readonly number[] | undefined;
  /** Bytes per second the copies may take. */
  rate: number;
  /** Deliveries in flight. */
  concurrency: number;
  timeoutMs: number;
  log: Logger;
  /** Called with the keys of hints that no longer need delivering (delivered or dropped). */
  onSettled?: (hints: readonly PendingHint[]) => void;
}

const RETRY_MIN_MS = 1000;
const RETRY_MAX_MS = 60_000;

export class HintReplayer {
  readonly stats: ReplayStats = { delivered: 0, failed: 0, dropped: 0, bytes: 0, lastError: undefined };
  /** Per hint key: when it may be tried again, and the wait after the next failure. */
  private readonly retry = new Map<string, { at: number; wait: number }>();
  private running: Promise<void> | undefined;
  private readonly pace: (bytes: number) => Promise<void>;

  constructor(
    private readonly cluster: Cluster,
    private readonly journal: HintJournal,
    private readonly opts: ReplayerOptions,
  ) {
    this.pace = rateLimiter(opts.rate);
  }

  /** One pass over the hints whose group is reachable (single-flight: a pass already running is joined). */
  pass(): Promise<void> {
    this.running ??= this.run().finally(() => (this.running = undefined));
    return this.running;
  }

  private reachable(group: number, id: Buffer): boolean {
    const r = this.cluster.routes.lookup(group, id);
    return r !== undefined && this.cluster.node(r.node)?.state === 'up';
  }

  private async run(): Promise<void> {
    const now = Date.now();
    const due: PendingHint[] = [];
    for (const h of this.journal.pending()) {
      const r = this.retry.get(h.key);
      if (r && r.at > now) continue;
      if (this.reachable(h.group, Buffer.from(h.idHex, 'hex'))) due.push(h);
    }
    if (due.length === 0) return;
    let next = 0;
    const settledNow: PendingHint[] = [];
    const lane = async (): Promise<void> => {
      while (next < due.length) {
        const h = due[next++]!;
        if (!this.journal.has(h.key)) continue;
        const outcome = await this.deliver(h).catch((err: unknown) => ({ status: repairStatus(err), why: (err as Error).message }));
        if (outcome === 'dropped' || settled(outcome.status)) {
          this.retry.delete(h.key);
          settledNow.push(h);
          if (outcome === 'dropped') this.stats.dropped++;
          else this.stats.delivered++;
          if (settledNow.length >= 256) await this.settle(settledNow.splice(0));
        } else {
          this.stats.failed++;
          this.stats.lastError = `group ${h.group}: ${outcome.why}`;
          const r = this.retry.get(h.key);
          const wait = Math.min(RETRY_MAX_MS, r ? r.wait * 2 : RETRY_MIN_MS);
          this.retry.set(h.key, { at: Date.now() + wait, wait });
        }
      }
    };
    await Promise.all(Array.from({ length: this.opts.concurrency }, lane));
    await this.settle(settledNow);
  }

  private async settle(hints: PendingHint[]): Promise<void> {
    if (hints.length === 0) return;
    await this.journal.done(hints.map((h) => h.key));
    this.opts.onSettled?.(hints);
  }

  /** One hint: its status in the target group (0 or -EBADFD: done), or 'dropped' (nothing to deliver). */
  private async deliver(h: PendingHint): Promise<{ status: number; why: string } | 'dropped'> {
    const groups = this.opts.groupsOf(h.bucket);
    if (!groups) return 'dropped';
    const id = Buffer.from(h.idHex, 'hex');
    const session = new Session(this.cluster, { groups, timeoutMs: this.opts.timeoutMs, removalTimes: true });
    const when: DnetTime = { sec: h.sec, nsec: h.nsec };
    if (h.op === 'remove') return this.removal(session, id, h.group, when);
    // A write the group missed: copied from a replica that has it (or has something newer still).
    let removedAt: DnetTime | undefined;
    let asked = 0;
    for (const source of groups) {
      if (source === h.group || !this.reachable(source, id)) continue;
      asked++;
      try {
        const out = await copyReplica(session, id, source, [h.group], { pace: this.pace });
        this.stats.bytes += out.bytes;
        const status = out.results.get(h.group) ?? Errno.EIO;
        return { status, why: `copy from group ${source}: status ${status}` };
      } catch (err) {
        if (!(err instanceof EllipticsError) || err.status !== Errno.ENOENT) throw err;
        if (err.removedAt && (!removedAt || compareTime(err.removedAt, removedAt) > 0)) removedAt = err.removedAt;
      }
    }
    if (asked === 0) return { status: Errno.ENXIO, why: 'no other replica is reachable to copy from' };
    // Removed since: the removal is what the group must get now.
    if (removedAt && compareTime(removedAt, when) >= 0) return this.removal(session, id, h.group, removedAt);
    return 'dropped';
  }

  private async removal(session: Session, id: Buffer, group: number, when: DnetTime): Promise<{ status: number; why: string }> {
    const out = await repeatRemoval(session, id, [group], when);
    const status = out.results.get(group) ?? Errno.EIO;
    return { status, why: `removal: status ${status}` };
  }
}
