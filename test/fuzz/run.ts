// npm run fuzz -- --seconds N --seed S [--target node-frames,http] [--out fuzz-findings]
//
// Seeded mutation fuzzing of everything that reads bytes from outside: frames to the storage node,
// replies to the client, HTTP requests to the proxy (directly and through nginx), the messages
// between the proxy's processes, bucket metadata records, config files. The budget is shared by
// the targets; each finding is written to the output folder as the input that replays it (copy it
// into test/fuzz/regressions/ with the fix). Exits 1 when anything was found.

import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import yargs from 'yargs';
import { hideBin } from 'yargs/helpers';
import { runTarget, type TargetResult } from './runner.js';
import { TARGETS } from './targets/index.js';

const argv = await yargs(hideBin(process.argv))
  .scriptName('npm run fuzz --')
  .option('seconds', { type: 'number', default: 180, describe: 'budget in seconds, shared by the targets (by weight)' })
  .option('seed', { type: 'number', describe: 'the run\'s seed (default: from the clock, printed)' })
  .option('target', { type: 'string', describe: `comma-separated targets (${TARGETS.map((t) => t.name).join(', ')})` })
  .option('out', { type: 'string', default: 'fuzz-findings', describe: 'where findings are written' })
  .strict()
  .help()
  .parseAsync();

const seed = (argv.seed ?? Date.now()) >>> 0;
const wanted = argv.target?.split(',').map((s) => s.trim()) ?? TARGETS.map((t) => t.name);
const unknown = wanted.filter((w) => !TARGETS.some((t) => t.name === w));
if (unknown.length > 0) {
  console.error(`unknown target ${unknown.join(', ')} (there are: ${TARGETS.map((t) => t.name).join(', ')})`);
  process.exit(2);
}
const chosen = TARGETS.filter((t) => wanted.includes(t.name));
const totalWeight = chosen.reduce((a, t) => a + t.weight, 0);
console.log(`fuzz: seed ${seed}, ${argv.seconds} s over ${chosen.map((t) => t.name).join(', ')}`);

const results: TargetResult[] = [];
for (const t of chosen) {
  const seconds = (argv.seconds * t.weight) / totalWeight;
  const r = await runTarget(t, seed, seconds);
  results.push(r);
  console.log(r.skipped
    ? `  ${t.name.padEnd(16)} skipped: ${r.skipped}`
    : `  ${t.name.padEnd(16)} ${String(r.cases).padStart(9)} cases in ${r.seconds.toFixed(1)} s (${Math.round(r.cases / r.seconds)}/s), ${r.findings.length} findings — ${t.description}`);
}

const findings = results.flatMap((r) => r.findings);
if (findings.length > 0) {
  mkdirSync(argv.out, { recursive: true });
  for (const f of findings) {
    const base = path.join(argv.out, `${f.target}-${f.seed}-${f.case}`);
    writeFileSync(`${base}.bin`, f.input);
    writeFileSync(`${base}.txt`, `${f.problem}\n`);
    console.log(`FINDING ${f.target} seed ${f.seed} case ${f.case}: ${f.problem.split('\n')[0]} → ${base}.bin`);
  }
}
const total = results.reduce((a, r) => a + r.cases, 0);
console.log(`fuzz: ${total} cases, ${findings.length} findings`);
process.exit(findings.length > 0 ? 1 : 0);
