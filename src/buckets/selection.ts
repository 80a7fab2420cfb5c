// Which bucket takes a /nobucket_upload/ (spec backrunner.md §12, simplified for now): a uniformly
// random one among the buckets the caller may write to whose every group has room above the hard
// free-space ratio for this upload. (The pain / PID weighting of the original comes later.)

import type { BackendStats } from '../elliptics/stats.js';
import type { BucketMeta } from './metadata.js';

/** Free-space ratio of a backend for `len` more bytes (spec §12.2). */
export function freeSpaceRatio(st: Pick<BackendStats, 'used' | 'avail' | 'limit'>, len: number): number {
  if (st.limit <= 0) return 0;
  if (st.avail <= st.limit) return st.avail < len ? 0 : (st.avail - len) / st.limit;
  return 1 - (st.used + len) / st.limit;
}

export interface GroupCheck {
  group: number;
  stats: BackendStats | undefined;
  ok: boolean;
  reason: string;
}

/** Whether one group's backend (the one that would store the key) can take `len` bytes. */
export function checkGroup(group: number, stats: BackendStats | undefined, len: number, hardRatio: number): GroupCheck {
  if (!stats) return { group, stats, ok: false, reason: 'no stats' };
  if (stats.readOnly) return { group, stats, ok: false, reason: 'read-only' };
  if (stats.error !== 0) return { group, stats, ok: false, reason: `stats error ${stats.error}` };
  if (stats.limit === 0 || stats.total === 0) return { group, stats, ok: false, reason: 'no space figures' };
  const ratio = freeSpaceRatio(stats, len);
  if (ratio <= hardRatio) return { group, stats, ok: false, reason: `free-space ratio ${ratio.toFixed(3)} ≤ hard ${hardRatio}` };
  return { group, stats, ok: true, reason: `free-space ratio ${ratio.toFixed(3)}` };
}

export interface Candidate {
  bucket: BucketMeta;
  groups: GroupCheck[];
}

/** Uniform choice among the buckets whose groups all pass; undefined when none does. */
export function pickBucket(candidates: readonly Candidate[], random: () => number = Math.random): BucketMeta | undefined {
  const ok = candidates.filter((c) => c.groups.length > 0 && c.groups.every((g) => g.ok));
  if (ok.length === 0) return undefined;
  return ok[Math.min(ok.length - 1, Math.floor(random() * ok.length))]!.bucket;
}
