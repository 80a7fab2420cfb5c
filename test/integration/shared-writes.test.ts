// A write to several groups of our node on this host travels once (FlagsHigh.ALSO_GROUPS): the node
// stores the same bytes in each group's backend and answers for each group on its own. Against a
// real node in this process, over TCP: the session path the proxy's uploads take, the results per
// group (a read-only backend fails its group only), and malformed requests refused whole; then the
// proxy of `npm start` over HTTP, its uploads each one WRITE to the embedded node.

import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { type Cluster, Session } from '../../src/elliptics/index.js';
import {
  BackendCommand, Command, Errno, FlagsHigh, encodeAlsoGroups, keyToId,
} from '../../src/elliptics/protocol/index.js';
import { sharedWriteRequest, writeRequest } from '../../src/elliptics/requests.js';
import type { StorageNode } from '../../src/storage-node/node.js';
import { readFileSync } from 'node:fs';
import { startNode, tempDir } from '../helpers/nodes.js';
import { connectTo } from '../helpers/cluster.js';
import { RawClient } from '../helpers/raw-client.js';
import { startEmbeddedProxy } from '../helpers/embedded-proxy.js';
import { KeepAliveClient } from '../helpers/keep-alive.js';
import { authorization } from '../helpers/proxy.js';
import { monitorStatOf, monitorStatRequest } from '../../src/elliptics/requests.js';
import { STATS_CATEGORIES } from '../../src/elliptics/stats.js';

/** Successful and failed WRITE commands the node counted as received (node level), and per backend. */
function writeCounts(node: StorageNode): { node: number; byBackend: Map<number, number> } {
  const count = (json: Record<string, unknown>): number => {
    const w = json.WRITE as { disk: { outside: { successes: number; failures: number } } } | undefined;
    return w ? w.disk.outside.successes + w.disk.outside.failures : 0;
  };
  const byBackend = new Map<number, number>();
  for (const b of node.backends) byBackend.set(b.id, count(node.backendStats(b).backendJson()));
  return { node: count(node.stats.nodeJson()), byBackend };
}

describe('writes to several groups of the local node', () => {
  const tmp = tempDir('backrunner-shared-writes-');
  let node: StorageNode;
  let cluster: Cluster;
  let local: Session;
  let raw: RawClient;

  before(async () => {
    node = await startNode(tmp.dir, { backends: [{ id: 1, group: 1 }, { id: 2, group: 2 }, { id: 3, group: 3 }] });
    cluster = await connectTo('127.0.0.1', node.port, { poolSize: 1 });
    const endpoint = cluster.route(1, keyToId('x', 'b')).pool.endpoint;
    local = new Session(cluster, { namespace: 'b', groups: [1, 2, 3], localNode: endpoint });
    raw = await RawClient.connect(node.port);
  });

  after(async () => {
    raw.close();
    cluster.close();
    await node.stop();
    tmp.cleanup();
  });

  it('one WRITE stores the object in every group, each group answered and counted on its own', async () => {
    const big = Buffer.alloc(1024 * 1024 + 3, 0x5a);
    big.write('head', 0);
    big.write('tail', big.length - 4);
    for (const [key, body] of [['big', big], ['small', Buffer.from('small object')]] as const) {
      const before = writeCounts(node);
      const results = await local.write(key, body);
      const after = writeCounts(node);
      assert.deepEqual(results.map((r) => [r.group, r.status, r.backendId, r.info?.size]), [[1, 0, 1, body.length], [2, 0, 2, body.length], [3, 0, 3, body.length]]);
      assert.equal(after.node - before.node, 1, 'one command on the wire');
      for (const id of [1, 2, 3]) assert.equal(after.byBackend.get(id)! - before.byBackend.get(id)!, 1, `backend ${id} counted its write`);
      const stamps = new Set(results.map((r) => `${r.info!.mtime.sec}.${r.info!.mtime.nsec}`));
      assert.equal(stamps.size, 1, 'one version (one timestamp) in every group');
      for (const g of [1, 2, 3]) {
        const r = await raw.read(g, key, {}, 'b');
        assert.ok(r.data.equals(body), `group ${g} holds the bytes`);
      }
    }
    // A session without the local node writes group by group, as to any other cluster.
    const before = writeCounts(node);
    await new Session(cluster, { namespace: 'b', groups: [1, 2, 3] }).write('apart', Buffer.from('x'));
    assert.equal(writeCounts(node).node - before.node, 3);
  });

  it('a group that cannot take the write fails alone; the others store it', async () => {
    const ro = { backendId: 2, command: BackendCommand.READ_ONLY, defragLevel: 0, delay: 0, ids: [] };
    await local.backendControl(cluster.routes.lookup(2, keyToId('x', 'b'))!.node, ro);
    try {
      const results = await local.write('one-fails', Buffer.from('payload'));
      assert.deepEqual(results.map((r) => [r.group, r.status]), [[1, 0], [2, Errno.EROFS], [3, 0]]);
      assert.equal((await raw.read(1, 'one-fails', {}, 'b')).data.toString(), 'payload');
      assert.equal((await raw.read(3, 'one-fails', {}, 'b')).data.toString(), 'payload');
      await assert.rejects(raw.read(2, 'one-fails', {}, 'b'), (e) => (e as { status?: number }).status === Errno.ENOENT);
    } finally {
      await local.backendControl(cluster.routes.lookup(2, keyToId('x', 'b'))!.node, { ...ro, command: BackendCommand.WRITEABLE });
    }
  });

  it('a malformed list of groups is refused whole and stores nothing', async () => {
    const id = keyToId('bad-list', 'b');
    const data = [Buffer.from('never stored')];
    const refused = async (payloadTail: Buffer | undefined, what: string): Promise<void> => {
      const r = writeRequest({ id, group: 1, flagsHigh: FlagsHigh.ALSO_GROUPS }, data);
      if (payloadTail) r.payload.push(payloadTail);
      const packets = await raw.send(r);
      assert.equal(packets.length, 1, what);
      assert.equal(packets[0]!.header.status, Errno.EINVAL, what);
      assert.equal(packets[0]!.header.cmd, Command.WRITE);
    };
    await refused(undefined, 'no list at all');
    await refused(Buffer.from([1, 0, 0]), 'a list cut short');
    await refused(encodeAlsoGroups([2, 2]), 'a group twice');
    await refused(encodeAlsoGroups([1]), 'its own group again');
    const tooMany = Buffer.alloc(4 + 4 * 40);
    tooMany.writeUInt32LE(40, 0);
    await refused(tooMany, 'more groups than any node serves');
    for (const g of [1, 2, 3]) await assert.rejects(raw.read(g, 'bad-list', {}, 'b'), (e) => (e as { status?: number }).status === Errno.ENOENT);
    // A group this node does not serve fails that group only.
    const packets = await raw.send(sharedWriteRequest({ id, group: 1 }, data, [9]));
    assert.deepEqual(packets.map((p) => [p.header.group, p.header.status]).sort(), [[1, 0], [9, Errno.ENOTSUP]]);
  });
});

describe('uploads through the proxy on the embedded node', () => {
  it('each upload to a bucket of two groups is one WRITE to the node, stored in both groups', async () => {
    const proxy = await startEmbeddedProxy();
    const config = JSON.parse(readFileSync(proxy.configFile, 'utf8')) as { embedded: { address: string } };
    const nodePort = Number(config.embedded.address.split(':')[1]);
    const raw = await RawClient.connect(nodePort);
    const http = await KeepAliveClient.connect(proxy.port);
    try {
      /** WRITE commands the node received, and those its backends stored, from its monitor statistics. */
      const writes = async (): Promise<{ commands: number; stored: number }> => {
        const doc = monitorStatOf(await raw.send(monitorStatRequest(STATS_CATEGORIES)), 'monitor stat') as {
          commands: { WRITE?: { disk: { outside: { successes: number } } } };
          backends: Record<string, { commands?: { WRITE?: { disk: { outside: { successes: number } } } } }>;
        };
        const n = (w: { disk: { outside: { successes: number } } } | undefined): number => w?.disk.outside.successes ?? 0;
        return { commands: n(doc.commands.WRITE), stored: Object.values(doc.backends).reduce((t, b) => t + n(b.commands?.WRITE), 0) };
      };
      const before = await writes();
      const bodies = [Buffer.alloc(1024 * 1024, 7), Buffer.from('four'), Buffer.alloc(70_000, 9)];
      for (const [i, body] of bodies.entries()) {
        const target = `/upload/b1/shared-${i}`;
        const r = await http.request({ method: 'POST', target, body, headers: { Authorization: authorization('POST', target, 'writer', 'change this writer token') } });
        assert.equal(r.status, 200, r.body.toString());
        const reply = JSON.parse(r.body.toString()) as { reply: { 'success-groups': number[]; info: { size: number }[] } };
        assert.deepEqual(reply.reply['success-groups'].sort(), [1, 2]);
        assert.deepEqual(reply.reply.info.map((x) => x.size), [body.length, body.length]);
      }
      const after = await writes();
      assert.equal(after.commands - before.commands, bodies.length, 'one WRITE per upload');
      assert.equal(after.stored - before.stored, 2 * bodies.length, 'stored in both groups');
      for (const [i, body] of bodies.entries()) {
        for (const g of [1, 2]) assert.ok((await raw.read(g, `shared-${i}`, {}, 'b1')).data.equals(body), `group ${g} holds upload ${i}`);
        const got = await http.request({ target: `/get/b1/shared-${i}` });
        assert.equal(got.status, 200);
        assert.ok(got.body.equals(body));
      }
    } finally {
      http.close();
      raw.close();
      await proxy.stop();
    }
  });
});
