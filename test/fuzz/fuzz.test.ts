// A short budget of every fuzz target (npm run fuzz runs the long ones), the findings of earlier
// runs replayed as regressions, and a check that the runner itself finds a planted bug.

import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { runTarget } from './runner.js';
import type { Target } from './target.js';
import { TARGETS } from './targets/index.js';

/** Fixed, so that a failure here replays with `npm run fuzz -- --seed 20261203 --target <name>`. */
const SEED = 20261203;
const SECONDS_PER_WEIGHT = 2;
const REGRESSIONS = fileURLToPath(new URL('../../../test/fuzz/regressions/', import.meta.url));

describe('fuzzing, a short budget per target', { timeout: 300_000 }, () => {
  for (const target of TARGETS) {
    it(`${target.name}: ${target.description}`, async (t) => {
      const r = await runTarget(target, SEED, SECONDS_PER_WEIGHT * target.weight);
      if (r.skipped) return t.skip(r.skipped);
      t.diagnostic(`${r.cases} cases in ${r.seconds.toFixed(1)} s`);
      assert.ok(r.cases > 100, `only ${r.cases} cases ran`);
      assert.deepEqual(r.findings.map((f) => `case ${f.case}: ${f.problem}`), []);
    });
  }
});

describe('fuzz findings of earlier runs, replayed', () => {
  const files = readdirSync(REGRESSIONS).filter((f) => f.endsWith('.bin'));
  it('every regression names a known target', () => {
    for (const f of files) assert.ok(TARGETS.some((t) => f.startsWith(`${t.name}--`)), `${f}: no target ${f.split('--')[0]}`);
  });
  for (const target of TARGETS) {
    const mine = files.filter((f) => f.startsWith(`${target.name}--`));
    if (mine.length === 0) continue;
    it(`${target.name}: ${mine.length} input(s) handled properly`, async (t) => {
      const why = target.unavailable?.();
      if (why) return t.skip(why);
      const harness = await target.start();
      try {
        for (const f of mine) assert.equal(await harness.check(readFileSync(REGRESSIONS + f)), undefined, f);
        assert.equal(await harness.alive?.(), undefined);
      } finally {
        await harness.close();
      }
    });
  }
});

it('the runner finds a planted bug and keeps the input that replays it', async () => {
  const fragile: Target = {
    name: 'fragile',
    description: 'a parser that breaks on 0xff in its third byte',
    async start() {
      return {
        make: (rng) => rng.bytes(4),
        async check(input) {
          return input[2] === 0xff ? 'TypeError: planted' : undefined;
        },
        async close() {},
      };
    },
  };
  const r = await runTarget(fragile, 7, 0.5);
  assert.ok(r.findings.length > 0 && r.findings.length <= 3, `${r.findings.length} findings`);
  for (const f of r.findings) assert.equal(f.input[2], 0xff);
});
