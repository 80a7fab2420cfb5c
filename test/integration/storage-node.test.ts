// The embedded storage node over real TCP: handshake, data commands, chunked writes, statistics,
// backend control, blob files on disk.

import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import { spawnSync } from 'node:child_process';
import path from 'node:path';
import { Connection } from '../../src/elliptics/connection.js';
import {
  BackendCommand, Command, CommandFlags, Errno, IoFlags, VERSION_2_26, VERSION_3_0, formatAddr, keyToId, type BackendIds,
} from '../../src/elliptics/protocol/index.js';
import {
  backendControlRequest, backendStatusOf, backendStatusRequest, bulkReadRequest, monitorStatOf, monitorStatRequest,
  readRequest, routeListRequest, writeRequest,
} from '../../src/elliptics/requests.js';
import { decodeRouteList } from '../../src/elliptics/protocol/containers.js';
import type { StorageNode } from '../../src/storage-node/node.js';
import { RawClient } from '../helpers/raw-client.js';
import { startNode, tempDir } from '../helpers/nodes.js';

describe('storage node', () => {
  const tmp = tempDir();
  let node: StorageNode;
  let client: RawClient;

  before(async () => {
    node = await startNode(tmp.dir, {
      backends: [
        { id: 1, group: 1 },
        { id: 2, group: 2, 'blob-size': 64 * 1024 },
        { id: 3, group: 3, 'blob-size-limit': 256 * 1024 },
      ],
    });
    client = await RawClient.connect(node.port);
  });

  after(async () => {
    client.close();
    await node.stop();
    tmp.cleanup();
  });

  it('requests issued in one turn leave in one write, their replies too, and every reply reaches its own request', async () => {
    // Distinct size and bytes per key: a reply handed to another request's promise fails the checks.
    const n = 240;
    const body = (i: number): Buffer => Buffer.alloc(1 + ((i * 53) % 9000), `batch-${i}-`);
    const flushesBefore = client.conn.flushes;
    const written = await Promise.all(Array.from({ length: n }, (_, i) => client.write(1 + (i % 2), `batch-${i}`, body(i))));
    assert.ok(client.conn.flushes - flushesBefore <= 2, `${n} writes issued in one turn took ${client.conn.flushes - flushesBefore} socket writes`);
    written.forEach((w, i) => assert.equal(w?.info.size, body(i).length, `write ${i}`));

    // Reads, lookups and misses interleaved in one turn, spread over two backends.
    const mark = client.conn.flushes;
    const nodeWrites = (): number => [...node.connections].reduce((sum, c) => sum + c.socketWrites, 0);
    const repliesBefore = nodeWrites();
    const outcomes = await Promise.all(Array.from({ length: n }, (_, i) => {
      const g = 1 + (i % 2);
      if (i % 3 === 0) return client.read(g, `batch-${i}`).then((r) => ({ i, kind: 'read', data: r.data }));
      if (i % 3 === 1) return client.lookup(g, `batch-${i}`).then((r) => ({ i, kind: 'lookup', size: r?.info.size }));
      return client.read(g, `batch-missing-${i}`).then(() => ({ i, kind: 'miss', status: 0 }), (e: { status: number }) => ({ i, kind: 'miss', status: e.status }));
    }));
    assert.ok(client.conn.flushes - mark <= 2, `${n} mixed requests took ${client.conn.flushes - mark} socket writes`);
    // Served from the page cache, their replies are ready within the turn that read the requests.
    // Each read of the socket takes what fits; the replies of one read leave together.
    const replyWrites = nodeWrites() - repliesBefore;
    assert.ok(replyWrites >= 1 && replyWrites <= n / 8, `${n} replies took ${replyWrites} socket writes`);
    for (const o of outcomes) {
      if (o.kind === 'read') assert.deepEqual((o as { data: Buffer }).data, body(o.i), `read ${o.i}`);
      else if (o.kind === 'lookup') assert.equal((o as { size: number }).size, body(o.i).length, `lookup ${o.i}`);
      else assert.equal((o as { status: number }).status, Errno.ENOENT, `missing key ${o.i}`);
    }
  });

  it('answers the handshake of 2.26 and 3.0 clients in kind and lists its backends', async () => {
    for (const version of [VERSION_2_26, VERSION_3_0]) {
      const conn = await Connection.open('127.0.0.1', node.port, { maxFrame: 1 << 20, timeoutMs: 2000 });
      const hs = await conn.handshake(version);
      assert.deepEqual(hs.version, version);
      assert.equal(formatAddr(hs.identity.addrs[0]!), `127.0.0.1:${node.port}:2`);
      assert.deepEqual(hs.identity.backends.map((b) => [b.backendId, b.group, b.ids.length]), [[1, 1, 1], [2, 2, 1], [3, 3, 1]]);
      conn.destroy();
    }
  });

  it('closes the connection without a reply for a 2.25 client', async () => {
    const conn = await Connection.open('127.0.0.1', node.port, { maxFrame: 1 << 20, timeoutMs: 2000 });
    await assert.rejects(conn.handshake([2, 25, 0, 0]), (e: Error & { status?: number }) => e.status === Errno.EPROTO && /does not accept protocol version/.test(e.message));
  });

  it('large WRITEs from several connections at once, some refused: every stored object has its own bytes', async () => {
    // Large payloads are read into pooled buffers reused once a command is done: a buffer handed back
    // too early, or to two frames, shows up here as another object's bytes.
    const clients = [client, await RawClient.connect(node.port), await RawClient.connect(node.port)];
    const body = (i: number): Buffer => {
      const b = Buffer.alloc(300 * 1024 + i * 4099);
      for (let at = 0; at + 4 <= b.length; at += 4) b.writeUInt32LE((i * 2654435761 + at) >>> 0, at);
      return b.subarray(0, b.length - (i % 3));
    };
    const n = 36;
    const outcomes = await Promise.all(Array.from({ length: n }, (_, i) => {
      const c = clients[i % clients.length]!;
      // Group 3 has a 256 KiB limit: those writes fail with -ENOSPC after their payload was read.
      const group = i % 4 === 3 ? 3 : 1 + (i % 2);
      return c.write(group, `pooled-${i}`, body(i)).then(() => 0, (e: { status: number }) => e.status);
    }));
    outcomes.forEach((status, i) => assert.equal(status, i % 4 === 3 ? Errno.ENOSPC : 0, `write ${i}`));
    for (let i = 0; i < n; i++) {
      if (i % 4 === 3) continue;
      const r = await clients[(i + 1) % clients.length]!.read(1 + (i % 2), `pooled-${i}`);
      assert.ok(r.data.equals(body(i)), `pooled-${i} has its own bytes`);
    }
    for (const c of clients.slice(1)) c.close();
  });

  it('writes, reads, looks up and deletes; LOOKUP names the blob file and the data offset', async () => {
    const body = Buffer.from('golden payload for wire capture\n');
    const w = await client.write(1, 'golden-key', body, { timestamp: { sec: 1577836800, nsec: 0 } });
    assert.ok(w);
    assert.equal(w.info.size, 32);
    assert.equal(w.info.recordFlags, 0x140);
    assert.deepEqual(w.info.mtime, { sec: 1577836800, nsec: 0 });
    const r = await client.read(1, 'golden-key');
    assert.deepEqual(r.data, body);
    assert.deepEqual([r.io.size, r.io.totalSize, r.io.recordFlags, r.io.timestamp.sec], [32, 32, 0x140, 1577836800]);
    const l = await client.lookup(1, 'golden-key');
    assert.ok(l);
    assert.ok(path.isAbsolute(l.info.path));
    assert.match(path.basename(l.info.path), /^data-0\.\d+$/);
    // The bytes are where LOOKUP says they are: a static server could send them straight from the file.
    const fd = fs.openSync(l.info.path, 'r');
    const onDisk = Buffer.alloc(l.info.size);
    fs.readSync(fd, onDisk, 0, l.info.size, l.info.offset);
    fs.closeSync(fd);
    assert.deepEqual(onDisk, body);
    assert.equal(await client.remove(1, 'golden-key'), 0);
    assert.equal(await client.remove(1, 'golden-key'), Errno.ENOENT);
    await assert.rejects(client.read(1, 'golden-key'), (e: Error & { status?: number }) => e.status === Errno.ENOENT);
  });

  it('replies carry the request trans, trace id and the serving backend', async () => {
    const req = writeRequest({ id: keyToId('traced'), group: 2, traceId: 0x2100000000000001n }, Buffer.from('x'));
    const [reply] = await client.send(req);
    assert.equal(reply!.header.traceId, 0x2100000000000001n);
    assert.equal(reply!.header.backendId, 2);
    assert.equal(reply!.header.flags, CommandFlags.REPLY);
    assert.equal(reply!.header.cmd, Command.WRITE);
  });

  it('reads at an offset, clamps the size, and refuses an offset beyond the end with -E2BIG', async () => {
    const body = Buffer.from(Array.from({ length: 10000 }, (_, i) => i % 251));
    await client.write(1, 'ranged', body);
    const part = await client.read(1, 'ranged', { offset: 4000, size: 200 });
    assert.deepEqual(part.data, body.subarray(4000, 4200));
    assert.deepEqual([part.io.offset, part.io.size, part.io.totalSize], [4000, 200, 10000]);
    assert.deepEqual((await client.read(1, 'ranged', { offset: 9990, size: 100 })).data, body.subarray(9990));
    await assert.rejects(client.read(1, 'ranged', { offset: 20000, size: 10 }), (e: Error & { status?: number }) => e.status === Errno.E2BIG);
  });

  it('writes at an offset keep the rest of the object; APPEND adds at the end', async () => {
    await client.write(1, 'patched', Buffer.from('0123456789'));
    await client.write(1, 'patched', Buffer.from('abc'), { offset: 4 });
    assert.equal((await client.read(1, 'patched')).data.toString(), '0123abc789');
    await client.write(1, 'patched', Buffer.from('XY'), { offset: 12 });
    assert.deepEqual((await client.read(1, 'patched')).data, Buffer.concat([Buffer.from('0123abc789'), Buffer.alloc(2), Buffer.from('XY')]));
    await client.write(1, 'patched', Buffer.from('++'), { ioFlags: IoFlags.APPEND });
    assert.match((await client.read(1, 'patched')).data.toString('latin1'), /XY\+\+$/);
    await client.write(1, 'patched', Buffer.from('new'));
    assert.equal((await client.read(1, 'patched')).data.toString(), 'new');
  });

  it('prepare / plain / commit: invisible until committed, chunks in any order, reserved size reported', async () => {
    const body = Buffer.from(Array.from({ length: 300_000 }, (_, i) => (i * 7) % 256));
    const key = 'chunked';
    const prep = await client.write(1, key, body.subarray(0, 100_000), { ioFlags: IoFlags.PREPARE | IoFlags.PLAIN_WRITE, num: body.length });
    assert.deepEqual([prep!.info.recordFlags, prep!.info.size], [0x1c0, body.length]);
    await assert.rejects(client.read(1, key), (e: Error & { status?: number }) => e.status === Errno.ENOENT);
    await assert.rejects(client.lookup(1, key), (e: Error & { status?: number }) => e.status === Errno.ENOENT);
    // Out of order: the last part before the middle one.
    await client.write(1, key, body.subarray(250_000, 270_000), { ioFlags: IoFlags.PLAIN_WRITE, offset: 250_000, num: 270_000 });
    await client.write(1, key, body.subarray(100_000, 250_000), { ioFlags: IoFlags.PLAIN_WRITE, offset: 100_000, num: 250_000 });
    const commit = await client.write(1, key, body.subarray(270_000), { ioFlags: IoFlags.COMMIT | IoFlags.PLAIN_WRITE, offset: 270_000, num: body.length });
    assert.deepEqual([commit!.info.recordFlags, commit!.info.size], [0x140, body.length]);
    assert.deepEqual((await client.read(1, key)).data, body);
    assert.deepEqual((await client.read(1, key, { offset: 65_000, size: 70_000 })).data, body.subarray(65_000, 135_000));
  });

  it('a prepared upload does not hide the committed version it will replace', async () => {
    await client.write(1, 'versioned', Buffer.from('old'));
    await client.write(1, 'versioned', Buffer.from('ne'), { ioFlags: IoFlags.PREPARE | IoFlags.PLAIN_WRITE, num: 5 });
    assert.equal((await client.read(1, 'versioned')).data.toString(), 'old');
    await client.write(1, 'versioned', Buffer.from('w!!'), { ioFlags: IoFlags.COMMIT | IoFlags.PLAIN_WRITE, offset: 2, num: 5 });
    assert.equal((await client.read(1, 'versioned')).data.toString(), 'new!!');
  });

  it('LOOKUP with the CHECKSUM cflag and READ with the CHECKSUM io-flag return SHA-512 of the data', async () => {
    const body = Buffer.from('golden payload for wire capture\n');
    await client.write(1, 'summed', body);
    const sha = createHash('sha512').update(body).digest();
    assert.deepEqual((await client.lookup(1, 'summed', CommandFlags.CHECKSUM))!.info.checksum, sha);
    assert.deepEqual((await client.lookup(1, 'summed'))!.info.checksum, Buffer.alloc(64));
    assert.deepEqual((await client.read(1, 'summed', { ioFlags: IoFlags.CHECKSUM })).io.parent, sha);
  });

  it('WRITE_NO_FILE_INFO answers with a bare ACK', async () => {
    const packets = await client.send(writeRequest({ id: keyToId('bare'), group: 1 }, Buffer.from('b'), { ioFlags: IoFlags.WRITE_NO_FILE_INFO }));
    assert.deepEqual(packets.map((p) => [p.header.status, p.payload.length]), [[0, 0]]);
  });

  it('BULK_READ answers per key in request order, errors carrying the first key, then a final status 0', async () => {
    await client.write(1, 'golden-bulk-1', Buffer.from('bulk read payload one\n'));
    await client.write(1, 'golden-bulk-2', Buffer.from('bulk read payload two\n'));
    const ids = ['golden-bulk-1', 'golden-bulk-2', 'golden-bulk-missing'].map((k) => keyToId(k)).sort(Buffer.compare);
    const packets = await client.send(bulkReadRequest({ group: 1 }, ids));
    assert.deepEqual(packets.map((p) => [p.header.cmd, p.header.flags, p.header.status]), [[5, 0x202, 0], [5, 0x202, -2], [5, 0x202, 0], [17, 0x200, 0]]);
    assert.deepEqual(Buffer.from(packets[1]!.header.id), ids[0]);
    assert.equal(packets[0]!.payload.length, 208 + 22);
  });

  it('routes by group: a group this node does not serve gets -ENOTSUP', async () => {
    assert.equal(await client.status(readRequest({ id: keyToId('k'), group: 42 })), Errno.ENOTSUP);
  });

  it('rotates blob files at blob-size and keeps every record readable', async () => {
    const bodies = Array.from({ length: 8 }, (_, i) => Buffer.alloc(20_000, i + 1));
    for (const [i, b] of bodies.entries()) await client.write(2, `rot-${i}`, b);
    const files = fs.readdirSync(node.backendById(2)!.dir).filter((f) => f.startsWith('data-0.'));
    assert.ok(files.length >= 3, `expected several blob files, got ${files.join(',')}`);
    for (const [i, b] of bodies.entries()) assert.deepEqual((await client.read(2, `rot-${i}`)).data, b);
  });

  it('fails writes with -ENOSPC once blob-size-limit is reached, and keeps earlier data', async () => {
    await client.write(3, 'fits', Buffer.alloc(100_000, 1));
    await assert.rejects(client.write(3, 'too-much', Buffer.alloc(200_000, 2)), (e: Error & { status?: number }) => e.status === Errno.ENOSPC);
    assert.equal((await client.read(3, 'fits')).data.length, 100_000);
  });

  it('MONITOR_STAT 84 returns zlib JSON with per-backend vfs, summary_stats, config and commands', async () => {
    const stats = monitorStatOf(await client.send(monitorStatRequest(0x54n)), 'monitor') as Record<string, any>;
    assert.equal(stats.monitor_status, 'enabled');
    assert.ok(stats.commands.WRITE.disk.outside.successes > 0);
    assert.ok(stats.procfs.vm.total > 0);
    const b1 = stats.backends['1'];
    assert.equal(b1.status.state, 1);
    assert.equal(b1.status.read_only, false);
    assert.equal(b1.backend.config.group, 1);
    assert.equal(b1.backend.config.blob_size_limit, 0);
    assert.equal(stats.backends['3'].backend.config.blob_size_limit, 256 * 1024);
    const st = fs.statfsSync(tmp.dir);
    assert.equal(b1.backend.vfs.bsize, st.bsize);
    assert.equal(b1.backend.vfs.blocks, st.blocks);
    assert.ok(b1.backend.summary_stats.base_size > 0);
    assert.ok(b1.backend.summary_stats.records_total >= b1.backend.summary_stats.records_removed);
    assert.ok(b1.commands.READ.disk.outside.successes > 0);
    const without = monitorStatOf(await client.send(monitorStatRequest(0x10n)), 'monitor') as Record<string, any>;
    assert.equal(without.commands, undefined);
    assert.equal(without.procfs, undefined);
    assert.ok(without.backends['2'].backend.vfs);
  });

  it('MONITOR_STAT with a payload other than 44 bytes gets -EINVAL', async () => {
    const req = monitorStatRequest(0x54n);
    assert.equal((await client.send({ header: req.header, payload: [Buffer.alloc(40)] }))[0]!.header.status, Errno.EINVAL);
  });

  it('BACKEND_STATUS lists every backend in slots 0..highest id', async () => {
    const packets = await client.send(backendStatusRequest());
    assert.equal(packets[0]!.payload.length, 4 + 4 * 96);
    assert.equal(packets[0]!.header.backendId, -1);
    assert.deepEqual(backendStatusOf(packets, 'status').map((s) => [s.backendId, s.state]), [[1, 1], [2, 1], [3, 1]]);
  });

  it('BACKEND_CONTROL read-only → -EROFS on writes and deletes, -EALREADY twice, writeable again', async () => {
    const ro = { backendId: 2, command: BackendCommand.READ_ONLY, defragLevel: 0, delay: 0, ids: [] };
    const first = await client.send(backendControlRequest(ro));
    assert.equal(backendStatusOf(first, 'ro')[0]!.readOnly, true);
    const again = await client.send(backendControlRequest(ro));
    assert.deepEqual(again.map((p) => [p.header.flags, p.header.status, p.payload.length]), [[0x20a, 0, 100], [0x208, Errno.EALREADY, 0]]);
    await assert.rejects(client.write(2, 'ro-key', Buffer.from('x')), (e: Error & { status?: number }) => e.status === Errno.EROFS);
    assert.equal(await client.remove(2, 'rot-0'), Errno.EROFS);
    assert.equal((await client.read(2, 'rot-0')).data.length, 20_000);
    await client.send(backendControlRequest({ ...ro, command: BackendCommand.WRITEABLE }));
    await client.write(2, 'ro-key', Buffer.from('x'));
  });

  it('BACKEND_CONTROL delay makes the backend answer that much later, and shows in the stats', async () => {
    await client.send(backendControlRequest({ backendId: 1, command: BackendCommand.SET_DELAY, defragLevel: 0, delay: 300, ids: [] }));
    const t0 = Date.now();
    await client.read(1, 'ranged', { size: 10 });
    const slow = Date.now() - t0;
    const stats = monitorStatOf(await client.send(monitorStatRequest(0x10n)), 'monitor') as Record<string, any>;
    await client.send(backendControlRequest({ backendId: 1, command: BackendCommand.SET_DELAY, defragLevel: 0, delay: 0, ids: [] }));
    assert.ok(slow >= 290, `a 300 ms delay answered after ${slow} ms`);
    assert.equal(stats.backends['1'].status.delay, 300);
  });

  it('BACKEND_CONTROL disable / enable push UPDATE_IDS to handshaken connections', async () => {
    const watcher = await RawClient.connect(node.port);
    const pushes: BackendIds[][] = [];
    watcher.conn.on('update-ids', (b) => pushes.push(b));
    const ctl = { backendId: 3, command: BackendCommand.DISABLE, defragLevel: 0, delay: 0, ids: [] };
    await client.send(backendControlRequest(ctl));
    assert.equal(await client.status(readRequest({ id: keyToId('fits'), group: 3 })), Errno.ENOTSUP);
    const stats = monitorStatOf(await client.send(monitorStatRequest(0x54n)), 'monitor') as Record<string, any>;
    assert.equal(stats.backends['3'].status.state, 0);
    assert.deepEqual(Object.keys(stats.backends['3'].backend), ['config']);
    const conn = await Connection.open('127.0.0.1', node.port, { maxFrame: 1 << 20, timeoutMs: 2000 });
    assert.deepEqual((await conn.handshake(VERSION_3_0)).identity.backends.map((b) => b.backendId), [1, 2]);
    conn.destroy();
    await client.send(backendControlRequest({ ...ctl, command: BackendCommand.ENABLE }));
    assert.equal((await client.read(3, 'fits')).data.length, 100_000);
    await waitFor(() => pushes.length >= 2);
    assert.deepEqual(pushes[0], [{ backendId: 3, group: 0, flags: 1, ids: [] }]);
    assert.deepEqual(pushes[1]!.map((b) => [b.backendId, b.group, b.flags, b.ids.length]), [[3, 3, 0, 1]]);
    watcher.close();
  });
});

describe('storage node cluster', () => {
  const tmp = tempDir();
  const nodes: StorageNode[] = [];

  after(async () => {
    for (const n of nodes) await n.stop();
    tmp.cleanup();
  });

  it('nodes learn each other through remotes: ROUTE_LIST of either lists the whole cluster', async () => {
    const a = await startNode(path.join(tmp.dir, 'a'), { backends: [{ id: 1, group: 1 }] });
    nodes.push(a);
    const b = await startNode(path.join(tmp.dir, 'b'), { backends: [{ id: 1, group: 2 }], remotes: [`127.0.0.1:${a.port}`] });
    nodes.push(b);
    const c = await startNode(path.join(tmp.dir, 'c'), { backends: [{ id: 1, group: 3 }], remotes: [`127.0.0.1:${b.port}`] });
    nodes.push(c);
    const expected = [a.port, b.port, c.port].sort();
    for (const n of [a, b, c]) {
      const client = await RawClient.connect(n.port);
      await waitFor(async () => {
        const [reply] = await client.send(routeListRequest());
        const routes = decodeRouteList(reply!.payload);
        return JSON.stringify(routes.addrs.map((x) => x.port).sort()) === JSON.stringify(expected);
      });
      const [reply] = await client.send(routeListRequest());
      assert.equal(reply!.header.flags, 0x210);
      assert.equal(decodeRouteList(reply!.payload).addrs[0]!.port, n.port, 'a node lists itself first');
      client.close();
    }
  });

  it('ring ids survive a restart', async () => {
    const dir = path.join(tmp.dir, 'restart');
    const spec = { backends: [{ id: 7, group: 9 }] };
    const first = await startNode(dir, spec);
    const c1 = await RawClient.connect(first.port);
    const conn1 = await Connection.open('127.0.0.1', first.port, { maxFrame: 1 << 20, timeoutMs: 2000 });
    const ids1 = (await conn1.handshake(VERSION_3_0)).identity.backends[0]!.ids[0]!;
    conn1.destroy();
    c1.close();
    await first.stop();
    const second = await startNode(dir, spec);
    nodes.push(second);
    const conn2 = await Connection.open('127.0.0.1', second.port, { maxFrame: 1 << 20, timeoutMs: 2000 });
    assert.deepEqual((await conn2.handshake(VERSION_3_0)).identity.backends[0]!.ids[0], ids1);
    conn2.destroy();
  });
});

async function waitFor(cond: () => boolean | Promise<boolean>, timeoutMs = 5000): Promise<void> {
  const until = Date.now() + timeoutMs;
  while (!(await cond())) {
    if (Date.now() > until) throw new Error('condition not met in time');
    await new Promise((r) => setTimeout(r, 50));
  }
}

describe('storage node on a Unix socket', () => {
  const tmp = tempDir();
  after(() => tmp.cleanup());

  it('serves the protocol on unix-socket as on TCP; a stale socket file is replaced, a live one refused', async () => {
    const file = path.join(tmp.dir, 'node.sock');
    // A socket file nobody listens on any more, as a node killed with SIGKILL leaves it.
    const leave = "require('net').createServer().listen(process.argv[1], () => process.kill(process.pid, 'SIGKILL'))";
    spawnSync(process.execPath, ['-e', leave, file]);
    assert.ok(fs.existsSync(file), 'a stale socket file is there');
    const node = await startNode(tmp.dir, { backends: [{ id: 1, group: 1 }], 'unix-socket': 'node.sock' });
    try {
      const local = await RawClient.connect(node.port, { socketPath: file });
      const body = Buffer.alloc(700 * 1024, 'unix');
      await local.write(1, 'over-the-socket', body);
      const tcp = await RawClient.connect(node.port);
      assert.ok((await tcp.read(1, 'over-the-socket')).data.equals(body), 'written over the socket, read over TCP');
      tcp.close();
      local.close();
      await assert.rejects(startNode(path.join(tmp.dir, 'second'), { backends: [{ id: 1, group: 1 }], 'unix-socket': file }), /another process listens on .*node\.sock \(config field "unix-socket"\)/);
    } finally {
      await node.stop();
    }
  });
});
