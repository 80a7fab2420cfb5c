// Bucket selection that compares storage fairly (DESIGN §4.19), on the embedded two-node cluster
// through real HTTP, shares counted over ≥ 600 uploads: one small named upload does not push a
// bucket out of automatic selection; named uploads of very different sizes into different buckets
// do not skew the automatic ones; a healthy bucket selection stopped choosing is tried again; two
// proxies on one cluster do not herd onto one bucket.

import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import { Session } from '../../src/elliptics/index.js';
import { BackendCommand } from '../../src/elliptics/protocol/constants.js';
import { startTestCluster, type TestCluster } from '../helpers/cluster.js';
import { startProxy, type TestProxy } from '../helpers/proxy.js';

const writer = { user: 'writer', token: 'writer token' };
const ONE_GIB = 1024 ** 3;

/** `n` automatic uploads of `body`, `concurrency` at a time: bucket → count. */
async function automatic(p: TestProxy, n: number, prefix: string, body: Buffer, concurrency = 8, pauseMs = 0): Promise<Record<string, number>> {
  const counts: Record<string, number> = {};
  let next = 0;
  await Promise.all(Array.from({ length: concurrency }, async () => {
    while (next < n) {
      const i = next++;
      const r = await p.request(`/nobucket_upload/${prefix}/${i}`, { method: 'POST', body, as: writer });
      const where = r.status === 200 ? (JSON.parse(r.body.toString()) as { bucket: string }).bucket : `status ${r.status}`;
      counts[where] = (counts[where] ?? 0) + 1;
      if (pauseMs) await new Promise((res) => setTimeout(res, pauseMs));
    }
  }));
  return counts;
}

function within(counts: Record<string, number>, points: number): boolean {
  const total = Object.values(counts).reduce((a, b) => a + b, 0);
  return ['b1', 'b2', 'b3'].every((b) => Math.abs((counts[b] ?? 0) / total - 1 / 3) <= points / 100);
}

async function named(p: TestProxy, bucket: string, key: string, body: Buffer): Promise<void> {
  const r = await p.request(`/upload/${bucket}/${key}`, { method: 'POST', body, as: writer });
  assert.equal(r.status, 200, r.body.toString());
}

describe('selection compares storage by predicted time, not by the sizes it happened to see', () => {
  let tc: TestCluster;
  let p: TestProxy;

  before(async () => {
    // 16 GiB limits: the named 1 MiB uploads do not change the free-space ratios much (speed decides).
    tc = await startTestCluster({}, () => ({ 'blob-size-limit': 16 * ONE_GIB }));
    p = await startProxy(tc, { proxy: { 'free-space-ratio-soft': 0.2, 'free-space-ratio-hard': 0.1, 'selection-probe-interval': 0 } });
  });

  after(async () => {
    await p?.stop();
    await tc.close();
  });

  it('one 17-byte named upload into b1 and none elsewhere: 600 automatic 4 KiB uploads spread within 10 points of a third', async (t) => {
    await named(p, 'b1', 'tiny', Buffer.from('seventeen bytes!!'));
    await new Promise((r) => setTimeout(r, 2500)); // measured, folded, broadcast
    const c = await automatic(p, 600, 'after-tiny', Buffer.alloc(4096, 1));
    t.diagnostic(JSON.stringify(c));
    assert.ok(within(c, 10), JSON.stringify(c));
  });

  it('named 1 KiB uploads into b1 and 1 MiB ones into b2 and b3 alongside: b1 keeps at least a third less 10 points of the automatic 64 KiB uploads, none is pushed out', async (t) => {
    let running = true;
    const small = Buffer.alloc(1024, 2);
    const big = Buffer.alloc(1024 * 1024, 3);
    const side = (async () => {
      for (let i = 0; running; i++) {
        await named(p, 'b1', `thumb-${i % 50}`, small);
        if (i % 4 === 0) {
          await named(p, 'b2', `video-${i % 20}`, big);
          await named(p, 'b3', `video-${i % 20}`, big);
        }
      }
    })();
    await new Promise((r) => setTimeout(r, 3000)); // the named mix is measured first
    const c = await automatic(p, 600, 'mixed', Buffer.alloc(64 * 1024, 4), 4);
    running = false;
    await side;
    t.diagnostic(JSON.stringify(c));
    // A size-blind µs-per-byte figure makes b1 (1 KiB writes) look ~1000× dearer than b2 and b3 and
    // starves it; that is the failure this catches. b2 and b3 really are busier (the 1 MiB writes and
    // their fsyncs share their backends), so a loaded machine may fairly send b1 more than a third:
    // only an upper bound far from even is held there (seen on CI: b1 261, b2 185, b3 154 of 600).
    const share = (b: string) => (c[b] ?? 0) / 600;
    assert.ok(share('b1') >= 1 / 3 - 0.1, `b1 not skewed out: ${JSON.stringify(c)}`);
    assert.ok(['b1', 'b2', 'b3'].every((b) => share(b) >= 0.15 && share(b) <= 0.6), `none pushed out or herded onto: ${JSON.stringify(c)}`);
  });
});

describe('a healthy bucket that selection stopped choosing is tried again', () => {
  let tc: TestCluster;
  let p: TestProxy;

  before(async () => {
    tc = await startTestCluster({}, () => ({ 'blob-size-limit': ONE_GIB }));
    p = await startProxy(tc, { proxy: { 'free-space-ratio-soft': 0.2, 'free-space-ratio-hard': 0.1, 'selection-probe-interval': 2 } });
  });

  after(async () => {
    await p?.stop();
    await tc.close();
  });

  it('b1 slowed to 1.5 s per write is still measured again and again, within bounds (decay towards the fleet, probes)', async (t) => {
    const cluster = await tc.connect();
    const s = new Session(cluster, { groups: [1] });
    const route = cluster.routes.lookup(1, s.id('any'))!;
    await automatic(p, 60, 'warm', Buffer.alloc(4096, 1));
    await s.backendControl(route.node, { backendId: route.backendId, command: BackendCommand.SET_DELAY, defragLevel: 0, delay: 1500, ids: [] });
    try {
      await automatic(p, 30, 'noticing', Buffer.alloc(4096, 1), 4);
      await new Promise((r) => setTimeout(r, 2500));
      // Paced: 8 s of uploads, ~10 per second. A bucket left at its last (slow) figure would get none.
      const c = await automatic(p, 80, 'starved', Buffer.alloc(4096, 1), 2, 200);
      t.diagnostic(JSON.stringify(c));
      assert.ok((c.b1 ?? 0) >= 3, `b1 measured again: ${JSON.stringify(c)}`);
      assert.ok((c.b1 ?? 0) <= 24, `but a small share of the uploads: ${JSON.stringify(c)}`);
    } finally {
      await s.backendControl(route.node, { backendId: route.backendId, command: BackendCommand.SET_DELAY, defragLevel: 0, delay: 0, ids: [] });
      cluster.close();
    }
  });
});

describe('two proxies on one cluster do not herd onto one bucket', () => {
  let tc: TestCluster;
  let p1: TestProxy;
  let p2: TestProxy;

  before(async () => {
    tc = await startTestCluster({}, () => ({ 'blob-size-limit': ONE_GIB }));
    const proxy = (n: number) => ({ 'free-space-ratio-soft': 0.2, 'free-space-ratio-hard': 0.1, 'hints-dir': path.join(tc.root, `hints-${n}`) });
    p1 = await startProxy(tc, { proxy: proxy(1) });
    p2 = await startProxy(tc, { proxy: proxy(2) });
  });

  after(async () => {
    await p1?.stop();
    await p2?.stop();
    await tc.close();
  });

  it('600 automatic uploads from each at once: each proxy and both together spread within 10 points of a third', async (t) => {
    const body = Buffer.alloc(16 * 1024, 5);
    const [a, b] = await Promise.all([automatic(p1, 600, 'from-1', body), automatic(p2, 600, 'from-2', body)]);
    const both: Record<string, number> = {};
    for (const c of [a, b]) for (const [k, v] of Object.entries(c)) both[k] = (both[k] ?? 0) + v;
    t.diagnostic(`proxy 1 ${JSON.stringify(a)}, proxy 2 ${JSON.stringify(b)}`);
    assert.ok(within(a, 10) && within(b, 10) && within(both, 10), `proxy 1 ${JSON.stringify(a)}, proxy 2 ${JSON.stringify(b)}`);
  });
});
