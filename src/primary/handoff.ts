// Hinted handoff, the primary's part: the hints workers send (a write or removal acknowledged under
// the quorum that missed a group) go into the durable journal before the worker is answered; once a
// second, and at once when a node comes back, the replayer delivers what it can; every worker is
// told which replicas are stale meanwhile, so that no read serves them.

import path from 'node:path';
import type { Cluster } from '../elliptics/cluster.js';
import { staleKey, type Hint, type HintsAck, type StaleReplicas } from '../ipc/hints.js';
import type { RepairStats } from '../ipc/live.js';
import { HintJournal, type PendingHint } from '../recovery/hint-journal.js';
import { HintReplayer } from '../recovery/hint-replayer.js';
import type { Logger } from '../util/logger.js';

export interface HandoffOptions {
  dir: string;
  limit: number;
  rate: number;
  timeoutMs: number;
  groupsOf: (bucket: string) => readonly number[] | undefined;
  /** Sends a message to every worker. */
  broadcast: (m: StaleReplicas) => void;
  log: Logger;
}

/** A worker's full stale set travels at most this big; beyond, workers fall back to removal times alone. */
const STALE_SET_MAX = 200_000;
const OVERFLOW_LOG_EVERY_MS = 60_000;

export class Handoff {
  private readonly replayer: HintReplayer;
  private timer: NodeJS.Timeout | undefined;
  private lastOverflowLog = 0;
  private overflowSeen = 0;

  private constructor(
    private readonly journal: HintJournal,
    cluster: Cluster,
    private readonly opts: HandoffOptions,
  ) {
    this.replayer = new HintReplayer(cluster, journal, {
      groupsOf: opts.groupsOf,
      rate: opts.rate,
      concurrency: 4,
      timeoutMs: opts.timeoutMs,
      log: opts.log,
      onSettled: (hints) => this.opts.broadcast({ type: 'stale', reset: false, add: [], drop: hints.map(staleOf) }),
    });
  }

  static async start(cluster: Cluster, opts: HandoffOptions): Promise<Handoff> {
    const journal = await HintJournal.open(opts.dir, opts.limit);
    const h = new Handoff(journal, cluster, opts);
    if (journal.size > 0) opts.log.info({ pending: journal.size, journal: path.join(opts.dir, 'hints.journal') }, 'hints pending from before: delivered as their groups answer');
    h.timer = setInterval(() => void h.replay(), 1000);
    h.timer.unref();
    return h;
  }

  /** Journals a worker's hints; the answer says whether they are stored (durably). */
  async accept(seq: number, hints: Hint[]): Promise<HintsAck> {
    const stored = await this.journal.add(hints).catch((err: unknown) => {
      this.opts.log.error({ err: (err as Error).message, dir: this.opts.dir }, 'hints could not be journaled (proxy.hints-dir)');
      return undefined;
    });
    if (!stored) return { type: 'hints-ack', seq, stored: false };
    if (this.journal.overflowed > this.overflowSeen) {
      this.overflowSeen = this.journal.overflowed;
      const now = Date.now();
      if (now - this.lastOverflowLog > OVERFLOW_LOG_EVERY_MS) {
        this.lastOverflowLog = now;
        this.opts.log.error({ pending: this.journal.size, limit: this.journal.limit, dropped: this.journal.overflowed }, 'the hint journal is full (proxy.hint-limit): new hints are dropped; run `backrunner recover` once the storage is healthy');
      }
    }
    if (stored.length > 0) this.opts.broadcast({ type: 'stale', reset: false, add: stored.map(staleOf), drop: [] });
    return { type: 'hints-ack', seq, stored: stored.length === hints.length };
  }

  /** What a new worker must know: every stale replica (or nothing, when there are too many to send). */
  staleSet(): StaleReplicas {
    const add: string[] = [];
    if (this.journal.size <= STALE_SET_MAX) for (const h of this.journal.pending()) add.push(staleOf(h));
    return { type: 'stale', reset: true, add, drop: [] };
  }

  /** A pass now (a node came back); also runs once a second. */
  replay(): Promise<void> {
    return this.journal.size > 0 ? this.replayer.pass().catch((err: unknown) => this.opts.log.warn({ err: (err as Error).message }, 'hint delivery pass failed')) : Promise.resolve();
  }

  stats(): RepairStats {
    const j = this.journal.stats();
    const r = this.replayer.stats;
    return { pendingHints: j.pending, journalBytes: j.bytes, overflowed: j.overflowed, delivered: r.delivered, deliveryFailures: r.failed, dropped: r.dropped, copiedBytes: r.bytes, lastError: r.lastError ?? '', readRepairs: 0, readRepairFailures: 0 };
  }

  close(): void {
    if (this.timer) clearInterval(this.timer);
    this.journal.close();
  }
}

function staleOf(h: PendingHint): string {
  return staleKey(Buffer.from(h.idHex.slice(0, 32), 'hex'), h.group);
}
