// The PID controller of spec §12.5 (Kp 1, Ki 0, Kd 0.3, halving when faster) and our decay.

import { it } from 'node:test';
import assert from 'node:assert/strict';
import { decayPid, feedPid, newPid, PAIN_HALF_LIFE_MS, WRITE_ERROR_PAIN } from '../../src/buckets/pid.js';
import { PAIN } from '../../src/buckets/selection.js';

it('u = e + 0.3·de/dt; dt = 0 changes nothing; state carries the error and time', () => {
  const t0 = 1_000_000;
  let s = newPid(t0);
  assert.equal(feedPid(s, 5, t0), s, 'dt = 0: no change');
  s = feedPid(s, 2, t0 + 1000); // e 2, previous 0, dt 1 s: 2 + 0.3·2 = 2.6
  assert.ok(Math.abs(s.pain - 2.6) < 1e-12);
  assert.equal(s.error, 2);
  assert.equal(s.errorTime, t0 + 1000);
  s = feedPid(s, 3, t0 + 3000); // 3 + 0.3·(3−2)/2 = 3.15
  assert.ok(Math.abs(s.pain - 3.15) < 1e-12);
  assert.equal(s.integralError, 2 * 1 + 3 * 2, 'the integral accumulates e·dt (Ki is 0)');
});

it('faster than before (u ≤ 0): the pain halves plus one', () => {
  let s = feedPid(newPid(0), 10, 1000); // 10 + 3 = 13
  s = feedPid(s, 0.1, 1100); // 0.1 + 0.3·(−9.9)/0.1 < 0 → 13/2 + 1
  assert.ok(Math.abs(s.pain - 7.5) < 1e-12);
});

it('idle, a slow backend keeps its measured pain: only the excess over its last speed decays', () => {
  let s = feedPid(newPid(0), 25, 1000);
  s = feedPid(s, 25, 2000);
  assert.equal(s.pain, 25);
  assert.equal(decayPid(s, 60_000).pain, 25);
  const slower = feedPid(s, 45, 3000); // 45 + 0.3·20 = 51; the last speed is now 45
  assert.ok(Math.abs(decayPid(slower, 3000 + PAIN_HALF_LIFE_MS).pain - (45 + 6 / 2)) < 1e-9);
});

it('a write error puts any upload past PAIN_HARD; decay brings a repaired backend back within a minute', () => {
  let s = feedPid(feedPid(newPid(0), 0.3, 1000), WRITE_ERROR_PAIN, 2000);
  assert.ok(s.pain * 4096 >= PAIN.HARD);
  s = decayPid(s, 2000 + 10 * PAIN_HALF_LIFE_MS);
  assert.ok(s.pain * 4096 >= PAIN.SOFT, 'still out after 10 half-lives');
  s = decayPid(s, 2000 + 60_000);
  assert.ok(Math.abs(s.pain - 0.3) < 1e-3, `back to its last write speed (0.3 µs/B) after a minute without writes: ${s.pain}`);
  const healthy = feedPid(s, 0.25, 70_000);
  assert.ok(healthy.pain < 1, 'a good measurement sets the pain again');
});
