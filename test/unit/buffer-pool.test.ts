// The buffer pool (src/util/buffer-pool.ts): size classes, its ceiling, and handing idle buffers back.

import test from 'node:test';
import assert from 'node:assert/strict';
import { BufferPool, reclaimIdle } from '../../src/util/buffer-pool.js';

test('buffer pool: sizes round up to 64 KiB classes, small sizes are not pooled, the cap holds', () => {
  const pool = new BufferPool(3 * 64 * 1024);
  const a = pool.acquire(200 * 1024);
  assert.equal(a.length, 256 * 1024);
  const small = pool.acquire(1000);
  assert.equal(small.length, 1000);
  pool.release(small);
  assert.notEqual(pool.acquire(1000), small);
  pool.release(a); // above the cap: dropped
  assert.notEqual(pool.acquire(200 * 1024), a);
  const b = pool.acquire(130 * 1024);
  pool.release(b);
  assert.equal(pool.acquire(129 * 1024), b);
});

test('buffer pool: buffers come back by size class (powers of two from 8 KiB, then 64 KiB steps), within its ceiling, and not below its threshold', () => {
  const pool = new BufferPool(300 * 1024, 4 * 1024);
  assert.equal(pool.acquire(4096).length, 4096, 'at the threshold: an ordinary allocation of the size asked');
  const a = pool.acquire(4097);
  assert.equal(a.length, 8192);
  const b = pool.acquire(70_000);
  assert.equal(b.length, 128 * 1024);
  const c = pool.acquire(20_000);
  assert.equal(c.length, 32 * 1024);
  pool.release(a);
  pool.release(b);
  pool.release(c);
  assert.equal(pool.acquire(5000), a, 'the same class: the same buffer again');
  assert.equal(pool.acquire(100_000), b);
  assert.equal(pool.acquire(17_000), c);
  const big = [pool.acquire(200 * 1024), pool.acquire(200 * 1024)];
  for (const x of big) pool.release(x);
  const again = [pool.acquire(200 * 1024), pool.acquire(200 * 1024)];
  assert.equal(again.filter((x) => big.includes(x)).length, 1, 'the ceiling (300 KiB) kept one of the two 256 KiB buffers');
  const odd = Buffer.allocUnsafeSlow(10_000);
  pool.release(odd);
  assert.notEqual(pool.acquire(9000), odd, 'a buffer of no class is not taken in');
});

test('buffer pool: a pool not used between two reclaim rounds hands its buffers back; one in use keeps them', () => {
  const idle = new BufferPool(1 << 20);
  const busy = new BufferPool(1 << 20);
  const a = idle.acquire(200 * 1024);
  const b = busy.acquire(200 * 1024);
  idle.release(a);
  busy.release(b);
  assert.equal(idle.kept, 256 * 1024);
  reclaimIdle(); // both were used since the last round: nothing is dropped yet
  assert.equal(idle.kept, 256 * 1024);
  assert.equal(busy.kept, 256 * 1024);
  busy.release(busy.acquire(200 * 1024)); // in use again before the next round
  const dropped = reclaimIdle();
  assert.ok(dropped >= 256 * 1024, `dropped ${dropped}`);
  assert.equal(idle.kept, 0, 'the idle pool dropped its buffer');
  assert.equal(busy.kept, 256 * 1024, 'the busy pool kept its buffer');
  assert.notEqual(idle.acquire(200 * 1024), a, 'after a trim the pool allocates afresh');
  assert.equal(busy.acquire(200 * 1024), b);
});
