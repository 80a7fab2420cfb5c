// npm run soak -- --minutes N
//
// The default deployment (`npm start`'s: primary, two workers, the embedded node) under mixed
// traffic for N minutes (bench/lib/soak-load.ts: GETs, ranged GETs, uploads from 4 KiB to 8 MiB,
// overwrites, automatic uploads, lookups, deletes, each answer checked), with a SIGHUP to the
// primary every minute, a worker killed (SIGKILL) every five minutes and a compaction of every
// backend every ten. Per sample (a minute by default) it records requests, errors by status, p99
// latency, RSS and open file descriptors per process (those of blob files apart: they follow the
// number of blob files, which follows the data), and event-loop lag; it writes a table
// (bench-results/soak.txt) and charts (soak-memory.svg, soak-traffic.svg), and exits 1 when RSS or
// the other fds keep growing after warm-up, when a process holds a deleted file for more than a
// sample, or when a request failed other than one in flight on the killed worker.

import { execFileSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, readlinkSync, rmSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import yargs from 'yargs';
import { hideBin } from 'yargs/helpers';
import { Cluster, EllipticsError, Session } from '../src/elliptics/index.js';
import { BackendCommand, DefragLevel, Errno, parseEndpoint, VERSION_2_26 } from '../src/elliptics/protocol/index.js';
import { createLogger } from '../src/util/logger.js';
import { rssOf } from './lib/processes.js';
import { startEmbeddedRig } from './lib/rig.js';
import { SoakLoad, type Outcome } from './lib/soak-load.js';
import { resultsDir, writeChart } from './lib/svg.js';
import { printTable, say } from './lib/table.js';

const args = await yargs(hideBin(process.argv))
  .scriptName('npm run soak --')
  .option('minutes', { type: 'number', default: 30, describe: 'how long the traffic runs' })
  .option('sample-seconds', { type: 'number', default: 60, describe: 'one row of the table per this many seconds' })
  .option('hup-every', { type: 'number', default: 60, describe: 'seconds between SIGHUPs to the primary' })
  .option('kill-every', { type: 'number', default: 300, describe: 'seconds between worker kills (SIGKILL)' })
  .option('compact-every', { type: 'number', default: 600, describe: 'seconds between compactions of every backend' })
  .option('clients', { type: 'number', default: 8, describe: 'concurrent clients' })
  .option('warmup-samples', { type: 'number', default: 2, describe: 'samples left out of the growth check' })
  .option('dir', { type: 'string', describe: 'where the deployment keeps its data (default: a new folder in the system temp dir)' })
  .strict()
  .help()
  .parseAsync();

const MIB = 1024 * 1024;
/** A connection failure this long after a worker kill, of a request started up to then, is the kill's. */
const KILL_GRACE_MS = 2000;

interface Proc {
  role: string;
  pid: number;
}

interface Sample {
  t: number;
  requests: number;
  errors: Record<string, number>;
  p99: number;
  rss: Record<string, number>;
  /** Descriptors other than of blob files. */
  fds: Record<string, number>;
  /** Descriptors of blob files, and of deleted files (a compacted-away blob still held). */
  blobFds: Record<string, number>;
  deletedFds: Record<string, number>;
  pids: Record<string, number>;
  lagMs: Record<string, number>;
  events: string[];
}

function childrenOf(pid: number): number[] {
  try {
    return execFileSync('pgrep', ['-P', String(pid)], { encoding: 'utf8' }).trim().split('\n').filter(Boolean).map(Number);
  } catch {
    return [];
  }
}

/** The primary, its workers (named by their stable index, kept by a replacement) and the embedded node. */
function processes(primary: number): Proc[] {
  const out: Proc[] = [{ role: 'primary', pid: primary }];
  for (const pid of childrenOf(primary)) {
    try {
      const cmd = readFileSync(`/proc/${pid}/cmdline`, 'utf8');
      if (cmd.includes('storage-node')) out.push({ role: 'node', pid });
      else if (cmd.includes('http-worker')) {
        const index = /BACKRUNNER_WORKER_INDEX=(\d+)/.exec(readFileSync(`/proc/${pid}/environ`, 'utf8'))?.[1] ?? '?';
        out.push({ role: `worker${index}`, pid });
      }
    } catch {
      // gone meanwhile
    }
  }
  return out;
}

interface FdCount {
  other: number;
  blobs: number;
  deleted: number;
}

/** A process's descriptors: of blob files (`data-0.<n>`), of deleted files, and the rest. */
function fdsOf(pid: number): FdCount {
  const count: FdCount = { other: 0, blobs: 0, deleted: 0 };
  let names: string[];
  try {
    names = readdirSync(`/proc/${pid}/fd`);
  } catch {
    return count;
  }
  for (const n of names) {
    let target: string;
    try {
      target = readlinkSync(`/proc/${pid}/fd/${n}`);
    } catch {
      continue; // closed meanwhile
    }
    if (target.endsWith(' (deleted)')) count.deleted++;
    else if (/\/data-\d+\.\d+$/.test(target)) count.blobs++;
    else count.other++;
  }
  return count;
}

/** p99 event-loop delay per process, from /metrics (primary and workers measure their own). */
function loopLag(port: number): Promise<Record<string, number>> {
  return new Promise((resolve) => {
    http.get({ host: '127.0.0.1', port, path: '/metrics', agent: false }, (res) => {
      let text = '';
      res.on('data', (c) => (text += c));
      res.on('end', () => {
        const out: Record<string, number> = {};
        for (const m of text.matchAll(/^nodejs_eventloop_lag_p99_seconds\{process="(\w+)",worker="(\d*)"\} ([\d.e+-]+)$/gm)) out[m[1] === 'worker' ? `worker${m[2]}` : m[1]!] = Number(m[3]) * 1000;
        resolve(out);
      });
    }).on('error', () => resolve({}));
  });
}

function p99(values: number[]): number {
  if (values.length === 0) return 0;
  const s = [...values].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor(s.length * 0.99))]!;
}

/** Compaction of every backend of the embedded node (BACKEND_CONTROL, defrag level compact). */
async function compactAll(nodeAddress: string): Promise<number> {
  const e = parseEndpoint(nodeAddress);
  const cluster = await Cluster.connect({ remotes: [e], protocolVersion: VERSION_2_26, poolSize: 1, timeoutMs: 10_000, checkIntervalMs: 60_000, maxFrame: 16 * MIB, log: createLogger('soak', { level: 'silent' }) });
  try {
    const s = new Session(cluster);
    const node = cluster.nodes()[0]!.address!;
    const backends = await s.backendStatus(node);
    let started = 0;
    for (const b of backends) {
      try {
        await s.backendControl(node, { backendId: b.backendId, command: BackendCommand.START_DEFRAG, defragLevel: DefragLevel.COMPACT, delay: 0, ids: [] });
        started++;
      } catch (err) {
        // The node's own defragmentation (defrag-timeout) is at it already: that is a compaction too.
        if (!(err instanceof EllipticsError && err.status === Errno.EALREADY)) throw err;
      }
    }
    return started;
  } finally {
    cluster.close();
  }
}

/** Descriptor counts of each process: other, of blob files, of deleted files. */
function fdSample(procs: readonly Proc[]): Pick<Sample, 'fds' | 'blobFds' | 'deletedFds'> {
  const counts = procs.map((p) => [p.role, fdsOf(p.pid)] as const);
  return {
    fds: Object.fromEntries(counts.map(([r, c]) => [r, c.other])),
    blobFds: Object.fromEntries(counts.map(([r, c]) => [r, c.blobs])),
    deletedFds: Object.fromEntries(counts.map(([r, c]) => [r, c.deleted])),
  };
}

/** Whether a series keeps growing: mostly rising step to step, and well above where it started. */
function keepsGrowing(values: number[], floor: number): boolean {
  if (values.length < 3) return false;
  let rises = 0;
  for (let i = 1; i < values.length; i++) if (values[i]! > values[i - 1]!) rises++;
  const first = values[0]!;
  const last = values[values.length - 1]!;
  // ...and still rising in the second half: one step up (a compaction's buffers) followed by a plateau is not growth.
  const middle = values[Math.floor(values.length / 2)]!;
  return rises >= 0.8 * (values.length - 1) && last - first > Math.max(floor, first * 0.5) && last - middle > Math.max(floor, first * 0.5) / 2;
}

async function main(): Promise<void> {
  const dir = mkdtempSync(path.join(args.dir ?? os.tmpdir(), 'backrunner-soak-'));
  const rig = await startEmbeddedRig(dir);
  // Stopped early (Ctrl-C, a test's timeout): the deployment and its data go too.
  const abort = (): void => {
    void rig.close().finally(() => {
      rmSync(dir, { recursive: true, force: true });
      process.exit(130);
    });
  };
  process.once('SIGINT', abort);
  process.once('SIGTERM', abort);
  const primary = rig.proxy.pid!;
  const load = new SoakLoad(rig.port);
  const samples: Sample[] = [];
  const kills: number[] = [];
  const failures: string[] = [];
  let pending: string[] = [];
  const compactions: Promise<void>[] = [];
  let t0 = performance.now();
  try {
    await load.preload(40);
    t0 = performance.now();
    const until = t0 + args.minutes * 60_000;
    const running = load.run(args.clients);
    const timers = [
      setInterval(() => {
        process.kill(primary, 'SIGHUP');
        pending.push('SIGHUP');
      }, args['hup-every'] * 1000),
      setInterval(() => {
        const workers = processes(primary).filter((p) => p.role.startsWith('worker'));
        const victim = workers[Math.floor(Math.random() * workers.length)];
        if (!victim) return;
        kills.push(performance.now());
        process.kill(victim.pid, 'SIGKILL');
        pending.push(`kill ${victim.role}`);
      }, args['kill-every'] * 1000),
      setInterval(() => {
        compactions.push(compactAll(rig.nodeAddress).then((n) => void pending.push(n > 0 ? `compact ${n}` : "compact (the node's own was running)"), (err: unknown) => {
          failures.push(`compaction could not be started: ${(err as Error).message}`);
        }));
      }, args['compact-every'] * 1000),
    ];
    let seen = 0;
    while (performance.now() < until) {
      await new Promise((r) => setTimeout(r, Math.min(args['sample-seconds'] * 1000, until - performance.now())));
      const window = load.outcomes.slice(seen);
      seen = load.outcomes.length;
      const procs = processes(primary);
      const errors: Record<string, number> = {};
      for (const o of window) if (o.wrong) errors[String(o.status || 'reset')] = (errors[String(o.status || 'reset')] ?? 0) + 1;
      samples.push({
        t: (performance.now() - t0) / 1000,
        requests: window.length,
        errors,
        p99: p99(window.map((o) => o.end - o.start)),
        rss: Object.fromEntries(procs.map((p) => [p.role, rssOf(p.pid)])),
        ...fdSample(procs),
        pids: Object.fromEntries(procs.map((p) => [p.role, p.pid])),
        lagMs: await loopLag(rig.port),
        events: pending,
      });
      pending = [];
      const s = samples[samples.length - 1]!;
      say(`${(s.t / 60).toFixed(1)} min: ${s.requests} requests, errors ${JSON.stringify(s.errors)}, p99 ${s.p99.toFixed(0)} ms, RSS ${Object.entries(s.rss).map(([k, v]) => `${k} ${(v / MIB).toFixed(0)}`).join(' ')} MiB ${s.events.join(', ')}`);
    }
    for (const t of timers) clearInterval(t);
    // A compaction asked for right at the end finishes its request before the deployment goes.
    await Promise.all(compactions);
    load.stop();
    await running;
  } finally {
    load.close();
    await rig.close();
    // What the deployment logged (warnings and errors): the first place to look when the soak fails.
    writeFileSync(path.join(resultsDir(), 'soak-proxy.log'), rig.output());
    rmSync(dir, { recursive: true, force: true });
  }

  // Failures: anything wrong except a connection failure of a request in flight on a killed worker.
  // A request may also start just after the kill on a kept-alive connection to the dead worker that
  // the client has not seen close yet: connection failures starting within the grace are excused too.
  const excused = (o: Outcome): boolean => o.status === 0 && kills.some((k) => o.start <= k + KILL_GRACE_MS && o.end >= k - 50 && o.end <= k + KILL_GRACE_MS);
  const wrong = load.outcomes.filter((o) => o.wrong && !excused(o));
  const byProblem = new Map<string, number>();
  for (const o of wrong) {
    byProblem.set(`${o.op}: ${o.wrong}`, (byProblem.get(`${o.op}: ${o.wrong}`) ?? 0) + 1);
    const k = kills.reduce((best, t) => (Math.abs(t - o.start) < Math.abs(best - o.start) ? t : best), Infinity);
    say(`failed: ${o.op} ${o.wrong} at ${((o.start - t0) / 1000).toFixed(1)} s, ${Math.round(o.end - o.start)} ms long${Number.isFinite(k) ? `, ${Math.round(o.start - k)} ms after the nearest worker kill` : ''}`);
  }
  for (const [problem, n] of byProblem) failures.push(`${n} × ${problem}`);

  const roles = [...new Set(samples.flatMap((s) => Object.keys(s.rss)))].sort();
  printTable(`Soak: ${args.minutes} min, ${args.clients} clients; SIGHUP every ${args['hup-every']} s, a worker killed every ${args['kill-every']} s, compaction every ${args['compact-every']} s`,
    ['min', 'requests', 'req/s', 'errors', 'p99 ms', ...roles.map((r) => `RSS ${r}`), ...roles.map((r) => `fds ${r}`), 'lag p99 ms', 'events'],
    samples.map((s, i) => {
      const span = s.t - (i > 0 ? samples[i - 1]!.t : 0);
      return [(s.t / 60).toFixed(1), s.requests, Math.round(s.requests / span), Object.entries(s.errors).map(([k, v]) => `${k}:${v}`).join(' ') || '0', Math.round(s.p99),
        ...roles.map((r) => (s.rss[r] ? `${(s.rss[r]! / MIB).toFixed(0)} MiB` : '-')), ...roles.map((r) => (s.fds[r] === undefined ? '-' : `${s.fds[r]}+${s.blobFds[r]} blob${s.deletedFds[r] ? `+${s.deletedFds[r]} deleted` : ''}`)),
        Math.max(0, ...Object.values(s.lagMs)).toFixed(1), s.events.join(', ')];
    }));
  const markers = samples.flatMap((s) => s.events.filter((e) => !e.startsWith('SIGHUP')).map((e) => ({ x: s.t / 60, label: e })));
  writeChart('soak-memory', {
    title: 'Soak: resident memory per process', xLabel: 'minutes', yLabel: 'MiB', markers,
    series: roles.map((r) => ({ name: r, points: samples.filter((s) => s.rss[r]).map((s) => [s.t / 60, s.rss[r]! / MIB] as [number, number]) })),
  });
  writeChart('soak-traffic', {
    title: 'Soak: requests per second and p99 latency', xLabel: 'minutes', yLabel: 'req/s, ms', markers,
    series: [
      { name: 'req/s', points: samples.map((s, i) => [s.t / 60, s.requests / (s.t - (i > 0 ? samples[i - 1]!.t : 0))]) },
      { name: 'p99 ms', points: samples.map((s) => [s.t / 60, s.p99]) },
    ],
  });

  // Growth after warm-up, per process: over the samples of its latest incarnation (a replaced worker starts over).
  const after = samples.slice(args['warmup-samples']);
  for (const r of roles) {
    const lastPid = after.at(-1)?.pids[r];
    const mine = after.filter((s) => s.pids[r] === lastPid);
    const rss = mine.map((s) => s.rss[r]!);
    const fds = mine.map((s) => s.fds[r]!);
    if (keepsGrowing(rss, 64 * MIB)) failures.push(`${r}: RSS keeps growing after warm-up (${rss.map((v) => (v / MIB).toFixed(0)).join(' → ')} MiB)`);
    if (keepsGrowing(fds, 20)) failures.push(`${r}: open file descriptors (other than blob files) keep growing after warm-up (${fds.join(' → ')})`);
    const held = mine.map((s) => s.deletedFds[r] ?? 0);
    if (held.some((n, i) => n > 0 && (held[i - 1] ?? 0) > 0)) failures.push(`${r}: holds deleted files for more than a sample (${held.join(' → ')})`);
  }
  const total = load.outcomes.length;
  say(`\n${total} requests, ${load.outcomes.filter((o) => o.wrong).length} failed (${load.outcomes.filter((o) => o.wrong && excused(o)).length} of them in flight on a killed worker), ${kills.length} worker kills, ${load.forgotten} keys no longer checked (a change to them got no answer)`);
  if (failures.length > 0) {
    say(`SOAK FAILED:\n  ${failures.join('\n  ')}`);
    process.exitCode = 1;
  } else say('soak passed: no unexpected failure, no growth of memory or file descriptors after warm-up');
}

await main();
