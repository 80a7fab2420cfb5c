// A blob file damaged under a running node: cut short (truncate) and overwritten with zeros in the
// middle. Reads of the objects it held fail over to the other replica (never a wrong byte), the
// node stays up and names the file in its log, and the damage shows in MONITOR_STAT
// (records_corrupted) and on /stat/ — while read-repair rewrites what it can.

import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { type Cluster, Session } from '../../src/elliptics/index.js';
import { startTestCluster, type TestCluster } from '../helpers/cluster.js';
import { startProxy, type TestProxy } from '../helpers/proxy.js';

const writer = { user: 'writer', token: 'writer token' };

describe('disk errors under a replica', () => {
  let tc: TestCluster;
  let p: TestProxy;
  let cluster: Cluster;

  before(async () => {
    tc = await startTestCluster({ log: { level: 'warn' } });
    // No read-repair: the damaged replica stays damaged, so every read meets it.
    p = await startProxy(tc, { proxy: { 'read-repair-max-size': 0, 'bucket-stat-update-interval': 1 } });
    cluster = await tc.connect({ poolSize: 1 });
  });

  after(async () => {
    await p?.stop();
    await tc.close();
  });

  it('reads fail over to the other replica, the node names the file and stays up, the damage is counted', async () => {
    const bodies = Array.from({ length: 20 }, (_, i) => Buffer.alloc(100_000 + i, 0x30 + i));
    for (const [i, b] of bodies.entries()) assert.equal((await p.request(`/upload/b1/d-${i}`, { method: 'POST', body: b, as: writer })).status, 200);
    const [info] = await new Session(cluster, { namespace: 'b1', groups: [1] }).lookup('d-0');
    const file = info!.info!.path;
    const size = fs.statSync(file).size;
    // Cut the file to half, and zero a stretch of what remains.
    fs.truncateSync(file, Math.floor(size / 2));
    const fd = fs.openSync(file, 'r+');
    fs.writeSync(fd, Buffer.alloc(50_000), 0, 50_000, Math.floor(size / 4));
    fs.closeSync(fd);
    for (let round = 0; round < 3; round++) {
      for (const [i, b] of bodies.entries()) {
        const r = await p.request(`/get/b1/d-${i}`);
        assert.equal(r.status, 200, `d-${i}: ${r.body.toString().slice(0, 200)}`);
        assert.ok(r.body.equals(b), `d-${i} served whole from the healthy replica`);
      }
    }
    assert.equal(tc.nodes[0]!.proc.exitCode, null, 'the node is still running');
    // Log lines are written in batches (at least every 500 ms).
    let log = '';
    for (let n = 0; n < 20 && !log.includes(file); n++) {
      await new Promise((r) => setTimeout(r, 250));
      log = fs.readFileSync(path.join(tc.root, 'node1', 'node.log'), 'utf8');
    }
    assert.ok(log.includes(file), `the node's log names ${file}:\n${log.slice(-2000)}`);
    const stats = await new Session(cluster).monitorStats();
    const g1 = stats.flatMap((n) => n.backends).find((b) => b.group === 1)!;
    assert.ok(g1.recordsCorrupted > 0, `MONITOR_STAT records_corrupted: ${g1.recordsCorrupted}`);
    let shown = false;
    for (let n = 0; n < 20 && !shown; n++) {
      const st = JSON.parse((await p.request('/stat/')).body.toString()) as { Status: { Backends: Record<string, { Group: number; Corrupted: number | null }> } };
      shown = Object.values(st.Status.Backends).some((b) => b.Group === 1 && (b.Corrupted ?? 0) > 0);
      if (!shown) await new Promise((r) => setTimeout(r, 250));
    }
    assert.ok(shown, '/stat/ shows the damaged records of group 1');
  });
});
