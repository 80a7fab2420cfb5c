// Automatic bucket selection against the two-node cluster, each bucket's share of the uploads per
// 5-second window, as a table and an SVG chart:
//  1. storage that misbehaves: a steady stream of 4 KiB /nobucket_upload/s; after a healthy start
//     group 1's backend (bucket b1) is slowed by 100 ms per command, later repaired — how long it
//     took to avoid the slow backend and to use it again (bench-results/selection.svg);
//  2. a mix of sizes on equally fast storage: named 1 KiB uploads into b1 and named 1 MiB ones into
//     b2 and b3 run alongside automatic 64 KiB uploads, which should still spread evenly
//     (bench-results/selection-mixed.svg).
//
//   npm run bench:selection [-- --healthy 15 --slow 30 --repaired 30 --mixed 30 --concurrency 16]

import http from 'node:http';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { BackendCommand } from '../src/elliptics/protocol/constants.js';
import { authFor, controlGroup, request, startRig } from './lib/rig.js';
import { writeChart } from './lib/svg.js';
import { printTable, say } from './lib/table.js';
import { argNumber } from './lib/args.js';

const HEALTHY = argNumber('--healthy', 15);
const SLOW = argNumber('--slow', 30);
const REPAIRED = argNumber('--repaired', 30);
const MIXED = argNumber('--mixed', 30);
const CONCURRENCY = argNumber('--concurrency', 16);
const WINDOW_S = 5;
const BUCKETS = ['b1', 'b2', 'b3'];

/** Each bucket's share per window of what `landed` records; the table rows and the chart points. */
function perWindow(landed: readonly { t: number; bucket: string }[], seconds: number, phase: (from: number) => string): { rows: (string | number)[][]; shares: Record<string, [number, number][]> } {
  const rows: (string | number)[][] = [];
  const shares: Record<string, [number, number][]> = Object.fromEntries(BUCKETS.map((b) => [b, []]));
  for (let w = 0; w < Math.ceil(seconds / WINDOW_S); w++) {
    const from = w * WINDOW_S;
    const inWindow = landed.filter((l) => l.t >= from && l.t < from + WINDOW_S);
    const total = inWindow.length;
    const share = (b: string): number => (total ? inWindow.filter((l) => l.bucket === b).length / total : 0);
    const failed = inWindow.filter((l) => !BUCKETS.includes(l.bucket)).length;
    rows.push([`${from}-${from + WINDOW_S} s`, phase(from), total, ...BUCKETS.map((b) => `${(share(b) * 100).toFixed(1)} %`), failed]);
    for (const b of BUCKETS) shares[b]!.push([from + WINDOW_S / 2, share(b) * 100]);
  }
  return { rows, shares };
}

/** Named uploads of 1 KiB into b1 and 1 MiB into b2, b3 alongside automatic 64 KiB ones. */
async function mixed(): Promise<void> {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'backrunner-bench-selection-'));
  // 16 GiB limits: the named 1 MiB uploads do not fill b2 and b3 during the run (free space would decide then).
  const rig = await startRig(dir, { backend: { 'blob-size-limit': 16 * 1024 ** 3 } });
  const agent = new http.Agent({ keepAlive: true, maxSockets: CONCURRENCY + 2 });
  const landed: { t: number; bucket: string }[] = [];
  const t0 = performance.now();
  const elapsed = (): number => (performance.now() - t0) / 1000;
  const put = (target: string, body: Buffer) => request(rig.proxyPort, 'POST', target, body, agent, { Authorization: authFor('POST', target) });
  try {
    const small = Buffer.alloc(1024, 1);
    const big = Buffer.alloc(1024 * 1024, 2);
    const side = async (bucket: string, body: Buffer): Promise<void> => {
      // Paced (~20 a second): the point is the mix of sizes each bucket is measured with, not extra load.
      for (let i = 0; elapsed() < MIXED; i++) {
        await put(`/upload/${bucket}/named-${i % 64}`, body);
        await new Promise((r) => setTimeout(r, 50));
      }
    };
    const body = Buffer.alloc(64 * 1024, 3);
    let n = 0;
    const lane = async (): Promise<void> => {
      while (elapsed() < MIXED) {
        const r = await put(`/nobucket_upload/mixed/${n++}`, body);
        landed.push({ t: elapsed(), bucket: r.status === 200 ? (JSON.parse(r.body.toString()) as { bucket: string }).bucket : `HTTP ${r.status}` });
      }
    };
    await Promise.all([side('b1', small), side('b2', big), side('b3', big), ...Array.from({ length: CONCURRENCY / 2 }, lane)]);
  } finally {
    agent.destroy();
    await rig.close();
    rmSync(dir, { recursive: true, force: true });
  }
  const { rows, shares } = perWindow(landed, MIXED, () => 'mixed');
  printTable(`automatic 64 KiB uploads, ${CONCURRENCY / 2} at a time, while b1 takes named 1 KiB uploads and b2, b3 named 1 MiB ones (equally fast storage): share per ${WINDOW_S}-second window`,
    ['window', 'phase', 'uploads', ...BUCKETS, 'failed'], rows);
  const all = landed.length;
  say(`over the run: ${BUCKETS.map((b) => `${b} ${((landed.filter((l) => l.bucket === b).length / all) * 100).toFixed(1)} %`).join(", ")}`);
  writeChart('selection-mixed', {
    title: 'Automatic 64 KiB uploads beside named 1 KiB (b1) and 1 MiB (b2, b3) ones',
    xLabel: 'seconds',
    yLabel: '% of automatic uploads',
    yMax: 100,
    series: BUCKETS.map((b) => ({ name: b, points: shares[b]! })),
  });
}

async function main(): Promise<void> {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'backrunner-bench-selection-'));
  // 1 GiB limits: every backend has about the same free-space ratio, so write speed decides.
  const rig = await startRig(dir, { backend: { 'blob-size-limit': 1024 ** 3 } });
  const agent = new http.Agent({ keepAlive: true, maxSockets: CONCURRENCY });
  const body = Buffer.alloc(4096, 0x5a);
  const landed: { t: number; bucket: string }[] = [];
  const t0 = performance.now();
  const elapsed = (): number => (performance.now() - t0) / 1000;
  const end = HEALTHY + SLOW + REPAIRED;
  try {
    let n = 0;
    const lane = async (): Promise<void> => {
      while (elapsed() < end) {
        const target = `/nobucket_upload/bench/${n++}`;
        const r = await request(rig.proxyPort, 'POST', target, body, agent, { Authorization: authFor('POST', target) });
        landed.push({ t: elapsed(), bucket: r.status === 200 ? (JSON.parse(r.body.toString()) as { bucket: string }).bucket : `HTTP ${r.status}` });
      }
    };
    const lanes = Array.from({ length: CONCURRENCY }, lane);
    const phases = (async () => {
      await new Promise((r) => setTimeout(r, HEALTHY * 1000));
      await controlGroup(rig.cluster, 1, BackendCommand.SET_DELAY, 100);
      await new Promise((r) => setTimeout(r, SLOW * 1000));
      await controlGroup(rig.cluster, 1, BackendCommand.SET_DELAY, 0);
    })();
    await Promise.all([...lanes, phases]);
  } finally {
    agent.destroy();
    await rig.close();
    rmSync(dir, { recursive: true, force: true });
  }

  const phaseOf = (from: number): string => (from < HEALTHY ? 'healthy' : from < HEALTHY + SLOW ? 'group 1 +100 ms' : 'repaired');
  const { rows, shares } = perWindow(landed, end, phaseOf);
  let avoidedAfter: number | undefined;
  let backAfter: number | undefined;
  shares.b1!.forEach(([mid, pct]) => {
    const from = mid - WINDOW_S / 2;
    if (phaseOf(from) === 'group 1 +100 ms' && avoidedAfter === undefined && pct < 10) avoidedAfter = from + WINDOW_S - HEALTHY;
    if (phaseOf(from) === 'repaired' && backAfter === undefined && pct > 20) backAfter = from + WINDOW_S - HEALTHY - SLOW;
  });
  printTable(`automatic 4 KiB uploads, ${CONCURRENCY} at a time: share of each bucket per ${WINDOW_S}-second window (b1 = groups 1, 2; group 1 slowed by 100 ms at ${HEALTHY} s, repaired at ${HEALTHY + SLOW} s)`,
    ['window', 'phase', 'uploads', ...BUCKETS, 'failed'], rows);
  const summary = `b1 below 10 % within ${avoidedAfter ?? 'never'} s of the slowdown (window resolution ${WINDOW_S} s); back above 20 % within ${backAfter ?? 'never'} s of the repair`;
  say(summary);
  const chart = writeChart('selection', {
    title: 'Share of automatic uploads per bucket (5 s windows)',
    xLabel: 'seconds',
    yLabel: '% of uploads',
    yMax: 100,
    series: BUCKETS.map((b) => ({ name: b === 'b1' ? 'b1 (group 1 slowed)' : b, points: shares[b]! })),
    markers: [{ x: HEALTHY, label: 'group 1 +100 ms' }, { x: HEALTHY + SLOW, label: 'repaired' }],
  });
  process.stdout.write(`chart: ${chart}\n`);
  await mixed();
}

await main();
