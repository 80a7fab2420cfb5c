// WriteLane on a real file: one thread-pool write at a time per file, the queued writes that
// continue one another in one pwritev, every write at its own position whatever the order.

import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { WriteLane } from '../../src/storage-node/engine/write-lane.js';

function withFile(fn: (fd: number, file: string) => Promise<void>): Promise<void> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'write-lane-'));
  const file = path.join(dir, 'blob');
  const fd = fs.openSync(file, 'w+');
  return fn(fd, file).finally(() => {
    fs.closeSync(fd);
    fs.rmSync(dir, { recursive: true, force: true });
  });
}

const piece = (i: number, n: number): Buffer => Buffer.alloc(n, 0x41 + (i % 26));

describe('WriteLane', () => {
  it('writes issued together and back to back leave in two batches: the first alone, the rest together', () => withFile(async (fd, file) => {
    const lane = new WriteLane(fd);
    const size = 256 * 1024;
    // Each record in two parts, as the node writes them (header, data).
    await Promise.all(Array.from({ length: 10 }, (_, i) => lane.write([piece(i, 128), piece(i, size - 128)], i * size, size)));
    assert.equal(lane.batches, 2);
    assert.equal(lane.busy, false);
    const got = fs.readFileSync(file);
    assert.equal(got.length, 10 * size);
    for (let i = 0; i < 10; i++) assert.ok(got.subarray(i * size, (i + 1) * size).equals(piece(i, size)), `record ${i}`);
  }));

  it('writes that do not continue one another are not joined, and each lands at its own place', () => withFile(async (fd, file) => {
    const lane = new WriteLane(fd);
    const size = 64 * 1024;
    const order = [7, 2, 5, 0, 3, 6, 1, 4];
    await Promise.all(order.map((i) => lane.write([piece(i, size)], i * size, size)));
    assert.equal(lane.batches, order.length);
    const got = fs.readFileSync(file);
    for (let i = 0; i < order.length; i++) assert.ok(got.subarray(i * size, (i + 1) * size).equals(piece(i, size)), `record ${i}`);
  }));

  it('a batch stays within 8 MiB', () => withFile(async (fd) => {
    const lane = new WriteLane(fd);
    const size = 1024 * 1024;
    await Promise.all(Array.from({ length: 18 }, (_, i) => lane.write([piece(i, size)], i * size, size)));
    // 1 alone, then 17 queued: 8 + 8 + 1.
    assert.equal(lane.batches, 4);
  }));

  it('a batch that fails part way: the write that landed whole succeeds, the one that did not fails', async (t) => {
    // The file size limit of the filesystem: ext4 stops files at 16 TiB − 4 KiB (EFBIG beyond).
    const limit = 2 ** 44 - 4096;
    await withFile(async (fd, file) => {
      try {
        fs.writeSync(fd, Buffer.alloc(1), 0, 1, limit);
        return t.skip(`the filesystem of ${file} takes writes at 16 TiB (no size limit there to fail against)`);
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'EFBIG') throw err;
      }
      const lane = new WriteLane(fd);
      // The first write goes alone; the two behind it continue one another and leave as one batch,
      // of which the kernel takes the first half (a short write) and refuses the rest.
      const first = lane.write([piece(0, 4096)], 0, 4096);
      const landed = lane.write([piece(1, 4096)], limit - 4096, 4096);
      const refused = lane.write([piece(2, 4096)], limit, 4096);
      const [a, b, c] = await Promise.allSettled([first, landed, refused]);
      assert.equal(a.status, 'fulfilled');
      assert.equal(b.status, 'fulfilled', 'the write below the limit landed whole: it must not be reported failed');
      assert.equal(c.status === 'rejected' && (c.reason as NodeJS.ErrnoException).code, 'EFBIG');
      assert.equal(lane.batches, 2);
      const back = Buffer.alloc(4096);
      fs.readSync(fd, back, 0, 4096, limit - 4096);
      assert.ok(back.equals(piece(1, 4096)));
    });
  });

  it('a failed write rejects its own promise and those of its batch, and the lane goes on', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'write-lane-'));
    const file = path.join(dir, 'blob');
    fs.writeFileSync(file, '');
    const fd = fs.openSync(file, 'r'); // not writable: every write fails with EBADF
    try {
      const lane = new WriteLane(fd);
      const results = await Promise.allSettled(Array.from({ length: 4 }, (_, i) => lane.write([piece(i, 4096)], i * 4096, 4096)));
      for (const r of results) assert.equal(r.status === 'rejected' && (r.reason as NodeJS.ErrnoException).code, 'EBADF');
      assert.equal(lane.busy, false);
    } finally {
      fs.closeSync(fd);
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});
