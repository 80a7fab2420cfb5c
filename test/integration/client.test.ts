// The native client (connection → pool → cluster → session) against a real two-node embedded
// cluster: every operation, a 1 GiB streamed write and read within the in-flight bound, a node
// stopped and restarted, a reply that never comes.

import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { type Cluster, EllipticsError, ObjectReader, ObjectWriter, Session } from '../../src/elliptics/index.js';
import { BackendCommand, Errno, VERSION_3_0 } from '../../src/elliptics/protocol/index.js';
import { startTestCluster, type TestCluster } from '../helpers/cluster.js';

const status = (e: unknown): number | undefined => (e as { status?: number }).status;

/** Deterministic bytes of an object at any offset, without holding the object in memory. */
function pattern(offset: number, length: number): Buffer {
  const out = Buffer.allocUnsafe(length);
  for (let i = 0; i < length; i++) out[i] = ((offset + i) * 2654435761) >>> 24;
  return out;
}

async function waitFor(cond: () => Promise<boolean> | boolean, timeoutMs = 15_000): Promise<void> {
  const until = Date.now() + timeoutMs;
  while (!(await cond())) {
    if (Date.now() > until) throw new Error('condition not met in time');
    await new Promise((r) => setTimeout(r, 100));
  }
}

describe('elliptics client', () => {
  let tc: TestCluster;
  let cluster: Cluster;

  before(async () => {
    tc = await startTestCluster();
    cluster = await tc.connect();
  });

  after(async () => {
    await tc.close();
  });

  it('discovers the second node through ROUTE_LIST and routes all six groups', async () => {
    assert.deepEqual(cluster.routes.groupIds(), [1, 2, 3, 4, 5, 6]);
    assert.equal(cluster.nodes().filter((p) => p.alive).length, 2);
    const routes = await new Session(cluster).routeList();
    assert.equal(routes.length, 2);
    assert.equal(cluster.nodes()[0]!.connections, 2, 'pool-size connections per node');
  });

  it('write, read, lookup and remove report one result per group with node, backend and file info', async () => {
    const s = new Session(cluster, { namespace: 'b1', groups: [1, 2] });
    const body = Buffer.from('golden object via backrunner');
    const written = await s.write('golden/obj.txt', body);
    assert.deepEqual(written.map((r) => [r.group, r.status, r.info?.size]), [[1, 0, 28], [2, 0, 28]]);
    assert.notEqual(written[0]!.address, written[1]!.address, 'each group lives on its own node');
    assert.match(written[0]!.info!.path, /\/data-0\.\d+$/);
    const read = await s.read('golden/obj.txt');
    assert.deepEqual(read.data, body);
    assert.equal(read.group, 1);
    const looked = await s.lookup('golden/obj.txt');
    assert.deepEqual(looked.map((r) => [r.group, r.status, r.backendId, r.info?.size]), [[1, 0, 1, 28], [2, 0, 1, 28]]);
    assert.equal(looked[0]!.info!.offset, written[0]!.info!.offset);
    const removed = await s.remove('golden/obj.txt');
    assert.deepEqual(removed.map((r) => r.status), [0, 0]);
    const again = await s.remove('golden/obj.txt');
    assert.deepEqual(again.map((r) => r.status), [Errno.ENOENT, Errno.ENOENT]);
    await assert.rejects(s.read('golden/obj.txt'), (e) => status(e) === Errno.ENOENT);
  });

  it('reads fall through the groups in order; a group missing the key does not fail the read', async () => {
    const s = new Session(cluster, { namespace: 'b2', groups: [3, 4] });
    await s.with({ groups: [4] }).write('only-in-4', Buffer.from('four'));
    const r = await s.read('only-in-4');
    assert.equal(r.group, 4);
    assert.equal(r.data.toString(), 'four');
    const partial = await s.read('only-in-4', { offset: 1, size: 2 });
    assert.equal(partial.data.toString(), 'ou');
  });

  it('namespaces keep buckets apart', async () => {
    await new Session(cluster, { namespace: 'b1', groups: [1] }).write('same', Buffer.from('one'));
    await new Session(cluster, { namespace: 'b3', groups: [1] }).write('same', Buffer.from('three'));
    assert.equal((await new Session(cluster, { namespace: 'b1', groups: [1] }).read('same')).data.toString(), 'one');
    assert.equal((await new Session(cluster, { namespace: 'b3', groups: [1] }).read('same')).data.toString(), 'three');
  });

  it('bulk remove deletes many keys in every group and reports the missing ones', async () => {
    const s = new Session(cluster, { namespace: 'b3', groups: [5, 6] });
    for (const k of ['bd-1', 'bd-2']) await s.write(k, Buffer.from(`bulk delete body ${k}`));
    const out = await s.bulkRemove(['bd-1', 'bd-2', 'bd-missing']);
    assert.deepEqual(out.map((o) => [o.key, o.results.map((r) => r.status)]), [
      ['bd-1', [0, 0]],
      ['bd-2', [0, 0]],
      ['bd-missing', [Errno.ENOENT, Errno.ENOENT]],
    ]);
  });

  it('a small streamed write is one WRITE; a large one prepares, writes and commits in every group', async () => {
    const s = new Session(cluster, { namespace: 'b2', groups: [3, 4] });
    const small = new ObjectWriter(s, s.id('small'), 10);
    await small.write(Buffer.from('0123'));
    await small.write(Buffer.from('456789'));
    assert.deepEqual((await small.end()).map((r) => [r.status, r.info?.size]), [[0, 10], [0, 10]]);
    const size = 5 * 1024 * 1024 + 123;
    const w = new ObjectWriter(s, s.id('chunky'), size, { chunkSize: 1024 * 1024, maxInFlight: 2 * 1024 * 1024 });
    for (let at = 0; at < size; at += 300_000) await w.write(pattern(at, Math.min(300_000, size - at)));
    const res = await w.end();
    assert.deepEqual(res.map((r) => [r.group, r.status, r.info?.size, r.info?.recordFlags]), [[3, 0, size, 0x140], [4, 0, size, 0x140]]);
    assert.ok(w.peakInFlight <= 2 * 1024 * 1024);
    assert.deepEqual((await s.read('chunky', { offset: 4_000_000, size: 1000 })).data, pattern(4_000_000, 1000));
    assert.deepEqual((await s.with({ groups: [4] }).read('chunky', { offset: size - 50 })).data, pattern(size - 50, 50));
  });

  it('a streamed write refuses a body longer or shorter than announced, and stores nothing', async () => {
    const s = new Session(cluster, { namespace: 'b2', groups: [3, 4] });
    const long = new ObjectWriter(s, s.id('long'), 4);
    await assert.rejects(long.write(Buffer.from('12345')), (e) => status(e) === Errno.EINVAL);
    const short = new ObjectWriter(s, s.id('short'), 3 * 1024 * 1024, { chunkSize: 1024 * 1024 });
    await short.write(pattern(0, 1024 * 1024 + 5));
    await assert.rejects(short.end(), (e) => status(e) === Errno.EINVAL && /ended after/.test((e as Error).message));
    await assert.rejects(s.read('short'), (e) => status(e) === Errno.ENOENT);
    await assert.rejects(s.read('long'), (e) => status(e) === Errno.ENOENT);
  });

  it('a 1 GiB object streams in and out with bytes in flight never above the bound', async () => {
    const s = new Session(cluster, { namespace: 'b1', groups: [1, 2], timeoutMs: 60_000 });
    const size = 1024 * 1024 * 1024;
    const bound = 8 * 1024 * 1024;
    const w = new ObjectWriter(s, s.id('big'), size, { maxInFlight: bound });
    const sent = createHash('sha256');
    const piece = 256 * 1024;
    for (let at = 0; at < size; at += piece) {
      const chunk = pattern(at % (16 * piece), piece); // 4 MiB period keeps the generator cheap
      sent.update(chunk);
      await w.write(chunk);
      assert.ok(w.inFlight <= bound, `in flight ${w.inFlight} > ${bound}`);
    }
    const res = await w.end();
    assert.deepEqual(res.map((r) => [r.status, r.info?.size]), [[0, size], [0, size]]);
    assert.ok(w.peakInFlight <= bound, `peak in flight ${w.peakInFlight}`);
    assert.ok(w.peakInFlight >= bound / 2, 'the pipeline was actually used');

    const reader = await ObjectReader.open(s, s.id('big'));
    assert.equal(reader.totalSize, size);
    const got = createHash('sha256');
    let n = 0;
    for await (const part of reader) {
      got.update(part);
      n += part.length;
    }
    assert.equal(n, size);
    assert.equal(got.digest('hex'), sent.digest('hex'));
  });

  it('the streaming reader reads a range, chunk by chunk, and fails over to the other group', async () => {
    const s = new Session(cluster, { namespace: 'b3', groups: [5, 6] });
    const size = 3 * 1024 * 1024;
    await s.write('ranged', pattern(0, size));
    const r = await ObjectReader.open(s, s.id('ranged'), { offset: 1_000_000, size: 1_500_000, chunkSize: 256 * 1024 });
    assert.deepEqual([r.totalSize, r.length, r.group], [size, 1_500_000, 5]);
    const parts: Buffer[] = [];
    for await (const p of r) parts.push(p);
    assert.deepEqual(Buffer.concat(parts), pattern(1_000_000, 1_500_000));
    // Missing in the first group: the reader opens on the second.
    await s.with({ groups: [6] }).write('in-6', Buffer.from('six'));
    const r6 = await ObjectReader.open(s, s.id('in-6'));
    assert.equal(r6.group, 6);
    await assert.rejects(ObjectReader.open(s, s.id('ranged'), { offset: 10 * size }), (e) => status(e) === Errno.E2BIG);
  });

  it('monitor stats come back typed per backend: space, records, limits, mode, commands', async () => {
    const stats = await new Session(cluster).monitorStats();
    assert.equal(stats.length, 2);
    const backends = stats.flatMap((n) => n.backends);
    assert.deepEqual(backends.map((b) => b.group).sort(), [1, 2, 3, 4, 5, 6]);
    const g1 = backends.find((b) => b.group === 1)!;
    assert.ok(g1.total > 0 && g1.avail > 0 && g1.avail <= g1.total);
    assert.equal(g1.limit, g1.total, 'no blob-size-limit: the filesystem is the limit');
    assert.ok(g1.used >= 1024 * 1024 * 1024, 'the 1 GiB object counts');
    assert.ok(g1.recordsTotal > 0);
    assert.equal(g1.readOnly, false);
    assert.equal(g1.error, 0);
    assert.ok(g1.commands.WRITE!.requestsSuccess > 0);
    assert.ok(stats.every((n) => n.monitorEnabled && n.timestamp > 0));
  });

  it('backend control: read-only shows in stats and fails writes in that group only', async () => {
    const s = new Session(cluster, { namespace: 'b2', groups: [3, 4] });
    const node1 = cluster.routes.lookup(3, s.id('x'))!.node;
    await s.backendControl(node1, { backendId: 2, command: BackendCommand.READ_ONLY, defragLevel: 0, delay: 0, ids: [] });
    const res = await s.write('ro-test', Buffer.from('x'));
    assert.deepEqual(res.map((r) => [r.group, r.status]), [[3, Errno.EROFS], [4, 0]]);
    const st = (await s.monitorStats()).flatMap((n) => n.backends).find((b) => b.group === 3)!;
    assert.equal(st.readOnly, true);
    await assert.rejects(s.backendControl(node1, { backendId: 2, command: BackendCommand.READ_ONLY, defragLevel: 0, delay: 0, ids: [] }), (e) => status(e) === Errno.EALREADY);
    const back = await s.backendControl(node1, { backendId: 2, command: BackendCommand.WRITEABLE, defragLevel: 0, delay: 0, ids: [] });
    assert.equal(back[0]!.readOnly, false);
    assert.deepEqual((await s.backendStatus(node1)).map((b) => [b.backendId, b.state]), [[1, 1], [2, 1], [3, 1]]);
  });

  it('UPDATE_IDS: a disabled backend drops out of the routes, an enabled one comes back', async () => {
    const s = new Session(cluster, { namespace: 'b3', groups: [5, 6] });
    const node1 = cluster.routes.lookup(5, s.id('x'))!.node;
    await s.backendControl(node1, { backendId: 3, command: BackendCommand.DISABLE, defragLevel: 0, delay: 0, ids: [] });
    await waitFor(() => !cluster.routes.groupIds().includes(5));
    const res = await s.lookup('ranged');
    assert.deepEqual(res.map((r) => [r.group, r.status]), [[5, Errno.ENXIO], [6, 0]]);
    await s.backendControl(node1, { backendId: 3, command: BackendCommand.ENABLE, defragLevel: 0, delay: 0, ids: [] });
    await waitFor(() => cluster.routes.groupIds().includes(5));
    assert.equal((await s.read('ranged', { size: 10 })).group, 5);
  });

  it('a reply that never comes times out with -ETIMEDOUT; the connection stays usable', async () => {
    const s = new Session(cluster, { namespace: 'b2', groups: [3], timeoutMs: 400 });
    const node1 = cluster.routes.lookup(3, s.id('x'))!.node;
    await s.write('slow', Buffer.from('eventually'));
    await s.backendControl(node1, { backendId: 2, command: BackendCommand.SET_DELAY, defragLevel: 0, delay: 1500, ids: [] });
    try {
      await assert.rejects(s.read('slow'), (e) => e instanceof EllipticsError && e.status === Errno.ETIMEDOUT);
      const connections = cluster.node(node1)!.connections;
      await s.backendControl(node1, { backendId: 2, command: BackendCommand.SET_DELAY, defragLevel: 0, delay: 0, ids: [] });
      assert.equal((await s.read('slow')).data.toString(), 'eventually');
      assert.equal(cluster.node(node1)!.connections, connections, 'no connection was dropped');
    } finally {
      await s.backendControl(node1, { backendId: 2, command: BackendCommand.SET_DELAY, defragLevel: 0, delay: 0, ids: [] });
    }
  });

  it('a stopped node fails its groups at once with -ENXIO; the client reconnects when it is back', async () => {
    const s = new Session(cluster, { namespace: 'b1', groups: [1, 2], timeoutMs: 20_000 });
    await tc.stop(1, 'SIGKILL');
    await waitFor(() => !cluster.nodes()[1]!.alive);
    const res = await s.write('while-down', Buffer.from('half'));
    assert.deepEqual(res.map((r) => [r.group, r.status]), [[1, 0], [2, Errno.ENXIO]]);
    assert.equal((await s.read('while-down')).data.toString(), 'half');
    await tc.restart(1);
    await waitFor(async () => (await s.write('after-restart', Buffer.from('both'))).every((r) => r.status === 0));
    assert.equal((await s.with({ groups: [2] }).read('after-restart')).data.toString(), 'both');
  });

  it('speaks protocol 3.0 when configured so', async () => {
    const c3 = await tc.connect({ protocolVersion: VERSION_3_0, poolSize: 1 });
    const r = await new Session(c3, { namespace: 'b1', groups: [1, 2] }).write('v3', Buffer.from('three'));
    assert.deepEqual(r.map((x) => x.status), [0, 0]);
  });
});
