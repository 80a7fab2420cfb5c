// One minute of the soak (bench/soak.ts; `npm run soak -- --minutes 30` is the long run): the
// default deployment under mixed, checked traffic with SIGHUPs, a worker killed and a compaction
// squeezed into the minute. It must pass its own checks (no failure but the killed worker's
// requests in flight, no growth of RSS or fds after warm-up) and write its table and charts.

import { it } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { tempDir } from '../helpers/nodes.js';

const SOAK = fileURLToPath(new URL('../../bench/soak.js', import.meta.url));

it('one minute of soak: SIGHUPs, a worker killed, a compaction; nothing else fails, nothing grows', { timeout: 240_000 }, async (t) => {
  const results = tempDir('backrunner-soak-results-');
  try {
    const proc = spawn(process.execPath, [SOAK, '--minutes', '1', '--sample-seconds', '10', '--hup-every', '15', '--kill-every', '25', '--compact-every', '35', '--warmup-samples', '2'], {
      env: { ...process.env, BENCH_RESULTS: results.dir },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    proc.stdout.on('data', (c) => (out += c));
    proc.stderr.on('data', (c) => (out += c));
    const code = await new Promise<number | null>((resolve) => proc.on('exit', resolve));
    t.diagnostic(out.split('\n').filter((l) => /requests, \d+ failed|soak passed|SOAK FAILED/.test(l)).join(' | '));
    assert.equal(code, 0, out);
    assert.match(out, /soak passed/);
    assert.match(out, /[1-9]\d* worker kills/, 'a worker was killed during the minute');
    assert.match(out, /compact \d+/, 'a compaction ran during the minute');
    const table = readFileSync(path.join(results.dir, 'soak.txt'), 'utf8');
    assert.ok(table.split('\n').filter((l) => /^\s*\d\.\d\s+[\d,]+\s/.test(l)).length >= 5, `a row per 10 s sample:\n${table}`);
    for (const chart of ['soak-memory.svg', 'soak-traffic.svg']) assert.ok(existsSync(path.join(results.dir, chart)), chart);
  } finally {
    results.cleanup();
  }
});
