// What it costs this machine to put new bytes in the page cache, apart from any program: the same
// 1 MiB appends to a fresh file, once after memory has rested and once right after the pages of an
// equal file were freed. On bare metal the two cost the same (a copy). In a VM whose balloon takes
// back free memory (free page reporting), a page that rested is gone from the host and is faulted
// back in, zeroed, on first touch; that cost lands inside write() and bounds every write path here
// (bench/node's tcp+file column). Run it before reading the node's or the proxy's write figures.
//
//   npm run bench:page-cache [-- --mib 256] [--rest 4]

import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { argNumber } from './lib/args.js';
import { printTable, say } from './lib/table.js';

const MIB = 1024 * 1024;
const SIZE_MIB = argNumber('--mib', 256);
/** Seconds memory rests before the "rested" run (the kernel reports free pages after about 2 s). */
const REST_SECONDS = argNumber('--rest', 4);
const ROUNDS = 3;

interface Run {
  mbps: number;
  cpuPerMib: number;
}

/** Appends SIZE_MIB MiB in 1 MiB writes to a new file; CPU of this process per MiB. */
function appendFile(file: string, chunk: Buffer): Run {
  const fd = fs.openSync(file, 'w');
  const c0 = process.cpuUsage();
  const t0 = performance.now();
  for (let i = 0; i < SIZE_MIB; i++) fs.writeSync(fd, chunk, 0, MIB, i * MIB);
  const seconds = (performance.now() - t0) / 1000;
  const c = process.cpuUsage(c0);
  fs.closeSync(fd);
  return { mbps: (SIZE_MIB * MIB) / 1e6 / seconds, cpuPerMib: (c.user + c.system) / SIZE_MIB };
}

const sleep = (s: number): Promise<void> => new Promise((r) => setTimeout(r, s * 1000));

async function main(): Promise<void> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'backrunner-bench-page-cache-'));
  const chunk = Buffer.alloc(MIB, 0x6b);
  const rested: Run[] = [];
  const recycled: Run[] = [];
  try {
    for (let round = 0; round < ROUNDS; round++) {
      const a = path.join(dir, `a${round}`);
      const b = path.join(dir, `b${round}`);
      await sleep(REST_SECONDS);
      rested.push(appendFile(a, chunk));
      // Unlinking frees a's pages; b takes them before the kernel reports them to the host.
      fs.unlinkSync(a);
      recycled.push(appendFile(b, chunk));
      fs.unlinkSync(b);
    }
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
  const avg = (runs: Run[], k: keyof Run): number => runs.reduce((n, r) => n + r[k], 0) / runs.length;
  printTable(`appending ${SIZE_MIB} MiB in 1 MiB writes to a new file in ${os.tmpdir()} (${ROUNDS} rounds, averages)`,
    ['memory', 'MB/s', 'CPU µs per MiB'],
    [[`rested ${REST_SECONDS} s`, avg(rested, 'mbps'), avg(rested, 'cpuPerMib')], ['just freed', avg(recycled, 'mbps'), avg(recycled, 'cpuPerMib')]]);
  say(`rested / just freed: ${(avg(rested, 'cpuPerMib') / avg(recycled, 'cpuPerMib')).toFixed(1)}× the CPU per MiB (about 1× on bare metal; much more where the host takes back free pages)`);
}

await main();
