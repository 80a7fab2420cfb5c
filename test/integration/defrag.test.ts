// Online defragmentation and index snapshots of the embedded node, over TCP as clients drive them:
// BACKEND_CONTROL start/compact/stop, MONITOR_STAT and BACKEND_STATUS during and after, space taken
// back, objects intact, removed keys staying removed across compaction and restarts, -ENOSPC
// clearing, other backends served meanwhile, and starts from a snapshot.

import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { BackendCommand, Command, CommandFlags, Errno, splitFrames } from '../../src/elliptics/protocol/index.js';
import { decodeBackendStatusList } from '../../src/elliptics/protocol/backend.js';
import { backendControlRequest, backendStatusOf, backendStatusRequest, monitorStatOf, monitorStatRequest } from '../../src/elliptics/requests.js';
import type { Packet } from '../../src/elliptics/connection.js';
import type { StorageNode } from '../../src/storage-node/node.js';
import { DefragLevel, DefragState } from '../../src/storage-node/engine/defrag.js';
import { RawClient } from '../helpers/raw-client.js';
import { spawnNode, startNode, tempDir, type NodeSpec } from '../helpers/nodes.js';
import { fixture } from '../helpers/fixtures.js';

const statusOf = (e: unknown): number | undefined => (e as { status?: number }).status;

/** Deterministic bytes for (key, version): a copy that moved to the wrong key or version is caught. */
function bodyFor(key: string, version: number, size: number): Buffer {
  const seed = Buffer.from(`${key}#${version}#`);
  const out = Buffer.allocUnsafe(size);
  for (let i = 0; i < size; i++) out[i] = seed[i % seed.length]! ^ ((i * 31) & 0xff);
  return out;
}

function control(c: RawClient, backendId: number, command: number, defragLevel = 0): Promise<Packet[]> {
  return c.send(backendControlRequest({ backendId, command, defragLevel, delay: 0, ids: [] }));
}

async function defragStateOf(c: RawClient, backendId: number): Promise<number> {
  const list = backendStatusOf(await c.send(backendStatusRequest()), 'BACKEND_STATUS');
  return list.find((b) => b.backendId === backendId)!.defragState;
}

/** Polls BACKEND_STATUS (as `dnet_ioclient -d status` does) until the backend is no longer defragmenting. */
async function untilDefragDone(c: RawClient, backendId: number, timeoutMs = 120_000): Promise<void> {
  const until = Date.now() + timeoutMs;
  while ((await defragStateOf(c, backendId)) !== DefragState.NOT_STARTED) {
    if (Date.now() > until) throw new Error(`backend ${backendId} still defragmenting after ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

async function backendJson(c: RawClient, backendId: number): Promise<Record<string, any>> {
  const doc = monitorStatOf(await c.send(monitorStatRequest(0xffn)), 'MONITOR_STAT') as { backends: Record<string, Record<string, any>> };
  return doc.backends[String(backendId)]!;
}

function diskBytes(dir: string): number {
  return fs.readdirSync(dir).filter((n) => /^data-0\.\d+$/.test(n)).reduce((n, f) => n + fs.statSync(path.join(dir, f)).size, 0);
}

describe('defragmentation', () => {
  const tmp = tempDir('backrunner-defrag-');
  after(() => tmp.cleanup());

  describe('on a backend overwritten five times', () => {
    const root = path.join(tmp.dir, 'overwrite');
    const spec: NodeSpec = { backends: [{ id: 1, group: 1, 'blob-size': 4 * 1024 * 1024, 'defrag-timeout': 0 }, { id: 2, group: 2, 'defrag-timeout': 0 }] };
    let node: StorageNode;
    let c: RawClient;
    const keys = Array.from({ length: 300 }, (_, i) => `obj-${i}`);
    const sizeOf = (i: number): number => 4096 + ((i * 7919) % 28_000);
    const version = new Map<string, number>();

    before(async () => {
      node = await startNode(root, spec);
      c = await RawClient.connect(node.port);
      for (let v = 1; v <= 5; v++) {
        await Promise.all(keys.map(async (k, i) => {
          await c.write(1, k, bodyFor(k, v, sizeOf(i)));
          version.set(k, v);
        }));
      }
    });

    after(async () => {
      c.close();
      await node.stop();
    });

    it('MONITOR_STAT shows the garbage and blobs wanting defragmentation before any run', async () => {
      const b = await backendJson(c, 1);
      assert.equal(b.status.defrag_state, 0);
      assert.equal(b.status.string_defrag_state, 'not-started');
      assert.ok(b.backend.summary_stats.records_removed >= keys.length * 4, `records_removed ${b.backend.summary_stats.records_removed}`);
      assert.ok(b.backend.summary_stats.want_defrag > 0);
      const wanting = Object.values(b.backend.base_stats as Record<string, { string_want_defrag: string }>).filter((s) => s.string_want_defrag !== 'not_needed');
      assert.ok(wanting.length > 0, 'some blob wants defragmentation');
      assert.equal(b.backend.config.defrag_percentage, 25);
      assert.equal(b.backend.global_stats.datasort_start_time, 0);
    });

    it('compact via BACKEND_CONTROL: served throughout, then within 1.3× the live bytes, every object intact after a restart', async () => {
      const dir = node.backends[0]!.dir;
      const live = keys.reduce((n, _k, i) => n + sizeOf(i), 0);
      const before = diskBytes(dir);
      assert.ok(before > 4 * live, `before: ${before} bytes on disk for ${live} live`);

      // Clients keep reading, overwriting and removing keys of the blobs being compacted.
      let running = true;
      let duringDefrag = 0;
      const removed = new Set<string>();
      const lane = async (lane: number): Promise<void> => {
        for (let n = 0; running; n++) {
          const i = (lane * 37 + n * 13) % keys.length;
          const k = keys[i]!;
          if (removed.has(k)) continue;
          if (n % 10 === 3 && i % 5 === 0) {
            removed.add(k);
            await c.remove(1, k);
          } else if (n % 4 === 1) {
            const v = version.get(k)! + 1;
            version.set(k, v);
            await c.write(1, k, bodyFor(k, v, sizeOf(i)));
          } else {
            const v = version.get(k)!;
            const got = await c.read(1, k);
            // A read racing an overwrite of the same key may see the new version: either is whole.
            assert.ok(got.data.equals(bodyFor(k, v, sizeOf(i))) || got.data.equals(bodyFor(k, version.get(k)!, sizeOf(i))), `${k} read back wrong during defragmentation`);
          }
          if (node.backends[0]!.defrag.active) duringDefrag++;
        }
      };
      const lanes = Array.from({ length: 6 }, (_, l) => lane(l));
      const reply = await control(c, 1, BackendCommand.START_DEFRAG, DefragLevel.COMPACT);
      const st = decodeBackendStatusList(reply[reply.length - 1]!.payload);
      assert.equal(st.length, 1);
      assert.equal(st[0]!.backendId, 1);
      assert.notEqual(st[0]!.defragState, DefragState.NOT_STARTED, 'the reply already shows the run');
      await untilDefragDone(c, 1);
      running = false;
      await Promise.all(lanes);
      assert.ok(duringDefrag > 0, 'requests were served while the defragmentation ran');

      const liveNow = keys.reduce((n, k, i) => n + (removed.has(k) ? 0 : sizeOf(i)), 0);
      // One more pass takes back what the clients superseded during the first one.
      await control(c, 1, BackendCommand.START_DEFRAG, DefragLevel.FULL);
      await untilDefragDone(c, 1);
      const afterBytes = diskBytes(dir);
      assert.ok(afterBytes <= 1.3 * liveNow, `after: ${afterBytes} bytes on disk for ${liveNow} live (before ${before})`);

      const b = await backendJson(c, 1);
      assert.ok(b.backend.global_stats.datasort_start_time > 0);
      assert.ok(b.backend.global_stats.datasort_completion_time >= b.backend.global_stats.datasort_start_time);
      assert.equal(b.backend.global_stats.datasort_completion_status, 0);
      assert.equal(b.backend.summary_stats.base_size, afterBytes);

      const check = async (): Promise<void> => {
        for (const [i, k] of keys.entries()) {
          if (removed.has(k)) await assert.rejects(c.read(1, k), (e) => statusOf(e) === Errno.ENOENT, `${k} came back`);
          else assert.ok((await c.read(1, k)).data.equals(bodyFor(k, version.get(k)!, sizeOf(i))), `${k} differs after defragmentation`);
        }
      };
      await check();
      // After a restart from the snapshot, and after one from a full scan.
      c.close();
      await node.stop();
      node = await startNode(root, spec);
      assert.equal(node.backends[0]!.startedFrom.snapshot, true);
      c = await RawClient.connect(node.port);
      await check();
      c.close();
      await node.stop();
      fs.rmSync(path.join(dir, 'index.snapshot'));
      node = await startNode(root, spec);
      assert.equal(node.backends[0]!.startedFrom.snapshot, false);
      c = await RawClient.connect(node.port);
      await check();
    });

    it('stop without a run answers -EALREADY; an unknown level -EINVAL; a disabled backend -ENOTSUP', async () => {
      const last = async (r: Promise<Packet[]>): Promise<number> => (await r).at(-1)!.header.status;
      assert.equal(await last(control(c, 1, BackendCommand.STOP_DEFRAG)), Errno.EALREADY);
      assert.equal(await last(control(c, 1, BackendCommand.START_DEFRAG, 7)), Errno.EINVAL);
      assert.equal(await last(control(c, 2, BackendCommand.DISABLE)), 0);
      assert.equal(await last(control(c, 2, BackendCommand.START_DEFRAG, DefragLevel.COMPACT)), Errno.ENOTSUP);
      await control(c, 2, BackendCommand.ENABLE);
    });
  });

  it('BACKEND_CONTROL defrag replies have the framing of a real node\'s (captures 15a and 15b)', async () => {
    const root = path.join(tmp.dir, 'frames');
    const node = await startNode(root, { backends: [{ id: 2, group: 3, 'defrag-timeout': 0, 'defrag-rate-limit': 64 * 1024 }] });
    const c = await RawClient.connect(node.port);
    try {
      for (let i = 0; i < 40; i++) await c.write(3, `k${i % 4}`, bodyFor('k', i, 64 * 1024));
      const frames = (name: string) => splitFrames(fixture('captures', `${name}.conn1.s2c.bin`)).filter((f) => f.header.cmd === Command.BACKEND_CONTROL);
      const [okReply] = frames('15a-backend-control-read-only');
      const [moreReply, ackReply] = frames('15b-backend-control-read-only-again-ealready');
      const shape = (p: { header: { flags: number; backendId: number; status: number; size: number; cmd: number } }) =>
        ({ cmd: p.header.cmd, flags: p.header.flags, backendId: p.header.backendId, status: p.header.status, size: p.header.size });

      const started = await control(c, 2, BackendCommand.START_DEFRAG, DefragLevel.FULL);
      assert.deepEqual(started.map(shape), [shape(okReply!)]);
      const entry = decodeBackendStatusList(started[0]!.payload)[0]!;
      const captured = decodeBackendStatusList(okReply!.payload)[0]!;
      assert.deepEqual({ ...entry, defragState: 0, lastStart: captured.lastStart, readOnly: captured.readOnly }, { ...captured, defragState: 0 });
      assert.equal(entry.defragState, DefragState.DATA_SORT);

      // The rate limit keeps this run going: a second start is refused like 15b's second read-only.
      const raw = await c.conn.request(backendControlRequest({ backendId: 2, command: BackendCommand.START_DEFRAG, defragLevel: 0, delay: 0, ids: [] }).header,
        backendControlRequest({ backendId: 2, command: BackendCommand.START_DEFRAG, defragLevel: 0, delay: 0, ids: [] }).payload);
      assert.deepEqual(raw.map(shape), [shape(moreReply!), shape(ackReply!)]);
      assert.equal(raw[1]!.header.status, Errno.EALREADY);
      assert.ok((raw[0]!.header.flags & CommandFlags.MORE) !== 0);

      assert.equal((await control(c, 2, BackendCommand.STOP_DEFRAG)).length, 1);
      await untilDefragDone(c, 2);
      const json = await backendJson(c, 2);
      assert.equal(json.status.defrag_state, 0);
      assert.equal(json.backend.global_stats.datasort_completion_status, 0);
    } finally {
      c.close();
      await node.stop();
    }
  });

  it('a removed key does not come back after compaction and restart, even when its tombstone is compacted away', async () => {
    const root = path.join(tmp.dir, 'removed');
    const spec: NodeSpec = { backends: [{ id: 1, group: 1, 'blob-size': 64 * 1024, 'defrag-timeout': 0 }] };
    let node = await startNode(root, spec);
    let c = await RawClient.connect(node.port);
    // Versions of `gone` spread over blobs, then removed; filler rotates blobs between the steps.
    const filler = async (tag: string): Promise<void> => {
      for (let i = 0; i < 6; i++) await c.write(1, `${tag}-${i}`, bodyFor(tag, i, 20_000));
    };
    await c.write(1, 'gone', bodyFor('gone', 1, 10_000));
    await filler('a');
    await c.write(1, 'gone', bodyFor('gone', 2, 10_000));
    await filler('b');
    await c.remove(1, 'gone');
    await filler('c');
    await c.write(1, 'kept', bodyFor('kept', 1, 10_000));
    await c.remove(1, 'a-0'); // a removal whose tombstone shares a blob with live data
    await control(c, 1, BackendCommand.START_DEFRAG, DefragLevel.FULL);
    await untilDefragDone(c, 1);
    const b = await backendJson(c, 1);
    assert.ok(b.backend.summary_stats.records_removed <= 2, `tombstones left: ${b.backend.summary_stats.records_removed}`);
    await assert.rejects(c.read(1, 'gone'), (e) => statusOf(e) === Errno.ENOENT);

    for (const how of ['clean restart (snapshot)', 'restart with a full scan']) {
      c.close();
      await node.stop();
      if (how.includes('full scan')) fs.rmSync(path.join(node.backends[0]!.dir, 'index.snapshot'));
      node = await startNode(root, spec);
      c = await RawClient.connect(node.port);
      await assert.rejects(c.read(1, 'gone'), (e) => statusOf(e) === Errno.ENOENT, `gone came back after a ${how}`);
      await assert.rejects(c.read(1, 'a-0'), (e) => statusOf(e) === Errno.ENOENT, `a-0 came back after a ${how}`);
      assert.ok((await c.read(1, 'kept')).data.equals(bodyFor('kept', 1, 10_000)));
      assert.ok((await c.read(1, 'c-5')).data.equals(bodyFor('c', 5, 20_000)));
    }
    c.close();
    await node.stop();
  });

  it('blob-size-limit: -ENOSPC clears once a compaction took the garbage back', async () => {
    const root = path.join(tmp.dir, 'enospc');
    const spec: NodeSpec = { backends: [{ id: 1, group: 1, 'blob-size': 256 * 1024, 'blob-size-limit': 1024 * 1024, 'defrag-timeout': 0 }] };
    const node = await startNode(root, spec);
    const c = await RawClient.connect(node.port);
    try {
      let full = false;
      for (let i = 0; i < 200 && !full; i++) {
        try {
          await c.write(1, `slot-${i % 4}`, bodyFor('slot', i, 30_000));
        } catch (err) {
          assert.equal(statusOf(err), Errno.ENOSPC);
          full = true;
        }
      }
      assert.ok(full, 'overwrites filled the backend to its limit');
      await assert.rejects(c.write(1, 'one-more', bodyFor('x', 0, 30_000)), (e) => statusOf(e) === Errno.ENOSPC);
      await control(c, 1, BackendCommand.START_DEFRAG, DefragLevel.COMPACT);
      await untilDefragDone(c, 1);
      await c.write(1, 'one-more', bodyFor('x', 0, 30_000));
      assert.ok((await c.read(1, 'one-more')).data.equals(bodyFor('x', 0, 30_000)));
    } finally {
      c.close();
      await node.stop();
    }
  });

  it('a defragmentation of one backend does not hold up requests to the others (or to its own keys)', async () => {
    const root = path.join(tmp.dir, 'others');
    // Rate-limited to 512 KiB/s over ~3 MiB of live data: the run lasts seconds.
    const spec: NodeSpec = { backends: [{ id: 1, group: 1, 'blob-size': 1024 * 1024, 'defrag-timeout': 0, 'defrag-rate-limit': 512 * 1024 }, { id: 2, group: 2, 'defrag-timeout': 0 }] };
    const node = await startNode(root, spec);
    const c = await RawClient.connect(node.port);
    try {
      for (let v = 0; v < 3; v++) for (let i = 0; i < 48; i++) await c.write(1, `big-${i}`, bodyFor(`big-${i}`, v, 64 * 1024));
      await control(c, 1, BackendCommand.START_DEFRAG, DefragLevel.FULL);
      const b1 = node.backends[0]!;
      assert.ok(b1.defrag.active);
      // 200 writes and reads on backend 2, and reads of backend 1's own keys, all finish while it runs.
      for (let i = 0; i < 100; i++) {
        await c.write(2, `other-${i}`, bodyFor('other', i, 8192));
        assert.ok((await c.read(2, `other-${i}`)).data.equals(bodyFor('other', i, 8192)));
        if (i % 10 === 0) assert.ok((await c.read(1, `big-${i % 48}`)).data.equals(bodyFor(`big-${i % 48}`, 2, 64 * 1024)));
      }
      assert.ok(b1.defrag.active, 'the other backend\'s requests completed while backend 1 was still defragmenting');
      assert.equal(await defragStateOf(c, 2), DefragState.NOT_STARTED);
      assert.equal(await defragStateOf(c, 1), DefragState.DATA_SORT);
      await control(c, 1, BackendCommand.STOP_DEFRAG);
      await untilDefragDone(c, 1);
      for (let i = 0; i < 48; i++) assert.ok((await c.read(1, `big-${i}`)).data.equals(bodyFor(`big-${i}`, 2, 64 * 1024)));
    } finally {
      c.close();
      await node.stop();
    }
  });

  it('starts automatically once a blob passes defrag-percentage (and not when defrag-timeout is 0)', async () => {
    const root = path.join(tmp.dir, 'auto');
    const spec: NodeSpec = { backends: [{ id: 1, group: 1, 'blob-size': 1024 * 1024, 'defrag-timeout': 1 }, { id: 2, group: 2, 'blob-size': 1024 * 1024, 'defrag-timeout': 0 }] };
    const node = await startNode(root, spec);
    const c = await RawClient.connect(node.port);
    try {
      for (const g of [1, 2]) for (let v = 0; v < 4; v++) for (let i = 0; i < 20; i++) await c.write(g, `auto-${i}`, bodyFor(`auto-${i}`, v, 60_000));
      const garbage = (b: number): number => node.backends[b]!.summary().recordsRemovedSize;
      assert.ok(garbage(0) > 2 * 1024 * 1024 && garbage(1) > 2 * 1024 * 1024);
      const until = Date.now() + 30_000;
      while (garbage(0) > 1024 * 1024 && Date.now() < until) await new Promise((r) => setTimeout(r, 100));
      assert.ok(garbage(0) <= 1024 * 1024, `backend 1 still holds ${garbage(0)} dead bytes`);
      assert.ok(garbage(1) > 2 * 1024 * 1024, 'backend 2 (defrag-timeout 0) was left alone');
      for (let i = 0; i < 20; i++) assert.ok((await c.read(1, `auto-${i}`)).data.equals(bodyFor(`auto-${i}`, 3, 60_000)));
    } finally {
      c.close();
      await node.stop();
    }
  });
});

describe('index snapshot', () => {
  const tmp = tempDir('backrunner-snapshot-');
  after(() => tmp.cleanup());

  it('a clean stop leaves a snapshot; the next start reads it and scans only what came after', async () => {
    const root = path.join(tmp.dir, 'clean');
    const spec: NodeSpec = { backends: [{ id: 1, group: 1, 'defrag-timeout': 0, 'index-snapshot-interval': 0 }] };
    let node = await startNode(root, spec);
    let c = await RawClient.connect(node.port);
    for (let i = 0; i < 500; i++) await c.write(1, `s-${i}`, bodyFor('s', i, 2000));
    await c.remove(1, 's-7');
    c.close();
    await node.stop();

    node = await startNode(root, spec);
    const from = node.backends[0]!.startedFrom;
    assert.equal(from.snapshot, true);
    assert.equal(from.scannedBytes, 0, 'nothing was written after the snapshot');
    c = await RawClient.connect(node.port);
    assert.ok((await c.read(1, 's-499')).data.equals(bodyFor('s', 499, 2000)));
    await assert.rejects(c.read(1, 's-7'), (e) => statusOf(e) === Errno.ENOENT);
    c.close();
    await node.stop();
  });

  it('a damaged snapshot is ignored: the start scans every blob and serves everything', async () => {
    const root = path.join(tmp.dir, 'damaged');
    const spec: NodeSpec = { backends: [{ id: 1, group: 1, 'defrag-timeout': 0 }] };
    let node = await startNode(root, spec);
    let c = await RawClient.connect(node.port);
    for (let i = 0; i < 50; i++) await c.write(1, `d-${i}`, bodyFor('d', i, 3000));
    const dir = node.backends[0]!.dir;
    c.close();
    await node.stop();
    const file = path.join(dir, 'index.snapshot');
    const bytes = fs.readFileSync(file);
    bytes[200] = bytes[200]! ^ 0x40;
    fs.writeFileSync(file, bytes);

    node = await startNode(root, spec);
    assert.equal(node.backends[0]!.startedFrom.snapshot, false);
    c = await RawClient.connect(node.port);
    for (let i = 0; i < 50; i++) assert.ok((await c.read(1, `d-${i}`)).data.equals(bodyFor('d', i, 3000)));
    c.close();
    await node.stop();
  });

  it('a prepared upload in the snapshot, committed after it: the start sees the commit', async () => {
    const root = path.join(tmp.dir, 'pending');
    const spec: NodeSpec = { backends: [{ id: 1, group: 1, 'defrag-timeout': 0, 'index-snapshot-interval': 0 }] };
    let node = await startNode(root, spec);
    let c = await RawClient.connect(node.port);
    const body = bodyFor('chunked', 1, 300_000);
    const { IoFlags } = await import('../../src/elliptics/protocol/index.js');
    await c.write(1, 'chunked', body.subarray(0, 100_000), { ioFlags: IoFlags.PREPARE | IoFlags.PLAIN_WRITE, num: body.length });
    const dir = node.backends[0]!.dir;
    await node.backends[0]!.saveSnapshot();
    fs.copyFileSync(path.join(dir, 'index.snapshot'), path.join(dir, 'index.snapshot.kept'));
    await c.write(1, 'chunked', body.subarray(100_000), { ioFlags: IoFlags.COMMIT | IoFlags.PLAIN_WRITE, offset: 100_000, num: body.length });
    // The snapshot from before the commit comes back (as after a kill): it names the record as prepared.
    c.close();
    await node.stop();
    fs.rmSync(path.join(dir, 'index.snapshot'));
    fs.renameSync(path.join(dir, 'index.snapshot.kept'), path.join(dir, 'index.snapshot'));
    node = await startNode(root, spec);
    assert.equal(node.backends[0]!.startedFrom.snapshot, true);
    c = await RawClient.connect(node.port);
    assert.ok((await c.read(1, 'chunked')).data.equals(body));
    c.close();
    await node.stop();
  });
});

describe('SIGKILL during defragmentation', () => {
  const tmp = tempDir('backrunner-defrag-kill-');
  after(() => tmp.cleanup());

  it('under writes, overwrites and removes: every key holds its last acknowledged state or the one in flight, across rounds', async (t) => {
    const root = path.join(tmp.dir, 'node');
    // Small blobs, automatic defragmentation every second at a low threshold, a slow copy and a
    // snapshot every second: kills land in every phase (copy, swap, snapshot write, install).
    // Odd rounds only write, into one big blob, so that their kills land between snapshots and the
    // next start reads one and scans its tail.
    const specFor = (round: number): NodeSpec => ({
      backends: [{ id: 1, group: 1, 'blob-size': round % 2 ? 64 * 1024 * 1024 : 256 * 1024, 'defrag-percentage': 10, 'defrag-timeout': round % 2 ? 0 : 1, 'defrag-rate-limit': 2 * 1024 * 1024, 'index-snapshot-interval': 1 }],
    });
    const spec = specFor(0);
    /** A key's content: the version written last, or 0 when it is absent or removed. */
    const KEYS = 48;
    const acked: number[] = new Array(KEYS).fill(0);
    const inFlight: (number | undefined)[] = new Array(KEYS).fill(undefined);
    const keyOf = (k: number): string => `kill-${k}`;
    const sizeOf = (k: number, v: number): number => 1000 + ((k * 7919 + v * 104_729) % 30_000);
    const content = (k: number, v: number): Buffer => {
      const body = bodyFor(keyOf(k), v, sizeOf(k, v));
      Buffer.from(String(v).padEnd(12)).copy(body);
      return body;
    };
    let version = 0;
    let compactions = 0;
    let snapshotStarts = 0;

    const verify = async (c: RawClient, when: string): Promise<void> => {
      for (let k = 0; k < KEYS; k++) {
        let seen = 0;
        try {
          const got = (await c.read(1, keyOf(k))).data;
          seen = Number(got.subarray(0, 12).toString().trim());
          assert.ok(seen > 0 && got.equals(content(k, seen)), `${when}: ${keyOf(k)} is not a whole version (it says v${seen})`);
        } catch (err) {
          if (err instanceof assert.AssertionError) throw err;
          assert.equal(statusOf(err), Errno.ENOENT, `${when}: ${keyOf(k)}: ${(err as Error).message}`);
        }
        assert.ok(seen === acked[k] || seen === inFlight[k],
          `${when}: ${keyOf(k)} holds ${seen ? `v${seen}` : 'nothing'}; acknowledged ${acked[k] ? `v${acked[k]}` : 'nothing'}, in flight ${inFlight[k] === undefined ? '-' : inFlight[k] ? `v${inFlight[k]}` : 'a remove'}`);
        acked[k] = seen; // what is on disk now is what the next round starts from
        inFlight[k] = undefined;
      }
    };

    for (let round = 0; round < 6; round++) {
      if (fs.existsSync(path.join(root, 'b1-g1', 'index.snapshot'))) snapshotStarts++;
      const child = await spawnNode(root, specFor(round));
      const c = await RawClient.connect(child.port);
      if (round > 0) await verify(c, `start of round ${round}`);
      let stop = false;
      const worker = async (w: number): Promise<void> => {
        for (let i = 0; !stop; i++) {
          const k = w + 8 * (i % (KEYS / 8));
          const next = i % 5 === 4 ? 0 : ++version;
          inFlight[k] = next;
          try {
            if (next === 0) {
              const st = await c.remove(1, keyOf(k));
              if (st !== 0 && st !== Errno.ENOENT) throw new Error(`remove of ${keyOf(k)}: ${st}`);
            } else await c.write(1, keyOf(k), content(k, next));
            acked[k] = next;
            inFlight[k] = undefined;
            // Paced in write-only rounds: the last versions then lie in the tail after the snapshot.
            if (round % 2) await new Promise((r) => setTimeout(r, 10));
          } catch {
            return; // killed under us: this key's in-flight state stays recorded
          }
        }
      };
      const kicker = async (): Promise<void> => {
        while (!stop) {
          await new Promise((r) => setTimeout(r, 150));
          try {
            if ((await control(c, 1, BackendCommand.START_DEFRAG, DefragLevel.COMPACT)).at(-1)!.header.status === 0) compactions++;
          } catch {
            return;
          }
        }
      };
      const running = [...Array.from({ length: 8 }, (_, w) => worker(w)), ...(round % 2 ? [] : [kicker()])];
      await new Promise((r) => setTimeout(r, (round % 2 ? 2200 : 600) + Math.random() * 1400));
      child.proc.kill('SIGKILL');
      stop = true;
      await Promise.all(running);
      await child.exited;
      c.close();
    }

    if (fs.existsSync(path.join(root, 'b1-g1', 'index.snapshot'))) snapshotStarts++;
    const child = await spawnNode(root, spec);
    const c = await RawClient.connect(child.port);
    try {
      await verify(c, 'after the last kill');
      // And once more after a whole compaction and a clean restart.
      await control(c, 1, BackendCommand.START_DEFRAG, DefragLevel.FULL);
      await untilDefragDone(c, 1);
    } finally {
      c.close();
      child.proc.kill('SIGTERM');
      await child.exited;
    }
    const again = await spawnNode(root, spec);
    const c2 = await RawClient.connect(again.port);
    try {
      await verify(c2, 'after a full compaction and a clean restart');
    } finally {
      c2.close();
      again.proc.kill('SIGTERM');
      await again.exited;
    }
    assert.ok(version > 200, `only ${version} writes were issued`);
    assert.ok(compactions > 0, 'no compaction started while the kills happened');
    assert.ok(snapshotStarts >= 3, `only ${snapshotStarts} restarts found an index snapshot`);
    t.diagnostic(`writes ${version}, compactions started ${compactions}, restarts with a snapshot on disk ${snapshotStarts} of 7`);
  });
});

describe('backrunner defrag (the operator\'s command)', () => {
  const tmp = tempDir('backrunner-defrag-cli-');
  after(() => tmp.cleanup());
  const BIN = fileURLToPath(new URL('../../../bin/backrunner', import.meta.url));
  const run = (...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> =>
    new Promise((resolve) => {
      execFile(BIN, ['defrag', ...args], (err, stdout, stderr) => resolve({ code: err ? ((err as { code?: number }).code ?? 1) : 0, stdout, stderr }));
    });

  it('status, compact --wait, and errors that name the flag to fix', async () => {
    const node = await startNode(path.join(tmp.dir, 'n'), { backends: [{ id: 1, group: 1, 'blob-size': 1024 * 1024, 'defrag-timeout': 0 }] });
    const c = await RawClient.connect(node.port);
    const remote = `127.0.0.1:${node.port}`;
    try {
      for (let v = 0; v < 4; v++) for (let i = 0; i < 20; i++) await c.write(1, `cli-${i}`, bodyFor(`cli-${i}`, v, 50_000));
      const before = await run('status', '-r', remote, '-b', '1', '--json');
      assert.equal(before.code, 0, before.stderr);
      const b = JSON.parse(before.stdout) as { state: string; removedBytes: number; blobsWanting: number };
      assert.equal(b.state, 'not-started');
      assert.ok(b.removedBytes > 2 * 1024 * 1024 && b.blobsWanting > 0, before.stdout);

      const human = await run('status', '--remote', remote, '--backend', '1');
      assert.match(human.stdout, /^backend 1: defragmentation not-started\n {2}blobs: .* dead holding [\d.]+ MiB \([\d.]+ %\); \d+ blob\(s\) want defragmentation\n {2}last run: started never/);

      const done = await run('compact', '-r', remote, '-b', '1', '--wait', '--json');
      assert.equal(done.code, 0, done.stderr);
      const after = JSON.parse(done.stdout.trim().split('\n').at(-1)!) as { state: string; removedBytes: number; lastCompletion: number; lastStatus: number };
      assert.equal(after.state, 'not-started');
      assert.ok(after.removedBytes < b.removedBytes / 2, `${after.removedBytes} dead bytes left of ${b.removedBytes}`);
      assert.ok(after.lastCompletion > 0);
      assert.equal(after.lastStatus, 0);
      for (let i = 0; i < 20; i++) assert.ok((await c.read(1, `cli-${i}`)).data.equals(bodyFor(`cli-${i}`, 3, 50_000)));

      const stop = await run('stop', '-r', remote, '-b', '1');
      assert.equal(stop.code, 1);
      assert.match(stop.stderr, /backend 1: no defragmentation is running/);
      const nosuch = await run('status', '-r', remote, '-b', '9');
      assert.equal(nosuch.code, 1);
      assert.match(nosuch.stderr, /no backend 9 \(--backend\); it has 1/);
      const down = await run('status', '-r', '127.0.0.1:1', '-b', '1');
      assert.equal(down.code, 1);
      assert.match(down.stderr, /cannot reach the storage node at 127\.0\.0\.1:1 \(--remote\)/);
      const bad = await run('status', '-r', 'nowhere', '-b', '1');
      assert.equal(bad.code, 2);
      assert.match(bad.stderr, /--remote: "nowhere" is not host:port/);
    } finally {
      c.close();
      await node.stop();
    }
  });
});
