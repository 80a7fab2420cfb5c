// Bucket selection maths (spec backrunner.md §12): the worked example of §12.4, every pain term of
// §12.3, the soft/hard rule, the float draw, and clamping of what odd statistics produce.

import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { BucketMeta } from '../../src/buckets/metadata.js';
import { draw, eligible, freeSpaceRatio, PAIN, scoreBucket, starved, type GroupFacts, type KeyBackend, type SelectionContext } from '../../src/buckets/selection.js';
import type { BackendStats } from '../../src/elliptics/stats.js';

const bucket = (name: string, groups: number[]): BucketMeta => ({ version: 1, name, acl: new Map(), groups, flags: 0n, maxSize: 0, maxKeyNum: 0 });

/** Statistics whose free-space ratio for `len` bytes is `ratio` (spec §12.2's first formula). */
function statsWithRatio(ratio: number, len: number, extra: Partial<BackendStats> = {}): BackendStats {
  const limit = 1e9;
  return {
    address: '10.0.0.1:1025:2', backendId: 1, group: 1, readOnly: false, delay: 0, defragState: 0, defragStartTime: 0, defragCompletionTime: 0,
    defragCompletionStatus: 0, error: 0, total: 10e9, avail: 5e9, limit, used: (1 - ratio) * limit - len, removedSize: 0,
    recordsTotal: 100, recordsRemoved: 0, recordsCorrupted: 0, commands: {}, ...extra,
  };
}

function context(length: number, backends: Record<number, KeyBackend>, groups: Record<number, GroupFacts> = {}, ratios = { soft: 0.2, hard: 0.1 }): SelectionContext {
  return {
    length,
    softRatio: ratios.soft,
    hardRatio: ratios.hard,
    backend: (_b, g) => backends[g] ?? { routed: false, stats: undefined, pain: 0 },
    group: (g) => groups[g] ?? { hasStats: backends[g] !== undefined, liveRecords: 100 },
  };
}

describe('§12.4 worked example', () => {
  const L = 102400;
  const ctx = context(L, {
    1: { routed: true, stats: statsWithRatio(0.8, L), pain: 0.05 },
    2: { routed: true, stats: statsWithRatio(0.5, L), pain: 0.05 },
    3: { routed: true, stats: statsWithRatio(0.9, L), pain: 1.0 },
  }, {}, { soft: 0, hard: 0 });
  const scores = [bucket('b1', [1]), bucket('b2', [2]), bucket('b3', [3])].map((b) => scoreBucket(b, ctx));

  it('pains 11370, 15120, 107955.6 and weights 1/pain', () => {
    assert.deepEqual(scores.map((s) => Math.round(s.pain * 10) / 10), [11370, 15120, 107955.6]);
    const w = scores.map((s) => s.weight);
    assert.ok(Math.abs(w[0]! - 8.795e-5) < 1e-8 && Math.abs(w[1]! - 6.614e-5) < 1e-8 && Math.abs(w[2]! - 9.26e-6) < 1e-8, String(w));
  });

  it('the draw keeps the order of the weights, with exact float shares', () => {
    const total = scores.reduce((n, s) => n + s.weight, 0);
    const pick = (r: number) => draw(scores, () => r)!.bucket.name;
    assert.equal(pick(0), 'b1');
    assert.equal(pick(scores[0]!.weight / total - 1e-9), 'b1');
    assert.equal(pick(scores[0]!.weight / total + 1e-9), 'b2');
    assert.equal(pick((scores[0]!.weight + scores[1]!.weight) / total + 1e-9), 'b3');
    assert.equal(pick(0.999999), 'b3', 'the lightest bucket keeps a small share (the original\'s integer weights gave it none)');
    const counts: Record<string, number> = { b1: 0, b2: 0, b3: 0 };
    for (let i = 0; i < 100_000; i++) counts[draw(scores, () => (i + 0.5) / 100_000)!.bucket.name]!++;
    assert.ok(Math.abs(counts.b1! / 1e5 - scores[0]!.weight / total) < 1e-3);
    assert.ok(Math.abs(counts.b3! / 1e5 - scores[2]!.weight / total) < 1e-3);
  });
});

describe('§12.3 pain terms', () => {
  const L = 4096;
  const healthy = (): KeyBackend => ({ routed: true, stats: statsWithRatio(0.9, L), pain: 0 });

  it('a healthy two-group bucket: free-space pain of both groups', () => {
    const s = scoreBucket(bucket('b', [1, 2]), context(L, { 1: healthy(), 2: healthy() }));
    assert.ok(Math.abs(s.pain - 2 * 5000 / 0.9) < 1e-6);
    assert.equal(s.rejected, undefined);
  });

  it('read-only, a statistics error, no statistics, no route, no space figures: 2.5e13 each, out whenever a healthy bucket exists', () => {
    const cases: [string, KeyBackend][] = [
      ['read-only', { routed: true, stats: statsWithRatio(0.9, L, { readOnly: true }), pain: 0 }],
      ['statistics error -5', { routed: true, stats: statsWithRatio(0.9, L, { error: -5 }), pain: 0 }],
      ['no statistics', { routed: true, stats: undefined, pain: 0 }],
      ['no route', { routed: false, stats: undefined, pain: 0 }],
      ['no space figures', { routed: true, stats: statsWithRatio(0.9, L, { limit: 0 }), pain: 0 }],
    ];
    const facts = { 1: { hasStats: true, liveRecords: 1 }, 2: { hasStats: true, liveRecords: 1 } };
    const good = scoreBucket(bucket('good', [1]), context(L, { 1: healthy() }, facts));
    for (const [why, b] of cases) {
      const s = scoreBucket(bucket('b', [1, 2]), context(L, { 1: healthy(), 2: b }, facts));
      assert.ok(s.pain >= 2.5e13 && s.pain < PAIN.HARD, why);
      assert.deepEqual(s.groups.find((g) => g.group === 2), { group: 2, ok: false, reason: why, ratio: undefined });
      assert.deepEqual(eligible([s, good]).map((x) => x.bucket.name), ['good'], `${why}: dropped by the soft rule`);
      const both = scoreBucket(bucket('b', [1, 2]), context(L, { 1: b, 2: b }, facts));
      assert.match(both.rejected!, new RegExp(`group 1: ${why}; group 2: ${why}`), 'two bad groups: rejected');
      assert.equal(both.full, false, `${why} is not "full"`);
    }
  });

  it('a group without any statistics costs PAIN_NO_GROUP; no group at all rejects', () => {
    const s = scoreBucket(bucket('b', [1, 7]), context(L, { 1: healthy() }));
    assert.ok(s.pain >= PAIN.NO_GROUP && s.pain < PAIN.HARD);
    assert.deepEqual(s.groups.find((g) => g.group === 7)?.reason, 'no statistics for the group');
    const none = scoreBucket(bucket('b', [8, 9]), context(L, {}));
    assert.equal(none.pain, Infinity);
    assert.match(none.rejected!, /no group has statistics/);
  });

  it('hard and soft free-space ratios; the soft rule drops soft buckets when a healthy one exists', () => {
    const hard = scoreBucket(bucket('hard', [1]), context(L, { 1: { routed: true, stats: statsWithRatio(0.05, L), pain: 0 } }));
    assert.ok(hard.rejected && hard.full, 'below the hard ratio: rejected, as full');
    const soft = scoreBucket(bucket('soft', [1]), context(L, { 1: { routed: true, stats: statsWithRatio(0.15, L), pain: 0 } }));
    assert.equal(soft.rejected, undefined);
    assert.ok(soft.pain > PAIN.SOFT && soft.pain < PAIN.HARD);
    const ok = scoreBucket(bucket('ok', [1]), context(L, { 1: healthy() }));
    assert.deepEqual(eligible([hard, soft, ok]).map((s) => s.bucket.name), ['ok']);
    assert.deepEqual(eligible([hard, soft]).map((s) => s.bucket.name), ['soft'], 'with no healthy bucket, soft ones still take uploads');
  });

  it('PID pain × length, and replica record imbalance × 1000', () => {
    const slow = scoreBucket(bucket('b', [1]), context(L, { 1: { routed: true, stats: statsWithRatio(0.9, L), pain: 24.4 } }));
    assert.ok(Math.abs(slow.pain - (5000 / 0.9 + 24.4 * L)) < 1e-6);
    const unbalanced = scoreBucket(bucket('b', [1, 2]), context(L, { 1: healthy(), 2: healthy() }, { 1: { hasStats: true, liveRecords: 120 }, 2: { hasStats: true, liveRecords: 100 } }));
    assert.ok(Math.abs(unbalanced.pain - (2 * 5000 / 0.9 + 20 * 1000)) < 1e-6);
  });

  it('odd statistics are clamped: used above the limit is full, never a negative pain', () => {
    const over = scoreBucket(bucket('b', [1]), context(L, { 1: { routed: true, stats: statsWithRatio(-0.5, L), pain: 0 } }));
    assert.ok(over.rejected && over.full && over.pain === Infinity);
    const nan = scoreBucket(bucket('b', [1]), context(L, { 1: { routed: true, stats: statsWithRatio(0.9, L, { used: NaN }), pain: 0 } }));
    assert.ok(nan.rejected !== undefined);
    assert.equal(draw([]), undefined);
  });

  it('§12.2: the filesystem bound wins when it is tighter than the blob limit', () => {
    assert.equal(freeSpaceRatio({ used: 0, avail: 500, limit: 1000 }, 100), 0.4);
    assert.equal(freeSpaceRatio({ used: 0, avail: 50, limit: 1000 }, 100), 0);
    assert.equal(freeSpaceRatio({ used: 200, avail: 5000, limit: 1000 }, 100), 0.7);
  });
});

describe('no starvation: the healthy bucket left longest without an automatic upload', () => {
  const L = 4096;
  const ok = (): KeyBackend => ({ routed: true, stats: statsWithRatio(0.9, L), pain: 0 });
  const ctx = context(L, { 1: ok(), 2: ok(), 3: { ...ok(), pain: 1e6 }, 4: { routed: true, stats: statsWithRatio(0.9, L, { readOnly: true }), pain: 0 }, 5: { routed: true, stats: statsWithRatio(0.05, L), pain: 0 } });
  const scores = [bucket('a', [1]), bucket('b', [2]), bucket('slow', [3]), bucket('ro', [4]), bucket('full', [5])].map((b) => scoreBucket(b, ctx));
  const now = 1_000_000;

  it('picks the one unchosen for longest past the interval, however costly; none when all are recent', () => {
    const last: Record<string, number> = { a: now - 1000, b: now - 1000, slow: now - 120_000, ro: 0, full: 0 };
    assert.equal(starved(scores, (n) => last[n]!, 60_000, now)?.bucket.name, 'slow', 'a costly but healthy bucket is probed');
    last.slow = now - 1000;
    assert.equal(starved(scores, (n) => last[n]!, 60_000, now), undefined, 'read-only and full buckets are never probed');
    last.a = now - 61_000;
    last.b = now - 90_000;
    assert.equal(starved(scores, (n) => last[n]!, 60_000, now)?.bucket.name, 'b');
    assert.equal(starved([scores[0]!], () => 0, 60_000, now), undefined, 'a single candidate is simply chosen');
  });
});
