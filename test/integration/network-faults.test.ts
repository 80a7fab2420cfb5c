// The network, for real: the proxy and the two storage nodes each in a network namespace of its
// own, on a bridge (helpers/netns.ts). Links get 50 ms of delay and 5 % packet loss, then one node
// is cut off (every packet dropped) and healed. Outcomes, not timings: no request returns wrong
// bytes, reads fail over to the reachable replica, uploads land in the reachable groups and name
// the other in error-groups, no worker is stuck, and once the cut heals both replicas take traffic
// again and the uploads the cut node missed reach it.

import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startTestCluster, type TestCluster } from '../helpers/cluster.js';
import { startProxy, type TestProxy } from '../helpers/proxy.js';
import { netnsUnavailable, TestNet } from '../helpers/netns.js';
import { eventually, held } from '../helpers/replicas.js';
import type { Cluster } from '../../src/elliptics/index.js';

const writer = { user: 'writer', token: 'writer token' };
const skip = netnsUnavailable() ?? false;
const BUCKETS = { b1: [1, 2], b2: [3, 4], b3: [5, 6] } as const;
type Bucket = keyof typeof BUCKETS;

/** Distinct bytes per key, so a mix-up shows. */
function bodyOf(key: string, size: number): Buffer {
  const b = Buffer.alloc(size);
  for (let i = 0; i < size; i += 64) b.write(`${key}@${i};`.padEnd(64, '.').slice(0, Math.min(64, size - i)), i, 'latin1');
  return b;
}

async function inParallel<T>(items: readonly T[], width: number, f: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  await Promise.all(Array.from({ length: width }, async () => {
    while (next < items.length) await f(items[next++]!);
  }));
}

/** `n` pings, each on a new connection (so both workers are asked): every one answers. */
async function everyWorkerAnswers(p: TestProxy, n = 16): Promise<void> {
  for (let i = 0; i < n; i++) assert.equal((await p.request('/ping/')).status, 200, 'a worker did not answer /ping/');
}

/** TCP segments `host` has sent again (a packet of its was lost, or its ACK). */
function tcpRetransmits(net: TestNet, host: 'node1' | 'node2'): number {
  const lines = net.exec(host, 'cat', '/proc/net/snmp').split('\n').filter((l) => l.startsWith('Tcp:'));
  const names = lines[0]!.split(/\s+/);
  const values = lines[1]!.split(/\s+/);
  return Number(values[names.indexOf('RetransSegs')]);
}

function placement(net: TestNet): Parameters<typeof startTestCluster>[2] {
  return { hosts: [net.address('node1'), net.address('node2')], prefix: (i) => net.prefix(i === 0 ? 'node1' : 'node2') };
}

describe('network faults between the proxy and the storage (network namespaces)', { skip, timeout: 600_000 }, () => {
  let net: TestNet;

  before(() => {
    net = new TestNet();
  });

  after(() => {
    net?.destroy();
  });

  describe('50 ms of delay and 5 % packet loss on both nodes', () => {
    let tc: TestCluster;
    let p: TestProxy;

    before(async () => {
      tc = await startTestCluster({}, () => ({}), placement(net));
      await net.delay('node1', tc.nodes[0]!.port, 50);
      await net.delay('node2', tc.nodes[1]!.port, 50);
      net.loss('node1', 5);
      net.loss('node2', 5);
      p = await startProxy(tc, { host: net.address('proxy'), prefix: net.prefix('proxy') });
    });

    after(async () => {
      net.heal('node1');
      net.heal('node2');
      await p?.stop();
      await tc?.close();
    });

    it('uploads, GETs and ranged GETs succeed with the right bytes, and no worker is stuck', async (t) => {
      const keys = Array.from({ length: 60 }, (_, i) => ({ bucket: (['b1', 'b2', 'b3'] as const)[i % 3], key: `lossy/${i}`, size: 1000 + i * 3000 }));
      const failures: string[] = [];
      await inParallel(keys, 6, async ({ bucket, key, size }) => {
        const r = await p.request(`/upload/${bucket}/${key}`, { method: 'POST', body: bodyOf(key, size), as: writer });
        if (r.status !== 200) failures.push(`upload ${key}: ${r.status} ${r.body.toString()}`);
      });
      assert.deepEqual(failures, []);
      const readFailures: string[] = [];
      let wrong = 0;
      let served = 0;
      await inParallel([...keys, ...keys], 8, async ({ bucket, key, size }) => {
        const r = await p.request(`/get/${bucket}/${key}`);
        if (r.status !== 200) return void readFailures.push(`get ${key}: ${r.status}`);
        served++;
        if (!r.body.equals(bodyOf(key, size))) wrong++;
      });
      await inParallel(keys, 8, async ({ bucket, key, size }) => {
        const from = Math.floor(size / 3);
        const r = await p.request(`/get/${bucket}/${key}`, { headers: { Range: `bytes=${from}-${from + 99}` } });
        if (r.status !== 206) return void readFailures.push(`range ${key}: ${r.status}`);
        served++;
        if (!r.body.equals(bodyOf(key, size).subarray(from, from + 100))) wrong++;
      });
      const retransmitted = tcpRetransmits(net, 'node1') + tcpRetransmits(net, 'node2');
      t.diagnostic(`${served} reads served, ${readFailures.length} failed, ${wrong} wrong; ${retransmitted} TCP segments retransmitted by the nodes; delay by ${net.netem ? 'netem' : 'a delay line (no sch_netem in this kernel)'}`);
      assert.equal(wrong, 0, 'a read returned wrong bytes');
      assert.deepEqual(readFailures, [], 'with both replicas reachable, every read succeeds');
      // The links really were spoiled: packets were lost (and sent again), and a lookup crosses the delay.
      assert.ok(retransmitted > 0, 'no packet was lost: the loss rule did not apply');
      const t0 = performance.now();
      assert.equal((await p.request('/lookup/b1/lossy/0')).status, 200);
      assert.ok(performance.now() - t0 >= 100, 'a lookup was faster than the 2 × 50 ms the link adds: the delay did not apply');
      await everyWorkerAnswers(p);
    });
  });

  describe('one node cut off, then healed', () => {
    let tc: TestCluster;
    let p: TestProxy;
    let direct: Cluster;
    const before_ = Array.from({ length: 12 }, (_, i) => ({ bucket: (['b1', 'b2', 'b3'] as const)[i % 3], key: `cut/old-${i}`, size: 5000 + i * 7000 }));
    const during = Array.from({ length: 12 }, (_, i) => ({ bucket: (['b1', 'b2', 'b3'] as const)[i % 3], key: `cut/new-${i}`, size: 3000 + i * 5000 }));

    before(async () => {
      tc = await startTestCluster({}, () => ({}), placement(net));
      p = await startProxy(tc, {
        host: net.address('proxy'),
        prefix: net.prefix('proxy'),
        proxy: { 'read-attempt-timeout': 1, 'write-attempt-timeout': 2 },
      });
      direct = await tc.connect({ poolSize: 1, timeoutMs: 3000 });
      for (const { bucket, key, size } of before_) {
        const r = await p.request(`/upload/${bucket}/${key}`, { method: 'POST', body: bodyOf(key, size), as: writer });
        assert.equal(r.status, 200);
        assert.equal(JSON.parse(r.body.toString()).reply['success-groups'].length, 2);
      }
    });

    after(async () => {
      net.heal('node2');
      direct?.close();
      await p?.stop();
      await tc?.close();
    });

    it('reads fail over to the reachable replica; uploads land in the reachable groups and name the other in error-groups', async () => {
      net.cut('node2');
      for (const { bucket, key, size } of before_) {
        const r = await p.request(`/get/${bucket}/${key}`);
        assert.equal(r.status, 200, `GET ${key} with node2 cut: ${r.status} ${r.body.toString()}`);
        assert.ok(r.body.equals(bodyOf(key, size)), `GET ${key} returned wrong bytes`);
      }
      for (const { bucket, key, size } of during) {
        const r = await p.request(`/upload/${bucket}/${key}`, { method: 'POST', body: bodyOf(key, size), as: writer });
        assert.equal(r.status, 200, `upload ${key} with node2 cut: ${r.status} ${r.body.toString()}`);
        const reply = JSON.parse(r.body.toString()).reply;
        const [g1, g2] = BUCKETS[bucket as Bucket];
        assert.deepEqual([reply['success-groups'], reply['error-groups']], [[g1], [g2]], `upload ${key}`);
      }
      // Reads of what was written during the cut come from node1.
      for (const { bucket, key, size } of during) {
        const r = await p.request(`/get/${bucket}/${key}`);
        assert.equal(r.status, 200);
        assert.ok(r.body.equals(bodyOf(key, size)));
      }
      await everyWorkerAnswers(p);
    });

    it('once healed, uploads reach both replicas again and the node gets what it missed', async () => {
      net.heal('node2');
      const bothAgain = await eventually(async () => {
        const r = await p.request('/upload/b1/cut/after', { method: 'POST', body: bodyOf('cut/after', 1000), as: writer });
        return r.status === 200 && JSON.parse(r.body.toString()).reply['success-groups'].length === 2;
      }, 120_000, 1000);
      assert.ok(bothAgain, 'uploads did not reach both replicas within 120 s of the heal');
      for (const { bucket, key, size } of during) {
        const group = BUCKETS[bucket as Bucket][1];
        const b = bucket as Bucket;
        const delivered = await eventually(async () => {
          const h = await held(direct, b, group, key).catch(() => undefined);
          return h?.kind === 'data' && h.data.equals(bodyOf(key, size));
        }, 120_000, 500);
        assert.ok(delivered, `${key} never reached group ${group} after the heal`);
      }
      await everyWorkerAnswers(p);
    });
  });
});
