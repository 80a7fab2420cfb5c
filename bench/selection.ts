// Automatic bucket selection while storage misbehaves: a steady stream of 4 KiB /nobucket_upload/s
// against the two-node cluster; after a healthy start group 1's backend (bucket b1) is slowed by
// 100 ms per command, later repaired. Prints each bucket's share of the uploads per 5-second
// window, how long it took to avoid the slow backend and to use it again, and writes the shares
// as an SVG chart (bench-results/selection.svg).
//
//   npm run bench:selection [-- --healthy 15 --slow 30 --repaired 30 --concurrency 16]

import http from 'node:http';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { BackendCommand } from '../src/elliptics/protocol/constants.js';
import { authFor, controlGroup, request, startRig } from './lib/rig.js';
import { resultsDir, writeChart } from './lib/svg.js';
import { printTable } from './lib/table.js';
import { argNumber } from './lib/args.js';

const HEALTHY = argNumber('--healthy', 15);
const SLOW = argNumber('--slow', 30);
const REPAIRED = argNumber('--repaired', 30);
const CONCURRENCY = argNumber('--concurrency', 16);
const WINDOW_S = 5;
const BUCKETS = ['b1', 'b2', 'b3'];

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

  const windows = Math.ceil(end / WINDOW_S);
  const rows: (string | number)[][] = [];
  const shares: Record<string, [number, number][]> = Object.fromEntries(BUCKETS.map((b) => [b, []]));
  let avoidedAfter: number | undefined;
  let backAfter: number | undefined;
  for (let w = 0; w < windows; w++) {
    const inWindow = landed.filter((l) => l.t >= w * WINDOW_S && l.t < (w + 1) * WINDOW_S);
    const total = inWindow.length;
    const share = (b: string): number => (total ? inWindow.filter((l) => l.bucket === b).length / total : 0);
    const from = w * WINDOW_S;
    const phase = from < HEALTHY ? 'healthy' : from < HEALTHY + SLOW ? 'group 1 +100 ms' : 'repaired';
    const failed = inWindow.filter((l) => !BUCKETS.includes(l.bucket)).length;
    rows.push([`${from}-${from + WINDOW_S} s`, phase, total, ...BUCKETS.map((b) => `${(share(b) * 100).toFixed(1)} %`), failed]);
    for (const b of BUCKETS) shares[b]!.push([from + WINDOW_S / 2, share(b) * 100]);
    if (phase === 'group 1 +100 ms' && avoidedAfter === undefined && share('b1') < 0.1) avoidedAfter = from + WINDOW_S - HEALTHY;
    if (phase === 'repaired' && backAfter === undefined && share('b1') > 0.2) backAfter = from + WINDOW_S - HEALTHY - SLOW;
  }
  printTable(`automatic 4 KiB uploads, ${CONCURRENCY} at a time: share of each bucket per ${WINDOW_S}-second window (b1 = groups 1, 2; group 1 slowed by 100 ms at ${HEALTHY} s, repaired at ${HEALTHY + SLOW} s)`,
    ['window', 'phase', 'uploads', ...BUCKETS, 'failed'], rows);
  const summary = `b1 below 10 % within ${avoidedAfter ?? 'never'} s of the slowdown (window resolution ${WINDOW_S} s); back above 20 % within ${backAfter ?? 'never'} s of the repair`;
  process.stdout.write(`\n${summary}\n`);
  const chart = writeChart('selection', {
    title: 'Share of automatic uploads per bucket (5 s windows)',
    xLabel: 'seconds',
    yLabel: '% of uploads',
    yMax: 100,
    series: BUCKETS.map((b) => ({ name: b === 'b1' ? 'b1 (group 1 slowed)' : b, points: shares[b]! })),
    markers: [{ x: HEALTHY, label: 'group 1 +100 ms' }, { x: HEALTHY + SLOW, label: 'repaired' }],
  });
  writeFileSync(path.join(resultsDir(), 'selection.txt'), `${rows.map((r) => r.join('\t')).join('\n')}\n${summary}\n`);
  process.stdout.write(`chart: ${chart}\n`);
}

await main();
