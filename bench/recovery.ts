// Replica repair, measured on the two-node rig:
//  1. `backrunner recover` over many small objects that one group of a bucket lacks: the walk alone
//     (--dry-run) and the walk with the copies — keys/s, MB/s, peak RSS of the recover process;
//  2. the same over large objects (a copy rate in MB/s);
//  3. hinted handoff: uploads through the proxy while a node is stopped (SIGSTOP), then how long
//     after SIGCONT until every hint is delivered, with the pending count second by second.
//
//   npm run bench:recovery [-- --small 100000 --large-mib 2048 --hints 10000]

import { spawn } from 'node:child_process';
import http from 'node:http';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { Session } from '../src/elliptics/index.js';
import { argNumber } from './lib/args.js';
import { authFor, request, startRig, type Rig } from './lib/rig.js';
import { writeBarChart, writeChart } from './lib/svg.js';
import { printTable } from './lib/table.js';

const BIN = fileURLToPath(new URL('../../bin/backrunner', import.meta.url));
const SMALL = argNumber('--small', 100_000);
const SMALL_SIZE = 1024;
const LARGE_MIB = argNumber('--large-mib', 2048);
const LARGE_SIZE = 16 * 1024 * 1024;
const HINTS = argNumber('--hints', 10_000);

interface Run {
  seconds: number;
  peakRssMiB: number;
  summary: { walked: number; copied: number; bytes: number; missing: number };
}

/** Runs `backrunner recover`, sampling its RSS every 100 ms. */
function recover(config: string, args: string[]): Promise<Run> {
  return new Promise((resolve, reject) => {
    const t0 = performance.now();
    const child = spawn(BIN, ['recover', '--config', config, '--json', ...args], { stdio: ['ignore', 'pipe', 'inherit'] });
    let out = '';
    let peak = 0;
    child.stdout.on('data', (c) => (out += c));
    const sampler = setInterval(() => {
      try {
        // bin/backrunner runs node directly, so the child's pid is the recover process.
        const m = /VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${child.pid}/status`, 'utf8'));
        if (m) peak = Math.max(peak, Number(m[1]) / 1024);
      } catch {
        // exited
      }
    }, 100);
    child.on('exit', (code) => {
      clearInterval(sampler);
      if (code !== 0) return reject(new Error(`recover exited with ${code}: ${out}`));
      resolve({ seconds: (performance.now() - t0) / 1000, peakRssMiB: peak, summary: JSON.parse(out) as Run['summary'] });
    });
  });
}

/** Writes `count` objects of `size` bytes into one group only, `inFlight` at a time. */
async function seed(rig: Rig, bucket: string, group: number, count: number, size: number, inFlight: number): Promise<void> {
  const s = new Session(rig.cluster, { namespace: bucket, groups: [group], timeoutMs: 60_000 });
  const body = Buffer.alloc(size, 0x5a);
  let next = 0;
  await Promise.all(Array.from({ length: inFlight }, async () => {
    while (next < count) {
      const i = next++;
      const [r] = await s.write(`obj-${i}`, body);
      if (r!.status !== 0) throw new Error(`seed write ${i}: ${r!.status}`);
    }
  }));
}

async function pendingHints(port: number, agent: http.Agent): Promise<number> {
  const r = await request(port, 'GET', '/stat/', undefined, agent);
  return (JSON.parse(r.body.toString()) as { Status: { Repairs: { PendingHints: number } } }).Status.Repairs.PendingHints;
}

async function main(): Promise<void> {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'bench-recovery-'));
  const rig = await startRig(dir);
  const config = path.join(dir, 'proxy.json');
  try {
    // 1. small objects, in group 3 only (bucket b2 = {3, 4}).
    await seed(rig, 'b2', 3, SMALL, SMALL_SIZE, 64);
    const dry = await recover(config, ['--bucket', 'b2', '--dry-run']);
    const small = await recover(config, ['--bucket', 'b2']);
    // 2. large objects, in group 5 only (bucket b3 = {5, 6}).
    const largeCount = Math.max(1, Math.round((LARGE_MIB * 1024 * 1024) / LARGE_SIZE));
    await seed(rig, 'b3', 5, largeCount, LARGE_SIZE, 4);
    const large = await recover(config, ['--bucket', 'b3']);
    const mb = (r: Run): number => r.summary.bytes / 1e6 / r.seconds;
    printTable(`backrunner recover: ${SMALL} × ${SMALL_SIZE} B and ${largeCount} × ${LARGE_SIZE / 1048576} MiB missing in one group`, ['case', 'keys', 'copied', 'seconds', 'keys/s', 'MB/s', 'peak RSS MiB'], [
      ['walk only (--dry-run), small', dry.summary.walked, 0, dry.seconds.toFixed(1), Math.round(dry.summary.walked / dry.seconds), '–', Math.round(dry.peakRssMiB)],
      ['walk + copy, small', small.summary.walked, small.summary.copied, small.seconds.toFixed(1), Math.round(small.summary.walked / small.seconds), mb(small).toFixed(1), Math.round(small.peakRssMiB)],
      ['walk + copy, large', large.summary.walked, large.summary.copied, large.seconds.toFixed(1), Math.round(large.summary.walked / large.seconds), mb(large).toFixed(1), Math.round(large.peakRssMiB)],
    ]);

    // 3. hinted handoff: HINTS uploads to b1 while node 2 (group 2) is stopped.
    const agent = new http.Agent({ keepAlive: true, maxSockets: 32 });
    const node2 = rig.nodes[1]!.proc;
    node2.kill('SIGSTOP');
    const t0 = performance.now();
    let next = 0;
    let failed = 0;
    const body = Buffer.alloc(4096, 0x68);
    try {
      await Promise.all(Array.from({ length: 32 }, async () => {
        while (next < HINTS) {
          const target = `/upload/b1/hinted-${next++}`;
          const r = await request(rig.proxyPort, 'POST', target, body, agent, { Authorization: authFor('POST', target) });
          if (r.status !== 200) failed++;
        }
      }));
      await new Promise((r) => setTimeout(r, 1500)); // the folded view catches up with the journal
    } finally {
      node2.kill('SIGCONT');
    }
    const uploadSeconds = (performance.now() - t0) / 1000 - 1.5;
    const resumed = performance.now();
    const curve: [number, number][] = [];
    for (;;) {
      const n = await pendingHints(rig.proxyPort, agent);
      const at = (performance.now() - resumed) / 1000;
      curve.push([at, n]);
      if ((n === 0 && at > 2) || at > 600) break;
      await new Promise((r) => setTimeout(r, 250));
    }
    // The folded view lags the journal by up to a second.
    const healSeconds = Math.max(0, curve.find(([, n], i) => n === 0 && i > 0)![0] - 1);
    printTable(`hinted handoff: ${HINTS} uploads of 4 KiB while group 2 was stopped`, ['uploads', 'failed', 'upload s', 'hints at SIGCONT', 'healed after s', 'hints/s'], [
      [HINTS, failed, uploadSeconds.toFixed(1), curve[0]![1], healSeconds.toFixed(1), Math.round(curve[0]![1] / Math.max(0.1, healSeconds))],
    ]);
    writeChart('recovery-handoff', {
      title: `Hinted handoff: pending hints after the node returns (${HINTS} missed uploads)`,
      xLabel: 'seconds after SIGCONT',
      yLabel: 'pending hints',
      series: [{ name: 'pending hints', points: curve }],
    });
    writeBarChart('recovery-recover', {
      title: 'backrunner recover: keys per second (walk, walk + copy) and MB/s copied',
      yLabel: 'keys/s  ·  MB/s',
      categories: ['walk only', 'walk + copy small', 'walk + copy large'],
      series: [
        { name: 'keys/s', values: [dry.summary.walked / dry.seconds, small.summary.walked / small.seconds, large.summary.walked / large.seconds] },
        { name: 'MB/s', values: [0, mb(small), mb(large)] },
      ],
    });
  } finally {
    await rig.close();
    rmSync(dir, { recursive: true, force: true });
  }
}

await main();
