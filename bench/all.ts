// Every bench, one after the other (they would only measure each other if run together), each in
// its own process. Each writes its tables (<bench>.txt) and its charts (<bench>*.svg) into the
// results folder (bench-results/, or $BENCH_RESULTS; kept out of git); this adds index.md, which
// lists what ran, how long it took, and links every table and chart.
//
// As root on a machine with a memory cgroup controller, the write cases of bench/node and bench/proxy
// run a second time with --page-cache-cap 512 (<bench>-capped.*): see bench/lib/memory-cap.ts.
//
//   npm run bench [-- --skip proxy,faults]

import { spawn } from 'node:child_process';
import { readdirSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { argValue } from './lib/args.js';
import { MemoryCap } from './lib/memory-cap.js';
import { resultsDir } from './lib/svg.js';

interface Bench {
  /** The script (bench/<script>.ts), and the name its results go under. */
  script: string;
  name: string;
  args: string[];
}

const CAP = ['--page-cache-cap', '512'];
const plain = (script: string): Bench => ({ script, name: script, args: [] });
/** The write cases of `script` again, the node in a memory cgroup (results under <script>-capped). */
const capped = (script: string, only: string[]): Bench => ({ script, name: `${script}-capped`, args: [...only, ...CAP] });
/** In the order a reader wants them: the storage layer first, then what is built on it. */
const BENCHES: Bench[] = [
  plain('page-cache'), plain('node'), capped('node', ['--only', 'write']),
  plain('engine'), plain('client'), plain('hash'), plain('proxy'), capped('proxy', ['--only', 'up4,up1m', '--rest', '1']),
  plain('selection'), plain('faults'), plain('recovery'), plain('redirect'),
];
const SKIP = new Set(argValue('--skip')?.split(',') ?? []);
const HERE = path.dirname(fileURLToPath(import.meta.url));

function run(b: Bench): Promise<{ code: number | null; seconds: number }> {
  const t0 = performance.now();
  process.stdout.write(`\n=== bench/${b.script} ${b.args.join(' ')} ===\n`);
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [path.join(HERE, `${b.script}.js`), ...b.args], { stdio: 'inherit' });
    child.on('exit', (code) => resolve({ code, seconds: (performance.now() - t0) / 1000 }));
  });
}

async function main(): Promise<void> {
  const dir = resultsDir();
  const lines = [`# Benchmark results, ${new Date().toISOString()}`, '', '| bench | exit | seconds | tables | charts |', '|---|---|---|---|---|'];
  let failed = 0;
  for (const b of BENCHES) {
    const name = b.name;
    if (SKIP.has(name) || SKIP.has(b.script)) {
      lines.push(`| ${name} | skipped | | | |`);
      continue;
    }
    const isCapped = b.args.includes(CAP[0]!);
    const cannot = isCapped ? MemoryCap.unavailable() : undefined;
    if (cannot) {
      lines.push(`| ${name} | skipped: ${cannot} | | | |`);
      continue;
    }
    // What an earlier run left under this bench's name must not pass for this run's results.
    // Its table, and its charts: <script>*.svg, those of a capped run ending in -capped.svg.
    const ours = (f: string): boolean => f === `${name}.txt` || (f.startsWith(b.script) && f.endsWith('.svg') && f.endsWith('-capped.svg') === isCapped);
    for (const f of readdirSync(dir)) if (ours(f)) rmSync(path.join(dir, f));
    const { code, seconds } = await run(b);
    if (code !== 0) failed++;
    const files = readdirSync(dir);
    const charts = files.filter((f) => ours(f) && f.endsWith('.svg')).map((f) => `[${f}](${f})`);
    const tables = files.includes(`${name}.txt`) ? `[${name}.txt](${name}.txt)` : '';
    lines.push(`| ${name} | ${code} | ${seconds.toFixed(0)} | ${tables} | ${charts.join(' ')} |`);
  }
  writeFileSync(path.join(dir, 'index.md'), `${lines.join('\n')}\n`);
  process.stdout.write(`\nresults: ${path.join(dir, 'index.md')}\n`);
  if (failed > 0) process.exitCode = 1;
}

await main();
