// Every bench, one after the other (they would only measure each other if run together), each in
// its own process. Each writes its tables (<bench>.txt) and its charts (<bench>*.svg) into the
// results folder (bench-results/, or $BENCH_RESULTS; kept out of git); this adds index.md, which
// lists what ran, how long it took, and links every table and chart.
//
//   npm run bench [-- --skip proxy,faults]

import { spawn } from 'node:child_process';
import { readdirSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { argValue } from './lib/args.js';
import { resultsDir } from './lib/svg.js';

/** In the order a reader wants them: the storage layer first, then what is built on it. */
const BENCHES = ['page-cache', 'node', 'engine', 'client', 'hash', 'proxy', 'selection', 'faults', 'recovery', 'redirect'];
const SKIP = new Set(argValue('--skip')?.split(',') ?? []);
const HERE = path.dirname(fileURLToPath(import.meta.url));

function run(name: string): Promise<{ code: number | null; seconds: number }> {
  const t0 = performance.now();
  process.stdout.write(`\n=== bench/${name} ===\n`);
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [path.join(HERE, `${name}.js`)], { stdio: 'inherit' });
    child.on('exit', (code) => resolve({ code, seconds: (performance.now() - t0) / 1000 }));
  });
}

async function main(): Promise<void> {
  const dir = resultsDir();
  const lines = [`# Benchmark results, ${new Date().toISOString()}`, '', '| bench | exit | seconds | tables | charts |', '|---|---|---|---|---|'];
  let failed = 0;
  for (const name of BENCHES) {
    if (SKIP.has(name)) {
      lines.push(`| ${name} | skipped | | | |`);
      continue;
    }
    // What an earlier run left under this bench's name must not pass for this run's results.
    for (const f of readdirSync(dir)) if (f.startsWith(name) && /\.(svg|txt)$/.test(f)) rmSync(path.join(dir, f));
    const { code, seconds } = await run(name);
    if (code !== 0) failed++;
    const files = readdirSync(dir);
    const charts = files.filter((f) => f.startsWith(name) && f.endsWith('.svg')).map((f) => `[${f}](${f})`);
    const tables = files.includes(`${name}.txt`) ? `[${name}.txt](${name}.txt)` : '';
    lines.push(`| ${name} | ${code} | ${seconds.toFixed(0)} | ${tables} | ${charts.join(' ')} |`);
  }
  writeFileSync(path.join(dir, 'index.md'), `${lines.join('\n')}\n`);
  process.stdout.write(`\nresults: ${path.join(dir, 'index.md')}\n`);
  if (failed > 0) process.exitCode = 1;
}

await main();
