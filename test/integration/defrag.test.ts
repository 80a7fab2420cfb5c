// Online defragmentation of the embedded node, over TCP as clients drive it: BACKEND_CONTROL
// start/compact/stop, MONITOR_STAT and BACKEND_STATUS during and after, space taken back, objects
// intact, removed keys staying removed across compaction and restarts, -ENOSPC clearing, other
// backends served meanwhile, and `backrunner defrag`. (Kills mid-run: defrag-crash.test.ts.)

import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { BackendCommand, Command, CommandFlags, Errno, splitFrames } from '../../src/elliptics/protocol/index.js';
import { decodeBackendStatusList } from '../../src/elliptics/protocol/backend.js';
import { backendControlRequest } from '../../src/elliptics/requests.js';
import type { Packet } from '../../src/elliptics/connection.js';
import type { StorageNode } from '../../src/storage-node/node.js';
import { DefragLevel, DefragState } from '../../src/storage-node/engine/defrag.js';
import { RawClient } from '../helpers/raw-client.js';
import { startNode, tempDir, type NodeSpec } from '../helpers/nodes.js';
import { fixture } from '../helpers/fixtures.js';
import { backendJson, bodyFor, control, defragStateOf, diskBytes, statusOf, untilDefragDone } from '../helpers/defrag.js';

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
