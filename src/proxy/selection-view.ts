// Bucket selection as operators see it (/metrics, /stat/, /status/): each writable bucket scored for
// a typical upload as if the key fell on the worst backend of each of its groups, the share of the
// draw its weight gives it, and the share of automatic uploads it really took over the last minute.

import { eligible, freeSpaceRatio, scoreBucket, type KeyBackend } from '../buckets/selection.js';
import type { WorkerContext } from './worker-context.js';

/** The upload size the summary scores buckets for. */
export const SUMMARY_UPLOAD = 1024 * 1024;
/** The small and the large upload whose predicted storage time the summary shows. */
export const SMALL_UPLOAD = 4096;

export interface BucketSummary {
  bucket: string;
  groups: number[];
  /** Pain for a SUMMARY_UPLOAD-byte upload on the worst backend of each group. */
  pain: number;
  /** Predicted storage µs of a SMALL_UPLOAD / SUMMARY_UPLOAD upload: Σ over its groups of the worst backend's cost. */
  costSmall: number;
  costLarge: number;
  /** This bucket's part of the draw (0 … 1; 0 when rejected or dropped by the soft rule). */
  weight: number;
  rejected: string | undefined;
  /** Its share of the automatic uploads of the last minute, and how many. */
  share: number;
  chosen: number;
}

/** How bad a backend is for new data, worst first: unusable, then slowest, then fullest. */
function badness(b: KeyBackend): number {
  if (!b.routed || !b.stats || b.stats.readOnly || b.stats.error !== 0) return Infinity;
  const r = freeSpaceRatio(b.stats, SUMMARY_UPLOAD);
  return (b.fixed ?? 0) + b.pain * SUMMARY_UPLOAD + (r > 0 ? 5000 / r : Infinity);
}

export function bucketSummaries(ctx: WorkerContext): BucketSummary[] {
  const snap = ctx.snapshot;
  const worst = new Map<number, KeyBackend>();
  for (const [group, backends] of snap.routes) {
    let pick: KeyBackend | undefined;
    for (const [node, backendId] of backends) {
      const b = ctx.backendAt(group, node, backendId);
      if (!pick || badness(b) > badness(pick)) pick = b;
    }
    if (pick) worst.set(group, pick);
  }
  const buckets = ctx.writableBuckets();
  const scores = buckets.map((b) => b.maxSize > 0 && b.maxSize < SUMMARY_UPLOAD
    ? { bucket: b, pain: Infinity, weight: 0, groups: [], rejected: `max-size ${b.maxSize} B (below the 1 MiB scored)`, full: false }
    : scoreBucket(b, {
    length: SUMMARY_UPLOAD,
    softRatio: ctx.config.freeSpaceRatioSoft,
    hardRatio: ctx.config.freeSpaceRatioHard,
    backend: (_bucket, g) => worst.get(g) ?? { routed: false, stats: undefined, pain: 0 },
    group: (g) => ctx.groupFacts(g),
    }));
  const pool = eligible(scores);
  const total = pool.reduce((n, s) => n + s.weight, 0);
  const predicted = (bucket: string, size: number): number => {
    let total = 0;
    for (const g of buckets.find((b) => b.name === bucket)!.groups) {
      const b = worst.get(g);
      total += b ? (b.fixed ?? 0) + b.pain * size : Infinity;
    }
    return total;
  };
  return scores.map((s) => {
    const taken = ctx.live.shares[s.bucket.name];
    return {
      bucket: s.bucket.name,
      groups: s.bucket.groups,
      pain: s.pain,
      costSmall: predicted(s.bucket.name, SMALL_UPLOAD),
      costLarge: predicted(s.bucket.name, SUMMARY_UPLOAD),
      weight: pool.includes(s) && total > 0 ? s.weight / total : 0,
      rejected: s.rejected,
      share: taken?.share ?? 0,
      chosen: taken?.chosen ?? 0,
    };
  });
}
