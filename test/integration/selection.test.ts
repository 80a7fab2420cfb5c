// /nobucket_upload/ on the embedded two-node, six-group cluster through real HTTP: where ≥ 600
// automatic uploads go when a backend is slow (BACKEND_CONTROL delay), failing (disabled, read-only)
// and then repaired, full (below the hard or soft free-space ratio), and when the caller may write
// to one bucket only. Shares are counted over uploads, never timed.

import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { type Cluster, Session } from '../../src/elliptics/index.js';
import { BackendCommand } from '../../src/elliptics/protocol/constants.js';
import { startTestCluster, type TestCluster } from '../helpers/cluster.js';
import { KeepAliveClient } from '../helpers/keep-alive.js';
import { authorization, startProxy, type TestProxy } from '../helpers/proxy.js';

const writer = { user: 'writer', token: 'writer token' };
const BODY = Buffer.alloc(4096, 7);

/** `n` automatic uploads, `concurrency` at a time; where each landed (bucket → count; status → count for failures). */
async function uploads(p: TestProxy, n: number, prefix: string, opts: { concurrency?: number; as?: { user: string; token: string } } = {}): Promise<Record<string, number>> {
  const counts: Record<string, number> = {};
  let next = 0;
  const lane = async (): Promise<void> => {
    while (next < n) {
      const i = next++;
      const r = await p.request(`/nobucket_upload/${prefix}/${i}`, { method: 'POST', body: BODY, as: opts.as ?? writer });
      const where = r.status === 200 ? (JSON.parse(r.body.toString()) as { bucket: string }).bucket : `status ${r.status}`;
      counts[where] = (counts[where] ?? 0) + 1;
    }
  };
  await Promise.all(Array.from({ length: opts.concurrency ?? 16 }, lane));
  return counts;
}

/** Sends BACKEND_CONTROL to the node serving `group` (node1: groups 1, 3, 5 as backends 1, 2, 3). */
async function control(cluster: Cluster, group: number, command: number, delay = 0): Promise<void> {
  const s = new Session(cluster, { groups: [group] });
  const node = cluster.routes.lookup(group, s.id('any'));
  const address = node?.node ?? cluster.nodes().find((p) => p.alive)!.address!;
  const backendId = node?.backendId ?? [1, 3, 5].indexOf(group) + 1;
  await s.backendControl(address, { backendId, command, defragLevel: 0, delay, ids: [] });
}

const share = (c: Record<string, number>, bucket: string): number => (c[bucket] ?? 0) / Object.values(c).reduce((a, b) => a + b, 0);

describe('automatic uploads avoid a slow backend', () => {
  let tc: TestCluster;
  let p: TestProxy;
  let cluster: Cluster;

  before(async () => {
    // Limits of 1 GiB: every backend has ~the same, high free-space ratio, so speed decides.
    tc = await startTestCluster({}, () => ({ 'blob-size-limit': 1024 ** 3 }));
    cluster = await tc.connect();
    p = await startProxy(tc, { proxy: { 'free-space-ratio-soft': 0.2, 'free-space-ratio-hard': 0.1 } });
  });

  after(async () => {
    await p?.stop();
    await tc.close();
  });

  it('a backend delayed by 100 ms gets < 15 % (a third is fair) once statistics caught up; the others share the rest', async (t) => {
    const healthy = await uploads(p, 300, 'before');
    assert.ok(share(healthy, 'b1') > 0.15, `healthy b1 takes its part: ${JSON.stringify(healthy)}`);
    await control(cluster, 1, BackendCommand.SET_DELAY, 100);
    await uploads(p, 300, 'catch-up'); // the slow writes are measured and folded
    await new Promise((r) => setTimeout(r, 2500));
    const slowed = await uploads(p, 1000, 'slowed', { concurrency: 4 });
    const sel = (JSON.parse((await p.request('/stat/')).body.toString()) as { Status: { Backends: Record<string, { Group: number; Pain: number; Cost: { FixedMicros: number; MicrosPerByte: number; Writes: number } }> } }).Status.Backends;
    t.diagnostic(`before: ${JSON.stringify(healthy)}; with group 1 delayed: ${JSON.stringify(slowed)}; costs (ms + µs/B, writes): ${Object.values(sel).map((b) => `${b.Group}: ${(b.Cost.FixedMicros / 1000).toPrecision(3)} + ${b.Cost.MicrosPerByte.toPrecision(2)} (${Math.round(b.Cost.Writes)})`).join(', ')}; g1 history: ${JSON.stringify(Object.values(sel).find((b) => b.Group === 1))}`);
    assert.equal(Object.values(slowed).reduce((a, b) => a + b, 0), 1000);
    // Not starved for good (DESIGN §4.19): an unmeasured backend's cost drifts back towards the fleet's,
    // so it is tried again at a rate set by wall time, and on a loaded machine, where these 1000
    // uploads take longer, it gets more of them (8.1–10.1 % seen); a third is its fair share.
    assert.ok(share(slowed, 'b1') < 0.15, `b1 (group 1 delayed): ${JSON.stringify(slowed)}`);
    assert.ok(share(slowed, 'b2') > 0.3 && share(slowed, 'b3') > 0.3, `b2 and b3 share the rest: ${JSON.stringify(slowed)}`);
    const metrics = (await p.request('/metrics')).body.toString();
    const pain = (group: number) => Number(new RegExp(`^backrunner_backend_pain\\{address="[^"]+",backend="\\d",group="${group}"\\} (\\S+)$`, 'm').exec(metrics)?.[1]);
    assert.ok(pain(1) > 10 * pain(2), `the delayed backend's pain (${pain(1)}) dwarfs a healthy one's (${pain(2)})`);
    await control(cluster, 1, BackendCommand.SET_DELAY, 0);
  });
});

describe('automatic uploads avoid failing backends and come back after the repair', () => {
  let tc: TestCluster;
  let p: TestProxy;
  let cluster: Cluster;

  before(async () => {
    tc = await startTestCluster({}, () => ({ 'blob-size-limit': 1024 ** 3 }));
    cluster = await tc.connect();
    p = await startProxy(tc, { proxy: { 'free-space-ratio-soft': 0.2, 'free-space-ratio-hard': 0.1 } });
  });

  after(async () => {
    await p?.stop();
    await tc.close();
  });

  it('disabled (b2) and read-only (b3): none of 600 uploads while they fail; both used again within 60 s of the repair', async (t) => {
    await uploads(p, 100, 'warm');
    await control(cluster, 3, BackendCommand.DISABLE);
    await control(cluster, 5, BackendCommand.READ_ONLY);
    await uploads(p, 60, 'noticing'); // writes that meet the failure, and the next statistics poll
    await new Promise((r) => setTimeout(r, 1500));
    const failing = await uploads(p, 600, 'failing');
    assert.deepEqual(failing, { b1: 600 }, 'only b1 takes uploads');
    await control(cluster, 3, BackendCommand.ENABLE);
    await control(cluster, 5, BackendCommand.WRITEABLE);
    const repaired = Date.now();
    const seen: Record<string, number> = {};
    let back: number | undefined;
    while (Date.now() - repaired < 75_000) {
      const c = await uploads(p, 40, `repaired-${Date.now()}`, { concurrency: 4 });
      for (const [k, v] of Object.entries(c)) seen[k] = (seen[k] ?? 0) + v;
      if (seen.b2 && seen.b3) {
        back = Date.now() - repaired;
        break;
      }
      await new Promise((r) => setTimeout(r, 500));
    }
    t.diagnostic(`back after ${back} ms: ${JSON.stringify(seen)}`);
    assert.ok(back !== undefined && back <= 60_000, `b2 and b3 take uploads again ${back} ms after the repair: ${JSON.stringify(seen)}`);
  });
});

describe('free space, and who may write where', () => {
  let tc: TestCluster;
  let p: TestProxy;

  before(async () => {
    // b2 (groups 3, 4) and b3 (groups 5, 6) live on backends limited to 4 MiB, b1 and solo on 64 MiB.
    tc = await startTestCluster({}, (g) => ({ 'blob-size-limit': (g >= 3 ? 4 : 64) * 1024 * 1024 }));
    p = await startProxy(tc, {
      proxy: { 'free-space-ratio-soft': 0.3, 'free-space-ratio-hard': 0.1 },
      extraBuckets: async (store) => {
        await store.writeBucket({ version: 1, name: 'solo', acl: new Map([['solo', { version: 2, user: 'solo', token: 'solo token', flags: 2n }]]), groups: [1, 2], flags: 0n, maxSize: 0, maxKeyNum: 0 });
        return ['solo'];
      },
    });
  });

  after(async () => {
    await p?.stop();
    await tc.close();
  });

  it('below the hard ratio: none; below the soft ratio: clearly fewer than the healthy bucket', async (t) => {
    // b3 to ~7 % free, b2 to ~27 % free (limits of 4 MiB per backend).
    assert.equal((await p.request('/upload/b3/filler', { method: 'POST', body: Buffer.alloc(3_800_000, 1), as: writer })).status, 200);
    assert.equal((await p.request('/upload/b2/filler', { method: 'POST', body: Buffer.alloc(2_950_000, 1), as: writer })).status, 200);
    await new Promise((r) => setTimeout(r, 2500)); // the next statistics poll
    const c = await uploads(p, 600, 'space');
    t.diagnostic(JSON.stringify(c));
    assert.equal(c.b3 ?? 0, 0, `b3 is below the hard ratio: ${JSON.stringify(c)}`);
    assert.ok((c.b2 ?? 0) < (c.b1 ?? 0) / 4, `b2 is below the soft ratio: ${JSON.stringify(c)}`);
    assert.ok((c.b1 ?? 0) >= 500, JSON.stringify(c));
    const stat = JSON.parse((await p.request('/stat/')).body.toString());
    const b3 = stat.Status.Selection.find((s: { Bucket: string }) => s.Bucket === 'b3');
    assert.match(b3.Rejected, /free-space ratio 0\.0\d+ ≤ hard 0\.1/);
  });

  it('a user who may write to one bucket only always lands there; one who may write nowhere gets 403', async () => {
    const c = await uploads(p, 600, 'solo', { as: { user: 'solo', token: 'solo token' } });
    assert.deepEqual(c, { solo: 600 });
    const nobody = await p.request('/nobucket_upload/nobody/x', { method: 'POST', body: 'x', as: { user: 'stranger', token: 'whatever' } });
    assert.equal(nobody.status, 403);
    assert.doesNotMatch(nobody.body.toString(), /solo|writer|acl/i, 'no ACL details');
  });

  it('when every bucket the caller may use is full for this upload: 503 that says so', async () => {
    // 60 MB leaves b1 (64 MiB limits) below the hard ratio too. The proxy answers from the
    // announced length, before any body byte: only the head is sent.
    const target = '/nobucket_upload/too/big';
    const c = await KeepAliveClient.connect(p.port);
    try {
      const r = await c.request({ method: 'POST', target, headers: { 'Content-Length': '60000000', Authorization: authorization('POST', target, writer.user, writer.token) } });
      assert.equal(r.status, 503);
      assert.match(r.body.toString(), /there are no buckets with free space available/);
    } finally {
      c.close();
    }
    const small = await p.request('/nobucket_upload/still/fits', { method: 'POST', body: 'x', as: writer });
    assert.equal(small.status, 200, 'a small one still goes to b1');
  });
});
