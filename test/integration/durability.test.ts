// What survives a restart, a torn tail, corruption and a SIGKILL in the middle of a write storm.

import { describe, it, after } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { Errno, IoFlags } from '../../src/elliptics/protocol/index.js';
import { RECORD_HEADER_SIZE } from '../../src/storage-node/engine/record.js';
import { RawClient } from '../helpers/raw-client.js';
import { spawnNode, startNode, tempDir } from '../helpers/nodes.js';

const statusOf = (e: unknown): number | undefined => (e as { status?: number }).status;

/** Deterministic content for a key: anyone can recompute what a write carried. */
function bodyFor(key: string, size: number): Buffer {
  const seed = createHash('sha256').update(key).digest();
  const out = Buffer.allocUnsafe(size);
  for (let i = 0; i < size; i += seed.length) seed.copy(out, i, 0, Math.min(seed.length, size - i));
  return out;
}

describe('durability', () => {
  const tmp = tempDir();
  after(() => tmp.cleanup());

  it('a restarted node has every committed object, none of the deleted ones, the newest of overwritten ones', async () => {
    const root = path.join(tmp.dir, 'restart');
    const spec = { backends: [{ id: 1, group: 1, 'blob-size': 200_000 }], sync: 'always' as const };
    let node = await startNode(root, spec);
    let c = await RawClient.connect(node.port);
    for (let i = 0; i < 20; i++) await c.write(1, `k${i}`, bodyFor(`k${i}`, 1000 + i * 997));
    await c.write(1, 'k3', Buffer.from('overwritten'));
    assert.equal(await c.remove(1, 'k4'), 0);
    await c.write(1, 'chunked', bodyFor('chunked', 150_000).subarray(0, 70_000), { ioFlags: IoFlags.PREPARE | IoFlags.PLAIN_WRITE, num: 150_000 });
    await c.write(1, 'chunked', bodyFor('chunked', 150_000).subarray(70_000), { ioFlags: IoFlags.COMMIT | IoFlags.PLAIN_WRITE, offset: 70_000, num: 150_000 });
    await c.write(1, 'half', Buffer.alloc(10), { ioFlags: IoFlags.PREPARE | IoFlags.PLAIN_WRITE, num: 100 });
    c.close();
    await node.stop();

    node = await startNode(root, spec);
    c = await RawClient.connect(node.port);
    for (let i = 0; i < 20; i++) {
      if (i === 3 || i === 4) continue;
      assert.deepEqual((await c.read(1, `k${i}`)).data, bodyFor(`k${i}`, 1000 + i * 997), `k${i}`);
    }
    assert.equal((await c.read(1, 'k3')).data.toString(), 'overwritten');
    await assert.rejects(c.read(1, 'k4'), (e) => statusOf(e) === Errno.ENOENT);
    assert.deepEqual((await c.read(1, 'chunked')).data, bodyFor('chunked', 150_000));
    await assert.rejects(c.read(1, 'half'), (e) => statusOf(e) === Errno.ENOENT);
    // The prepared upload survived the restart and can still be committed.
    await c.write(1, 'half', Buffer.alloc(90, 1), { ioFlags: IoFlags.COMMIT | IoFlags.PLAIN_WRITE, offset: 10, num: 100 });
    assert.equal((await c.read(1, 'half')).data.length, 100);
    c.close();
    await node.stop();
  });

  it('a torn last record is cut off at start-up; everything before it stays', async () => {
    const root = path.join(tmp.dir, 'torn');
    const spec = { backends: [{ id: 1, group: 1 }] };
    let node = await startNode(root, spec);
    let c = await RawClient.connect(node.port);
    await c.write(1, 'first', bodyFor('first', 5000));
    await c.write(1, 'second', bodyFor('second', 5000));
    const last = await c.write(1, 'torn', bodyFor('torn', 200_000));
    c.close();
    await node.stop();
    // Simulate a write cut short by a crash: keep only half of the last record.
    const file = last!.info.path;
    const recordStart = last!.info.offset - RECORD_HEADER_SIZE;
    fs.truncateSync(file, recordStart + 100_000);
    // And a crash left the node without its clean-shutdown marker.
    fs.rmSync(path.join(path.dirname(file), 'clean'), { force: true });

    node = await startNode(root, spec);
    c = await RawClient.connect(node.port);
    assert.deepEqual((await c.read(1, 'first')).data, bodyFor('first', 5000));
    assert.deepEqual((await c.read(1, 'second')).data, bodyFor('second', 5000));
    await assert.rejects(c.read(1, 'torn'), (e) => statusOf(e) === Errno.ENOENT);
    assert.equal(fs.statSync(file).size, recordStart, 'the torn tail was cut off');
    await c.write(1, 'after', bodyFor('after', 3000));
    c.close();
    await node.stop();
    node = await startNode(root, spec);
    c = await RawClient.connect(node.port);
    assert.deepEqual((await c.read(1, 'after')).data, bodyFor('after', 3000));
    c.close();
    await node.stop();
  });

  it('a damaged record in the middle: its reads fail with -EILSEQ, a broken header is skipped, the rest is served', async () => {
    const root = path.join(tmp.dir, 'damaged');
    const spec = { backends: [{ id: 1, group: 1 }] };
    let node = await startNode(root, spec);
    let c = await RawClient.connect(node.port);
    const a = await c.write(1, 'a', bodyFor('a', 70_000));
    const b = await c.write(1, 'b', bodyFor('b', 4000));
    await c.write(1, 'c', bodyFor('c', 4000));
    c.close();
    await node.stop();
    const fd = fs.openSync(a!.info.path, 'r+');
    fs.writeSync(fd, Buffer.from([0xff ^ bodyFor('a', 70_000)[66_000]!]), 0, 1, a!.info.offset + 66_000); // bit rot in chunk 1
    fs.writeSync(fd, Buffer.from('XXXX'), 0, 4, b!.info.offset - RECORD_HEADER_SIZE); // b's header magic
    fs.closeSync(fd);
    // The clean stop left an index snapshot, which spares the start its scan; without it the scan
    // meets the damage, which is what this test is about.
    fs.rmSync(path.join(path.dirname(a!.info.path), 'index.snapshot'));

    node = await startNode(root, spec);
    c = await RawClient.connect(node.port);
    await assert.rejects(c.read(1, 'a'), (e) => statusOf(e) === Errno.EILSEQ);
    // Chunk 0 is intact: a read that stays inside it still works.
    assert.deepEqual((await c.read(1, 'a', { size: 1000 })).data, bodyFor('a', 70_000).subarray(0, 1000));
    // Without verification the (damaged) bytes come back, as with a real node and NOCSUM.
    assert.equal((await c.read(1, 'a', { ioFlags: IoFlags.NOCSUM })).data.length, 70_000);
    await assert.rejects(c.read(1, 'b'), (e) => statusOf(e) === Errno.ENOENT);
    assert.deepEqual((await c.read(1, 'c')).data, bodyFor('c', 4000));
    c.close();
    await node.stop();
  });

  for (const sync of [1, 'always'] as const) {
    it(`SIGKILL during concurrent writes (sync ${sync}): every acknowledged write is intact, the others intact or absent`, async (t) => {
      const root = path.join(tmp.dir, `kill-${sync}`);
      const spec = { backends: [{ id: 1, group: 1, 'blob-size': 4 * 1024 * 1024 }, { id: 2, group: 2 }], sync };
      const acked = new Set<string>();
      const attempted = new Map<string, { size: number; group: number }>();
      for (let round = 0; round < 3; round++) {
        const child = await spawnNode(root, spec);
        const c = await RawClient.connect(child.port);
        let stop = false;
        let n = 0;
        const writer = async (w: number): Promise<void> => {
          while (!stop) {
            const i = n++;
            const key = `r${round}-w${w}-${i}`;
            const size = [100, 4096, 70_000, 300_000][i % 4]!;
            const group = 1 + (i % 2);
            attempted.set(key, { size, group });
            try {
              if (size === 300_000 && i % 3 === 0) {
                const body = bodyFor(key, size);
                await c.write(group, key, body.subarray(0, 100_000), { ioFlags: IoFlags.PREPARE | IoFlags.PLAIN_WRITE, num: size });
                await c.write(group, key, body.subarray(100_000), { ioFlags: IoFlags.COMMIT | IoFlags.PLAIN_WRITE, offset: 100_000, num: size });
              } else {
                await c.write(group, key, bodyFor(key, size));
              }
              acked.add(key);
            } catch {
              return; // the node died under us
            }
          }
        };
        const writers = Array.from({ length: 16 }, (_, w) => writer(w));
        await new Promise((r) => setTimeout(r, 400 + round * 350));
        child.proc.kill('SIGKILL');
        stop = true;
        await Promise.all(writers);
        await child.exited;
        c.close();
      }
      assert.ok(acked.size > 50, `only ${acked.size} writes were acknowledged before the kills`);

      const child = await spawnNode(root, spec);
      const c = await RawClient.connect(child.port);
      let unackedPresent = 0;
      for (const [key, { size, group }] of attempted) {
        try {
          const got = await c.read(group, key);
          assert.deepEqual(got.data, bodyFor(key, size), `${key} came back different`);
          if (!acked.has(key)) unackedPresent++;
        } catch (err) {
          assert.equal(statusOf(err), Errno.ENOENT, `${key}: ${(err as Error).message}`);
          assert.ok(!acked.has(key), `acknowledged ${key} was lost`);
        }
      }
      c.close();
      child.proc.kill('SIGTERM');
      await child.exited;
      // Writes in flight at a kill: some made it to disk whole, the rest are absent — never torn.
      assert.ok(attempted.size > acked.size, 'the kills hit writes in flight');
      t.diagnostic(`acknowledged ${acked.size}, in flight at the kills ${attempted.size - acked.size}, of those on disk intact ${unackedPresent}`);
    });
  }
});
