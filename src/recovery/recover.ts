// `backrunner recover`: for each set of groups that replicate each other (a bucket's groups), walk
// every backend of every group (ITERATOR), merge what they hold per key, and bring every group to
// the newest state — copy the newest version where it is missing or older, repeat a removal where
// a group still holds what was removed — with CAS_TIMESTAMP, so traffic served meanwhile wins.
//
// Memory: the keys of one slice of the key space are held at a time (about 300 bytes per key).
// A slice that turns out to hold more than `maxKeys` is cut into 16 and walked again; the first
// walk's key count (ITERATOR's total_keys) cuts the space up front, so that rarely happens.

import type { Cluster } from '../elliptics/cluster.js';
import { walkBackend, walkTargets, type WalkedRecord } from '../elliptics/backend-walk.js';
import { EllipticsError } from '../elliptics/errors.js';
import { Errno, FlagsHigh, RecordFlags, type DnetTime } from '../elliptics/protocol/index.js';
import { lookupRequest, fileInfoOf } from '../elliptics/requests.js';
import { Session } from '../elliptics/session.js';
import { bitsFor, describeSlice, sliceRange, splitSlice, WHOLE, type KeySlice } from './key-ranges.js';
import { planKey, type ReplicaState } from './merge.js';
import { copyReplica, repairStatus, repeatRemoval, settled } from './repair.js';

export interface RecoverOptions {
  /** Each entry: groups that replicate each other, and the buckets that use them (for messages). */
  sets: { groups: number[]; buckets: string[] }[];
  dryRun?: boolean;
  /** Bytes per second the copies may take (0: no limit). */
  rate?: number;
  /** Only records changed at or after this time. */
  since?: DnetTime;
  /** Most keys held in memory at once (default 250,000). */
  maxKeys?: number;
  /** Repairs running at once (default 8). */
  concurrency?: number;
  timeoutMs?: number;
  onProgress?: (p: RecoverProgress) => void;
}

export interface RecoverProgress {
  /** Keys merged so far, and an estimate of all (from the walks' total_keys). */
  walked: number;
  estimate: number;
  copied: number;
  bytes: number;
  startedAt: number;
  phase: string;
}

export interface RecoverSummary {
  walked: number;
  /** Group-instances that lacked a key / held an older state. */
  missing: number;
  stale: number;
  /** Group-instances brought up to date by a copy / by repeating a removal. */
  copied: number;
  removed: number;
  /** Group-instances that could not be repaired. */
  failed: number;
  bytes: number;
  /** Keys (hex ids) that could not be repaired, the first 100. */
  failedKeys: string[];
  /** Groups whose walk failed (their keys were not compared), with the reason. */
  unwalked: { group: number; reason: string }[];
  /** Groups on nodes that cannot report removals (a real Elliptics node): deletes there are invisible. */
  removalsInvisible: number[];
  dryRun: boolean;
  seconds: number;
}

const DEFAULT_MAX_KEYS = 250_000;
const FAILED_KEYS_KEPT = 100;

class SliceTooBig extends Error {
  constructor(readonly keys: number) {
    super('slice too big');
  }
}

export class Recovery {
  private readonly maxKeys: number;
  private readonly summary: RecoverSummary;
  private readonly progress: RecoverProgress;
  private readonly pace: (bytes: number) => Promise<void>;
  private readonly invisible = new Set<number>();

  constructor(
    private readonly cluster: Cluster,
    private readonly opts: RecoverOptions,
  ) {
    this.maxKeys = opts.maxKeys ?? DEFAULT_MAX_KEYS;
    this.summary = { walked: 0, missing: 0, stale: 0, copied: 0, removed: 0, failed: 0, bytes: 0, failedKeys: [], unwalked: [], removalsInvisible: [], dryRun: opts.dryRun ?? false, seconds: 0 };
    this.progress = { walked: 0, estimate: 0, copied: 0, bytes: 0, startedAt: Date.now(), phase: '' };
    this.pace = rateLimiter(opts.rate ?? 0);
  }

  async run(): Promise<RecoverSummary> {
    const t0 = performance.now();
    for (const set of this.opts.sets) await this.recoverSet(set.groups, set.buckets);
    this.summary.removalsInvisible = [...this.invisible].sort((a, b) => a - b);
    this.summary.seconds = Math.round((performance.now() - t0) / 100) / 10;
    this.report('done');
    return this.summary;
  }

  private report(phase: string): void {
    this.progress.phase = phase;
    this.progress.copied = this.summary.copied + this.summary.removed;
    this.progress.bytes = this.summary.bytes;
    this.opts.onProgress?.(this.progress);
  }

  private async recoverSet(groups: number[], buckets: string[]): Promise<void> {
    const session = new Session(this.cluster, { groups, ...(this.opts.timeoutMs ? { timeoutMs: this.opts.timeoutMs } : {}) });
    const queue: KeySlice[] = [WHOLE];
    while (queue.length > 0) {
      const slice = queue.shift()!;
      const label = `buckets ${buckets.join(', ')} (groups ${groups.join(', ')}), ${describeSlice(slice)}`;
      let keys: Map<string, Map<number, ReplicaState>>;
      let unwalked: Set<number>;
      try {
        ({ keys, unwalked } = await this.collect(groups, slice, label));
      } catch (err) {
        if (!(err instanceof SliceTooBig)) throw err;
        queue.unshift(...splitSlice(slice, Math.max(4, bitsFor(err.keys, this.maxKeys))));
        continue;
      }
      this.report(`repairing ${label}`);
      await this.repairAll(session, groups, keys, unwalked);
    }
  }

  /** Every group's walk of the slice, merged per key. */
  private async collect(groups: number[], slice: KeySlice, label: string): Promise<{ keys: Map<string, Map<number, ReplicaState>>; unwalked: Set<number> }> {
    const keys = new Map<string, Map<number, ReplicaState>>();
    const unwalked = new Set<number>();
    const range = sliceRange(slice);
    for (const group of groups) {
      this.report(`walking group ${group}: ${label}`);
      const targets = walkTargets(this.cluster, group);
      if (targets.length === 0) {
        unwalked.add(group);
        this.noteUnwalked(group, 'no node serves it (not in the route table)');
        continue;
      }
      for (const t of targets) {
        try {
          await this.walkInto(t, range, group, keys, slice);
        } catch (err) {
          if (err instanceof SliceTooBig) throw err;
          unwalked.add(group);
          this.noteUnwalked(group, `${t.node} backend ${t.backendId}: ${(err as Error).message}`);
        }
      }
    }
    return { keys, unwalked };
  }

  private noteUnwalked(group: number, reason: string): void {
    if (!this.summary.unwalked.some((u) => u.group === group && u.reason === reason)) this.summary.unwalked.push({ group, reason });
  }

  private async walkInto(t: ReturnType<typeof walkTargets>[number], range: ReturnType<typeof sliceRange>, group: number, keys: Map<string, Map<number, ReplicaState>>, slice: KeySlice): Promise<void> {
    const base = { ...(range ? { ranges: [range] } : {}), ...(this.opts.since ? { from: this.opts.since, to: { sec: Number.MAX_SAFE_INTEGER, nsec: 0 } } : {}) };
    let records: AsyncGenerator<WalkedRecord>;
    let first: IteratorResult<WalkedRecord> | undefined;
    try {
      records = walkBackend(this.cluster, t, { ...base, removed: !this.invisible.has(group) });
      first = await records.next();
    } catch (err) {
      if (!(err instanceof EllipticsError && err.status === Errno.ENOTSUP)) throw err;
      // A real Elliptics node: it cannot report removals (our iterator flag is unknown to it).
      this.invisible.add(group);
      records = walkBackend(this.cluster, t, base);
      first = await records.next();
    }
    let firstSeen = false;
    for (let r = first; !r.done; r = await records.next()) {
      const rec = r.value;
      if (!firstSeen) {
        firstSeen = true;
        if (slice.bits === 0 && rec.total > this.maxKeys) {
          await records.return(undefined);
          throw new SliceTooBig(rec.total);
        }
        if (slice.bits === 0) this.progress.estimate = Math.max(this.progress.estimate, rec.total);
      }
      const k = rec.key.toString('latin1');
      let states = keys.get(k);
      if (!states) {
        if (keys.size >= this.maxKeys) {
          await records.return(undefined);
          throw new SliceTooBig(keys.size * 2);
        }
        keys.set(k, (states = new Map()));
      }
      const st = stateOf(rec);
      const prev = states.get(group);
      // A key with a committed record and a prepared one: the committed one speaks for the group.
      if (!prev || prev.kind === 'uncommitted' || (st.kind !== 'uncommitted' && prev.kind !== 'data')) states.set(group, st);
    }
  }

  private async repairAll(session: Session, groups: number[], keys: Map<string, Map<number, ReplicaState>>, unwalked: Set<number>): Promise<void> {
    const iter = keys.entries();
    const lane = async (): Promise<void> => {
      for (let next = iter.next(); !next.done; next = iter.next()) {
        const [k, states] = next.value;
        await this.repairKey(session, Buffer.from(k, 'latin1'), groups, states, unwalked);
        this.summary.walked++;
        this.progress.walked++;
        if (this.progress.walked % 1000 === 0) this.report(this.progress.phase);
      }
    };
    await Promise.all(Array.from({ length: this.opts.concurrency ?? 8 }, lane));
    keys.clear();
  }

  private async repairKey(session: Session, id: Buffer, groups: number[], states: Map<number, ReplicaState>, unwalked: Set<number>): Promise<void> {
    const known = new Map<number, ReplicaState>();
    for (const g of groups) {
      if (unwalked.has(g)) continue;
      const st = states.get(g) ?? { kind: 'missing' as const };
      // Walked with --since: a group that did not report the key may hold an older version, or a removal.
      known.set(g, st.kind === 'missing' && this.opts.since ? await probe(session, id, g).catch(() => st) : st);
    }
    const plan = planKey(known);
    this.summary.missing += plan.missing.length;
    this.summary.stale += plan.stale.length;
    const copyTo = [...plan.actions].filter(([, a]) => a === 'copy').map(([g]) => g);
    const removeIn = [...plan.actions].filter(([, a]) => a === 'remove').map(([g]) => g);
    if (this.opts.dryRun || (copyTo.length === 0 && removeIn.length === 0)) return;
    const fail = (n: number): void => {
      this.summary.failed += n;
      if (this.summary.failedKeys.length < FAILED_KEYS_KEPT) this.summary.failedKeys.push(id.toString('hex'));
    };
    if (copyTo.length > 0 && plan.source !== undefined) {
      try {
        const out = await copyReplica(session, id, plan.source, copyTo, { pace: this.pace });
        const ok = [...out.results.values()].filter(settled).length;
        this.summary.copied += ok;
        this.summary.bytes += out.bytes * ok;
        if (ok < copyTo.length) fail(copyTo.length - ok);
      } catch (err) {
        // The source lost it meanwhile (overwritten or removed): the next run sees the new state.
        if (repairStatus(err) !== Errno.ENOENT) fail(copyTo.length);
      }
    }
    if (removeIn.length > 0 && plan.newest.kind === 'removed') {
      try {
        const out = await repeatRemoval(session, id, removeIn, plan.newest.timestamp);
        const ok = [...out.results.values()].filter(settled).length;
        this.summary.removed += ok;
        if (ok < removeIn.length) fail(removeIn.length - ok);
      } catch {
        fail(removeIn.length);
      }
    }
  }
}

function stateOf(r: WalkedRecord): ReplicaState {
  if (r.recordFlags & RecordFlags.REMOVE) return { kind: 'removed', timestamp: r.timestamp };
  if (r.recordFlags & RecordFlags.UNCOMMITTED) return { kind: 'uncommitted', timestamp: r.timestamp, size: r.size };
  return { kind: 'data', timestamp: r.timestamp, size: r.size };
}

/** One group's state of a key, by LOOKUP (asking our node for a removal's time). */
async function probe(session: Session, id: Buffer, group: number): Promise<ReplicaState> {
  try {
    const packets = await session.send(group, id, (t) => lookupRequest({ ...t, flagsHigh: FlagsHigh.REMOVAL_TIME }));
    const info = fileInfoOf(packets.packets, 'lookup')?.info;
    return info ? { kind: 'data', timestamp: info.mtime, size: info.size } : { kind: 'missing' };
  } catch (err) {
    if (err instanceof EllipticsError && err.status === Errno.ENOENT) return err.removedAt ? { kind: 'removed', timestamp: err.removedAt } : { kind: 'missing' };
    throw err;
  }
}

/** Waits so that the bytes passed through stay within `rate` per second (0: never waits). */
export function rateLimiter(rate: number): (bytes: number) => Promise<void> {
  if (rate <= 0) return () => Promise.resolve();
  const start = performance.now();
  let total = 0;
  return async (bytes) => {
    total += bytes;
    const wait = start + (total / rate) * 1000 - performance.now();
    if (wait > 0) await new Promise((r) => setTimeout(r, wait));
  };
}
