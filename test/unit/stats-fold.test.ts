// A worker's counters and the primary's fold of every worker's reports: request totals by code,
// write health per backend (PID fed once per tick, decay while idle), rates over a window, shares
// of automatic uploads, command rates between two MONITOR_STAT replies.

import { it } from 'node:test';
import assert from 'node:assert/strict';
import { WRITE_ERROR_PAIN } from '../../src/buckets/pid.js';
import type { BackendStats } from '../../src/elliptics/stats.js';
import { commandRates, StatsFold } from '../../src/primary/stats-fold.js';
import { WorkerStats } from '../../src/proxy/worker-stats.js';

const pools = { inFlight: 0, shed: 0, localReads: 0, localMisses: 0, pools: [] };

it('a worker reports requests by code (bytes in and out apart), writes per backend, choices', () => {
  const w = new WorkerStats(1);
  w.request('get', 200, 0, 4096, 0.002);
  w.request('get', 206, 0, 100, 0.2);
  w.request('upload', 200, 4096, 300, 0.003);
  w.write('10.0.0.1:1025:2/1', true, 4096, 1500);
  w.write('10.0.0.1:1025:2/1', false, 4096, 30_000, 'no reply within 30000 ms');
  w.chose('b1');
  w.chose('b1');
  const r = w.drain(pools);
  assert.equal(r.worker, 1);
  assert.deepEqual(Object.keys(r.requests.get!), ['200', '206']);
  assert.equal(r.requests.upload!['200']!.bytesIn, 4096);
  assert.equal(r.requests.upload!['200']!.bytesOut, 300);
  assert.deepEqual(r.requests.get!['206']!.latency.le.slice(5, 7), [0, 1], '0.2 s falls under the 0.25 s bound');
  assert.deepEqual({ ...r.writes['10.0.0.1:1025:2/1']!, latency: undefined }, {
    writes: 2, errors: 1, bytes: 8192, micros: 31_500, latency: undefined, lastError: 'no reply within 30000 ms',
    // The cost model sees the successful write alone (a timeout says nothing about how long a write takes).
    cost: { writes: 1, bytes: 4096, sizeSq: 4096 * 4096, micros: 1500, sizeMicros: 4096 * 1500 },
  });
  assert.deepEqual(r.choices, { b1: 2 });
  assert.equal(w.failedRecently('10.0.0.1:1025:2/1', Date.now()), true, 'the worker keeps a failed backend out at once');
  assert.equal(w.failedRecently('10.0.0.1:1025:2/1', Date.now() + 10_000), false);
  assert.deepEqual(w.drain(pools).requests, {}, 'drained');
});

it('the primary feeds each backend\'s PID once per tick: µs per byte, the error pain on a failure, decay when idle', () => {
  let now = 1_000_000;
  const fold = new StatsFold(() => now);
  const report = (writes: Record<string, [number, number, number, number]>) => {
    const w = new WorkerStats(0);
    for (const [key, [n, errors, bytes, micros]] of Object.entries(writes)) {
      for (let i = 0; i < n; i++) w.write(key, i >= errors, bytes / n, micros / n);
    }
    fold.addReport(w.drain(pools));
  };
  report({ fast: [10, 0, 40960, 10_240], slow: [1, 0, 4096, 100_000] });
  report({ fast: [10, 0, 40960, 10_240] }); // a second worker, same tick
  now += 1000;
  fold.tick();
  let v = fold.view([]);
  // fast: 20480 µs / 81920 B = 0.25 µs/B, fed once: 0.25 + 0.3·0.25/1 (dt since creation = 1 s).
  assert.ok(Math.abs(v.backends.fast!.pid.pain - 0.325) < 1e-9, String(v.backends.fast!.pid.pain));
  assert.ok(v.backends.slow!.pid.pain > 24);
  assert.equal(v.backends.fast!.totals.writes, 20);
  report({ slow: [2, 1, 8192, 1000] });
  now += 1000;
  fold.tick();
  v = fold.view([]);
  assert.ok(v.backends.slow!.pid.pain >= WRITE_ERROR_PAIN, 'one failed write in the tick: the error pain');
  const before = v.backends.fast!.pid.pain;
  now += 3000;
  fold.tick();
  assert.ok(Math.abs(fold.view([]).backends.fast!.pid.pain - (0.25 + (before - 0.25) / 8)) < 1e-12, 'three idle seconds: the excess over its speed halved three times');
});

it('rates over the last seconds per handler and class; shares of automatic uploads over the last minute', () => {
  let now = 2_000_000;
  const fold = new StatsFold(() => now);
  for (let s = 0; s < 12; s++) {
    const w = new WorkerStats(0);
    for (let i = 0; i < 20; i++) w.request('get', 200, 0, 1000, 0.001);
    w.request('get', 404, 0, 10, 0.001);
    w.chose(s % 4 === 0 ? 'b2' : 'b1');
    fold.addReport(w.drain(pools));
    now += 1000;
    fold.tick();
  }
  const v = fold.view([]);
  assert.equal(v.rates.get!['200']!.rps, 20);
  assert.equal(v.rates.get!['200']!.bps, 20_000);
  assert.equal(v.rates.get!['400']!.rps, 1);
  assert.equal(v.requests.get!['200']!.requests, 240, 'lifetime totals beside the rates');
  assert.deepEqual(v.shares, { b1: { chosen: 9, share: 0.75 }, b2: { chosen: 3, share: 0.25 } });
  now += 120_000;
  fold.tick();
  assert.deepEqual(fold.view([]).shares, {}, 'a minute later the shares are empty');
});

it('command rates between two MONITOR_STAT replies', () => {
  const st = (success: number, bytes: number): BackendStats => ({
    address: 'n:1:2', backendId: 3, group: 1, readOnly: false, delay: 0, defragState: 0, defragStartTime: 0, defragCompletionTime: 0, defragCompletionStatus: 0,
    error: 0, total: 0, avail: 0, limit: 0, used: 0, removedSize: 0, recordsTotal: 0, recordsRemoved: 0, recordsCorrupted: 0,
    commands: { WRITE: { requestsSuccess: success, requestsFailures: 1, bytes } },
  });
  const r = commandRates([st(100, 1000)], 10_000, [st(150, 6000)], 15_000);
  assert.deepEqual(r.get('n:1:2/3'), { WRITE: { rpsSuccess: 10, rpsFailures: 0, bps: 1000 } });
});
