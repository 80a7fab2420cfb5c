// What a storage fault costs: a steady mixed load (GETs of existing objects and 16 KiB uploads,
// keep-alive) through the proxy while (1) one node of the two-node cluster hangs (SIGSTOP) and is
// continued (SIGCONT), and (2) the embedded storage node of `npm start`'s setup is killed (SIGKILL)
// and restarted by the primary. Prints per second the successful and failed requests and the p99,
// the requests each fault cost and how long recovery took; writes bench-results/faults-*.svg.
//
//   npm run bench:faults [-- --concurrency 8]

import http from 'node:http';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { authFor, request, startEmbeddedRig, startRig } from './lib/rig.js';
import { resultsDir, writeChart } from './lib/svg.js';
import { printTable } from './lib/table.js';
import { argNumber } from './lib/args.js';

const CONCURRENCY = argNumber('--concurrency', 8);

interface Sample {
  t: number;
  ok: boolean;
  ms: number;
}

interface Fault {
  at: number;
  label: string;
  act: () => void | Promise<void>;
}

/** Runs the mixed load on `port` for `seconds`, firing `faults` at their second; every answer recorded. */
async function load(port: number, seconds: number, faults: Fault[]): Promise<Sample[]> {
  const agent = new http.Agent({ keepAlive: true, maxSockets: CONCURRENCY });
  const body = Buffer.alloc(16 * 1024, 0x42);
  for (let i = 0; i < 50; i++) {
    const target = `/upload/b1/faults/seed-${i}`;
    const r = await request(port, 'POST', target, body, agent, { Authorization: authFor('POST', target) });
    if (r.status !== 200) throw new Error(`seeding answered ${r.status}: ${r.body.toString()}`);
  }
  const samples: Sample[] = [];
  const t0 = performance.now();
  const now = (): number => (performance.now() - t0) / 1000;
  let n = 0;
  const lane = async (i: number): Promise<void> => {
    while (now() < seconds) {
      const k = n++;
      const upload = i % 2 === 0;
      const target = upload ? `/upload/b${1 + (k % 3)}/faults/${k}` : `/get/b1/faults/seed-${k % 50}`;
      const r = await request(port, upload ? 'POST' : 'GET', target, upload ? body : undefined, agent, upload ? { Authorization: authFor('POST', target) } : {}, 30_000);
      samples.push({ t: now(), ok: r.status === 200, ms: r.ms });
    }
  };
  const timers = faults.map((f) => setTimeout(() => void f.act(), f.at * 1000));
  await Promise.all(Array.from({ length: CONCURRENCY }, (_, i) => lane(i)));
  for (const t of timers) clearTimeout(t);
  agent.destroy();
  return samples;
}

const p99 = (xs: number[]): number => {
  if (xs.length === 0) return 0;
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor(s.length * 0.99))]!;
};

/** Per-second table, what the fault cost and how long recovery took; an SVG chart. */
function report(name: string, title: string, samples: Sample[], seconds: number, faults: Fault[]): string {
  const rows: (string | number)[][] = [];
  const ok: [number, number][] = [];
  const failed: [number, number][] = [];
  const tail: [number, number][] = [];
  const bySecond = Array.from({ length: seconds }, (_, s) => samples.filter((x) => x.t >= s && x.t < s + 1));
  const before = samples.filter((x) => x.t >= 1 && x.t < faults[0]!.at);
  const baseline = p99(before.map((x) => x.ms));
  const baseRate = before.length / Math.max(1, faults[0]!.at - 1);
  bySecond.forEach((xs, s) => {
    const good = xs.filter((x) => x.ok).length;
    const p = p99(xs.map((x) => x.ms));
    const mark = faults.filter((f) => Math.floor(f.at) === s).map((f) => f.label).join(', ');
    rows.push([`${s}-${s + 1} s`, good, xs.length - good, p, Math.max(0, ...xs.map((x) => x.ms)), mark]);
    ok.push([s + 0.5, good]);
    failed.push([s + 0.5, xs.length - good]);
    tail.push([s + 0.5, p]);
  });
  printTable(`${title}: ${CONCURRENCY} clients, half GETs, half 16 KiB uploads (keep-alive); requests counted in the second they ended`, ['second', 'ok', 'failed', 'p99 ms', 'max ms', 'fault'], rows);
  const lines: string[] = [];
  faults.forEach((f, i) => {
    const until = faults[i + 1]?.at ?? seconds;
    const during = samples.filter((x) => x.t >= f.at && x.t < until);
    // Recovered: from this second on, no failure, p99 within 3× the baseline and at least half the baseline rate.
    const calmSecond = (xs: Sample[]): boolean => xs.every((x) => x.ok) && p99(xs.map((x) => x.ms)) <= 3 * Math.max(baseline, 5) && xs.length >= baseRate / 2;
    let recovered: number | undefined;
    for (let s = Math.floor(f.at); s < Math.floor(until); s++) {
      const calm = bySecond.slice(s, Math.floor(until)).every(calmSecond);
      if (calm) {
        recovered = s;
        break;
      }
    }
    const slowest = Math.max(0, ...during.map((x) => x.ms));
    lines.push(`${f.label} at ${f.at} s: ${during.filter((x) => !x.ok).length} failed of ${during.length} requests until ${until} s, the slowest took ${Math.round(slowest)} ms ` +
      `(baseline p99 ${Math.round(baseline)} ms, ${Math.round(baseRate)} req/s); back to normal ${recovered === undefined ? 'not within the window' : `within ${Math.max(1, recovered + 1 - f.at).toFixed(0)} s`}`);
  });
  process.stdout.write(`${lines.join('\n')}\n`);
  const chart = writeChart(name, {
    title,
    xLabel: 'seconds',
    yLabel: 'requests per second / p99 ms',
    series: [{ name: 'ok / s', points: ok }, { name: 'failed / s', points: failed }, { name: 'p99 ms', points: tail }],
    markers: faults.map((f) => ({ x: f.at, label: f.label })),
  });
  process.stdout.write(`chart: ${chart}\n`);
  return `${title}\n${rows.map((r) => r.join('\t')).join('\n')}\n${lines.join('\n')}\n`;
}

async function main(): Promise<void> {
  const out: string[] = [];
  {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'backrunner-bench-faults-'));
    const rig = await startRig(dir, { proxy: { 'read-attempt-timeout': 2, 'write-attempt-timeout': 3 } });
    const node2 = rig.nodes[1]!.proc;
    const faults: Fault[] = [
      { at: 5, label: 'SIGSTOP node 2', act: () => void node2.kill('SIGSTOP') },
      { at: 15, label: 'SIGCONT node 2', act: () => void node2.kill('SIGCONT') },
    ];
    try {
      const samples = await load(rig.proxyPort, 25, faults);
      out.push(report('faults-hung-node', 'Two-node cluster, node 2 hung then continued', samples, 25, faults));
    } finally {
      node2.kill('SIGCONT');
      await rig.close();
      rmSync(dir, { recursive: true, force: true });
    }
  }
  {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'backrunner-bench-faults-'));
    const rig = await startEmbeddedRig(dir, { 'read-attempt-timeout': 2, 'write-attempt-timeout': 3 });
    const faults: Fault[] = [{ at: 5, label: 'SIGKILL embedded node', act: () => { const pid = rig.nodePid(); if (pid) process.kill(pid, 'SIGKILL'); } }];
    try {
      const samples = await load(rig.port, 20, faults);
      out.push(report('faults-killed-node', 'Embedded node killed, restarted by the primary', samples, 20, faults));
    } finally {
      await rig.close();
      rmSync(dir, { recursive: true, force: true });
    }
  }
  writeFileSync(path.join(resultsDir(), 'faults.txt'), out.join('\n'));
}

await main();
