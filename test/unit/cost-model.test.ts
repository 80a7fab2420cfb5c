// The write-cost model of bucket selection: the fit of fixed latency and time per byte, its decay
// towards the fleet's model, predictions for small and large uploads, and what the primary's fold
// makes of the example (one slow 17-byte write must not mark a backend slow for 1 MiB).

import assert from 'node:assert/strict';
import { it } from 'node:test';
import { addWrites, COST_HALF_LIFE_MS, decaySums, DEFAULT_COST, emptySums, fitCost, predictCost, type CostSums } from '../../src/buckets/cost-model.js';
import { WRITE_ERROR_PAIN } from '../../src/buckets/pid.js';
import { StatsFold } from '../../src/primary/stats-fold.js';
import { WorkerStats } from '../../src/proxy/worker-stats.js';

/** Sums of `n` writes of each size, taking `fixed + perByte × size` µs. */
function writes(sizes: number[], n: number, fixed: number, perByte: number): CostSums {
  let s = emptySums();
  for (const size of sizes) {
    const micros = fixed + perByte * size;
    s = addWrites(s, { writes: n, bytes: n * size, sizeSq: n * size * size, micros: n * micros, sizeMicros: n * size * micros });
  }
  return s;
}

it('fits fixed latency and time per byte from writes of several sizes', () => {
  const m = fitCost(writes([1000, 65_536, 1_048_576], 200, 800, 0.01));
  assert.ok(Math.abs(m.fixed - 800) < 20, `fixed ${m.fixed}`);
  assert.ok(Math.abs(m.perByte - 0.01) < 0.0005, `perByte ${m.perByte}`);
  assert.equal(m.weight, 600);
  // Predictions at both ends.
  assert.ok(Math.abs(predictCost(m, 4096) - (800 + 40.96)) < 25);
  assert.ok(Math.abs(predictCost(m, 1_048_576) - (800 + 10_485.76)) < 600);
});

it('writes of one size alone: the fixed part is theirs, the per-byte part leans on the prior', () => {
  const fleet = { fixed: 1000, perByte: 0.005, weight: 100 };
  // One write of 17 bytes that took 2.3 ms (the example).
  const one = fitCost(writes([17], 1, 2300, 0), fleet);
  const large = predictCost(one, 1_048_576);
  assert.ok(one.perByte >= 0 && one.fixed >= 0);
  assert.ok(large < 3 * predictCost(fleet, 1_048_576), `1 MiB predicted ${large} µs, the fleet's ${predictCost(fleet, 1_048_576)}`);
  assert.ok(predictCost(one, 4096) > predictCost(fleet, 4096), 'its small writes did look slower');
  // Many small writes only: the fixed latency is learnt, the throughput stays near the fleet's.
  const many = fitCost(writes([4096], 1000, 3000, 0.005), fleet);
  assert.ok(Math.abs(many.fixed - 3000) < 100, String(many.fixed));
});

it('decays towards the prior: a backend not measured for long is judged by the fleet', () => {
  const fleet = { fixed: 1000, perByte: 0.005, weight: 100 };
  const slow = writes([4096, 1_048_576], 50, 50_000, 0.1);
  assert.ok(fitCost(slow, fleet).perByte > 0.09);
  const later = decaySums(slow, 15 * COST_HALF_LIFE_MS);
  const m = fitCost(later, fleet);
  assert.ok(Math.abs(m.perByte - fleet.perByte) < 0.001 && Math.abs(m.fixed - fleet.fixed) < 200, JSON.stringify(m));
  assert.ok(later.n < 0.1);
  // Nothing measured anywhere: the default.
  const none = fitCost(emptySums());
  assert.ok(Math.abs(none.fixed - DEFAULT_COST.fixed) < 1e-6 && Math.abs(none.perByte - DEFAULT_COST.perByte) < 1e-12 && none.weight === 0, JSON.stringify(none));
});

it('the fold: a 17-byte named write does not make a backend the slowest for 1 MiB; a failure rejects at once, then decays', () => {
  let now = 5_000_000;
  const fold = new StatsFold(() => now);
  const w = new WorkerStats(0);
  for (let i = 0; i < 30; i++) {
    w.write('fast-a/1', true, 4096, 1000 + 4096 * 0.004);
    w.write('fast-b/1', true, 1_048_576, 1000 + 1_048_576 * 0.004);
  }
  w.write('odd/1', true, 17, 2300);
  fold.addReport(w.drain({ inFlight: 0, shed: 0, localReads: 0, localMisses: 0, pools: [] }));
  now += 1000;
  fold.tick();
  const v = fold.view([]);
  const mib = (k: string) => predictCost(v.backends[k]!.cost, 1_048_576);
  assert.ok(mib('odd/1') < 2 * Math.max(mib('fast-a/1'), mib('fast-b/1')), `odd ${mib('odd/1')} vs ${mib('fast-a/1')}, ${mib('fast-b/1')}`);
  assert.ok(Math.abs(v.fleet.perByte - 0.004) < 0.001, `the fleet's throughput: ${v.fleet.perByte}`);
  const f = new WorkerStats(0);
  f.write('odd/1', false, 4096, 10_000_000, 'timeout');
  fold.addReport(f.drain({ inFlight: 0, shed: 0, localReads: 0, localMisses: 0, pools: [] }));
  now += 1000;
  fold.tick();
  assert.equal(fold.view([]).backends['odd/1']!.failure, WRITE_ERROR_PAIN);
  now += 60_000;
  fold.tick();
  assert.equal(fold.view([]).backends['odd/1']!.failure, 0, 'a minute without failures: gone');
});
