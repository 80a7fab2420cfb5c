// Which bucket takes a /nobucket_upload/ (spec backrunner.md §12, with DESIGN §4.4 and §4.14):
// every bucket the caller may write to, and whose max-size admits the body, is scored by its "pain"
// — free space, read-only or failing backends, missing statistics, missing groups, replicas out of
// balance, and the predicted storage time of this upload on the backends that would store this key
// (cost-model.ts: fixed latency + size × time per byte, where the original had time per byte alone)
// — and one is drawn at random with weight 1/pain, using exact float weights.

import type { BackendStats } from '../elliptics/stats.js';
import type { BucketMeta } from './metadata.js';

/** Pain constants of spec §12.1. */
export const PAIN = {
  /** Below the soft free-space ratio. */
  SOFT: 5e9,
  /** Below the hard free-space ratio; also the bar above which a bucket is rejected. */
  HARD: 5e13,
  READ_ONLY: 2.5e13,
  NO_STATS: 2.5e13,
  STAT_ERROR: 2.5e13,
  /** Per metadata group without any statistics. */
  NO_GROUP: 2.5e13,
  /** Per record of imbalance between the bucket's groups. */
  DISCREPANCY: 1000,
  /** Free-space pain numerator: 5000 / ratio. */
  FREE_SPACE: 5000,
} as const;

/** Free-space ratio of a backend for `len` more bytes (spec §12.2). */
export function freeSpaceRatio(st: Pick<BackendStats, 'used' | 'avail' | 'limit'>, len: number): number {
  if (st.limit <= 0) return 0;
  if (st.avail <= st.limit) return st.avail < len ? 0 : (st.avail - len) / st.limit;
  return 1 - (st.used + len) / st.limit;
}

/** The backend that would store the key in one group, as the selection sees it. */
export interface KeyBackend {
  /** False when the route table has no backend for the key in this group. */
  routed: boolean;
  /** Its MONITOR_STAT figures; undefined when it has none. */
  stats: BackendStats | undefined;
  /**
   * µs per byte a write is predicted to cost: the cost model's throughput term, plus the write-error
   * pain while the backend fails (spec §12.5's PID pain was this term alone).
   */
  pain: number;
  /** µs every write costs whatever its size (the cost model's fixed latency; ours, DESIGN §4.19). */
  fixed?: number;
}

export interface GroupFacts {
  /** Any backend of the group has statistics (the original's "group slot"). */
  hasStats: boolean;
  /** Σ over every backend of the group of (records − removed records). */
  liveRecords: number;
}

/** What scoring needs besides the bucket: its view of storage for one key and one upload size. */
export interface SelectionContext {
  /** Upload size in bytes. */
  length: number;
  softRatio: number;
  hardRatio: number;
  backend(bucket: BucketMeta, group: number): KeyBackend;
  group(group: number): GroupFacts;
}

export interface GroupVerdict {
  group: number;
  ok: boolean;
  /** Why it is not ok, or its free-space ratio when it is. */
  reason: string;
  ratio: number | undefined;
}

export interface BucketScore {
  bucket: BucketMeta;
  /** Finite and ≥ 0 for candidates; Infinity when rejected. */
  pain: number;
  /** 1/pain (1 for pain 0); 0 when rejected. */
  weight: number;
  groups: GroupVerdict[];
  /** Why the bucket takes no automatic upload now (undefined for a candidate). */
  rejected: string | undefined;
  /** The only reason is space (every bad group is below a free-space ratio). */
  full: boolean;
}

/** Scores one bucket for the upload (spec §12.3). */
export function scoreBucket(bucket: BucketMeta, ctx: SelectionContext): BucketScore {
  let pain = 0;
  const groups: GroupVerdict[] = [];
  const bad = (group: number, reason: string, cost: number, ratio?: number): void => {
    groups.push({ group, ok: false, reason, ratio });
    pain += cost;
  };
  const slots = bucket.groups.filter((g) => ctx.group(g).hasStats);
  for (const g of slots) {
    const b = ctx.backend(bucket, g);
    const st = b.stats;
    if (!b.routed) { bad(g, 'no route', PAIN.NO_STATS); continue; }
    if (!st) { bad(g, 'no statistics', PAIN.NO_STATS); continue; }
    if (st.readOnly) { bad(g, 'read-only', PAIN.READ_ONLY); continue; }
    if (st.error !== 0) { bad(g, `statistics error ${st.error}`, PAIN.STAT_ERROR); continue; }
    if (st.limit === 0 || st.total === 0) { bad(g, 'no space figures', PAIN.NO_STATS); continue; }
    // A negative ratio (more used than the limit) would make the free-space pain negative: it is 0, full.
    const r = Math.max(0, freeSpaceRatio(st, ctx.length));
    pain += PAIN.FREE_SPACE / r; // r = 0 → Infinity
    if (r <= ctx.hardRatio) bad(g, `free-space ratio ${r.toFixed(3)} ≤ hard ${ctx.hardRatio}`, PAIN.HARD, r);
    else if (r <= ctx.softRatio) bad(g, `free-space ratio ${r.toFixed(3)} ≤ soft ${ctx.softRatio}`, PAIN.SOFT, r);
    else groups.push({ group: g, ok: true, reason: `free-space ratio ${r.toFixed(3)}`, ratio: r });
    pain += (b.fixed ?? 0) + b.pain * ctx.length;
  }
  const missing = bucket.groups.length - groups.length;
  if (missing > 0) {
    pain += missing * PAIN.NO_GROUP;
    for (const g of bucket.groups) if (!slots.includes(g)) groups.push({ group: g, ok: false, reason: 'no statistics for the group', ratio: undefined });
  }
  if (slots.length === 0) {
    // The original's record arithmetic underflows here: such a bucket is always rejected.
    return { bucket, pain: Infinity, weight: 0, groups, rejected: 'no group has statistics', full: false };
  }
  let max = 0;
  let min = Infinity;
  for (const g of slots) {
    const n = ctx.group(g).liveRecords;
    max = Math.max(max, n);
    min = Math.min(min, n);
  }
  pain += (max - min) * PAIN.DISCREPANCY;
  // Clamp what arithmetic on odd statistics could produce (the original could loop for ever).
  if (Number.isNaN(pain)) pain = Infinity;
  if (pain < 0) pain = 0;
  if (pain >= PAIN.HARD) {
    const why = groups.filter((v) => !v.ok).map((v) => `group ${v.group}: ${v.reason}`).join('; ') || `pain ${pain.toExponential(2)}`;
    const failing = groups.filter((v) => !v.ok);
    return { bucket, pain, weight: 0, groups, rejected: why, full: failing.length > 0 && failing.every((v) => v.ratio !== undefined) };
  }
  return { bucket, pain, weight: pain === 0 ? 1 : 1 / pain, groups, rejected: undefined, full: false };
}

/**
 * The candidates a draw chooses from (spec §12.3's last rule): when some have pain below
 * PAIN.SOFT, those at or above it are dropped.
 */
export function eligible(scores: readonly BucketScore[]): BucketScore[] {
  const candidates = scores.filter((s) => s.rejected === undefined);
  if (candidates.some((s) => s.pain < PAIN.SOFT)) return candidates.filter((s) => s.pain < PAIN.SOFT);
  return candidates;
}

/** A weighted random choice with exact float weights (spec §12.4, as a port may do it). */
export function draw(candidates: readonly BucketScore[], random: () => number = Math.random): BucketScore | undefined {
  let total = 0;
  for (const c of candidates) total += c.weight;
  if (candidates.length === 0 || !(total > 0) || !Number.isFinite(total)) return candidates[0];
  const r = random() * total;
  let acc = 0;
  for (const c of candidates) {
    acc += c.weight;
    if (r < acc) return c;
  }
  return candidates[candidates.length - 1];
}

/**
 * No starvation (DESIGN §4.19): the healthy bucket — every group with statistics, room and no failing
 * backend — that went longest without an automatic upload, when that is longer than `everyMs`; it
 * takes the next upload whatever its predicted cost, so that cost is measured again. A failing,
 * read-only or full bucket is never picked. `lastChoice`: when a bucket last got one (ms).
 */
export function starved(scores: readonly BucketScore[], lastChoice: (bucket: string) => number, everyMs: number, now: number): BucketScore | undefined {
  if (scores.length < 2) return undefined;
  let due: BucketScore | undefined;
  let oldest = now - everyMs;
  for (const s of scores) {
    if (s.rejected !== undefined || !s.groups.every((g) => g.ok)) continue;
    const last = lastChoice(s.bucket.name);
    if (last < oldest) {
      oldest = last;
      due = s;
    }
  }
  return due;
}
