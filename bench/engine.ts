// The embedded engine's housekeeping: how long a backend takes to start with and without its index
// snapshot, and how much disk a compaction gives back when 80 % of the bytes are dead.
//
//   npm run bench:engine [-- --records 100000,1000000 --objects 400]
//
// Writes bench-results/engine-startup.svg and bench-results/engine-defrag.svg.

import { mkdtempSync, readdirSync, rmSync, statSync } from 'node:fs';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { keyToId } from '../src/elliptics/protocol/index.js';
import { Backend, type BackendOptions } from '../src/storage-node/engine/backend.js';
import { DefragLevel, DefragState } from '../src/storage-node/engine/defrag.js';
import { printTable, say } from './lib/table.js';

const sizeLabel = (n: number): string => (n >= 1048576 ? `${(n / 1048576).toFixed(1)} MiB` : `${(n / 1024).toFixed(0)} KiB`);
import { writeBarChart } from './lib/svg.js';
import { argValue } from './lib/args.js';

const RECORDS = (argValue('--records') ?? '100000,1000000').split(',').map(Number);
/** Also a backend of large media objects: 2000 × 512 KiB (1000 MiB). */
const LARGE = { count: Number(argValue('--large') ?? 2000), size: 512 * 1024 };
const OBJECTS = Number(argValue('--objects') ?? 400);
const RECORD_BODY = 100;
const OBJECT_SIZE = 64 * 1024;
const CONCURRENCY = 64;

function options(dir: string, extra: Partial<BackendOptions> = {}): BackendOptions {
  return { id: 1, group: 1, dir, blobSize: 256 * 1024 * 1024, blobSizeLimit: 0, sync: 0, readOnly: false, delay: 0, verifyTtl: 10, defragTimeout: 0, snapshotInterval: 0, ...extra };
}

function write(b: Backend, key: string, data: Buffer): Promise<unknown> {
  return b.write({ id: keyToId(key), data: [data], length: data.length, offset: 0, num: 0, ioFlags: 0, timestamp: { sec: 0, nsec: 0 }, userFlags: 0n });
}

async function fill(b: Backend, count: number, body: (i: number) => Buffer, key: (i: number) => string): Promise<void> {
  let next = 0;
  const lane = async (): Promise<void> => {
    for (let i = next++; i < count; i = next++) await write(b, key(i), body(i));
  };
  await Promise.all(Array.from({ length: CONCURRENCY }, lane));
}

/**
 * Milliseconds from `new Backend` to serving (the better of two starts: the first may pay for the
 * garbage an earlier step left), and what the start read. `prepare` runs before each start.
 */
async function timedStart(dir: string, prepare: () => Promise<void> = async () => undefined): Promise<{ ms: number; from: Backend['startedFrom'] }> {
  let best: { ms: number; from: Backend['startedFrom'] } | undefined;
  for (let i = 0; i < 2; i++) {
    await prepare();
    const t0 = performance.now();
    const b = new Backend(options(dir));
    await b.start();
    const ms = performance.now() - t0;
    if (!best || ms < best.ms) best = { ms, from: b.startedFrom };
    await b.stop();
  }
  return best!;
}

const diskBytes = (dir: string): number => readdirSync(dir).filter((n) => /^data-0\.\d+$/.test(n)).reduce((n, f) => n + statSync(path.join(dir, f)).size, 0);

async function startup(root: string): Promise<{ label: string; snapshot: number; unclean: number; full: number; fullUnclean: number }[]> {
  const out: { label: string; snapshot: number; unclean: number; full: number; fullUnclean: number }[] = [];
  const rows: (string | number)[][] = [];
  const sets = [...RECORDS.map((n) => ({ n, size: RECORD_BODY })), ...(LARGE.count > 0 ? [{ n: LARGE.count, size: LARGE.size }] : [])];
  for (const { n, size } of sets) {
    const dir = path.join(root, `start-${n}-${size}`);
    const b = new Backend(options(dir));
    await b.start();
    const body = Buffer.alloc(size, 7);
    const t0 = performance.now();
    await fill(b, n, () => body, (i) => `r-${i}`);
    const fillS = (performance.now() - t0) / 1000;
    await b.stop(); // a clean stop leaves the snapshot
    const disk = diskBytes(dir);
    const rm = (name: string) => (): Promise<void> => fs.rm(path.join(dir, name), { force: true });
    const withSnap = await timedStart(dir);
    // As after a kill: the snapshot is there, the clean marker is not (the tail is re-verified).
    const unclean = await timedStart(dir, rm('clean'));
    const full = await timedStart(dir, rm('index.snapshot'));
    const fullUnclean = await timedStart(dir, async () => {
      await rm('index.snapshot')();
      await rm('clean')();
    });
    if (!withSnap.from.snapshot || full.from.snapshot || fullUnclean.from.snapshot) throw new Error('the starts did not read what they were meant to');
    rows.push([`${n.toLocaleString('en')} × ${size < 1024 ? `${size} B` : sizeLabel(size)}`, sizeLabel(disk), `${fillS.toFixed(1)} s`, `${Math.round(withSnap.ms)} ms`, `${Math.round(unclean.ms)} ms`, `${Math.round(full.ms)} ms`, `${Math.round(fullUnclean.ms)} ms`, `${(full.ms / withSnap.ms).toFixed(1)}×`]);
    out.push({ label: `${n.toLocaleString('en')} × ${size < 1024 ? `${size} B` : sizeLabel(size)}`, snapshot: Math.round(withSnap.ms), unclean: Math.round(unclean.ms), full: Math.round(full.ms), fullUnclean: Math.round(fullUnclean.ms) });
    rmSync(dir, { recursive: true, force: true });
  }
  printTable('Backend start-up (page cache warm: a cold disk widens every gap)', ['records', 'blobs on disk', 'written in', 'snapshot, clean stop', 'snapshot, after a kill', 'full scan, clean stop', 'full scan, after a kill', 'full / snapshot (clean)'], rows);
  return out;
}

async function defrag(root: string): Promise<{ before: number; after: number; live: number }> {
  const dir = path.join(root, 'defrag');
  const b = new Backend(options(dir, { blobSize: 16 * 1024 * 1024 }));
  await b.start();
  const body = (v: number) => (i: number): Buffer => Buffer.alloc(OBJECT_SIZE, (i + v) & 0xff);
  for (let v = 0; v < 5; v++) await fill(b, OBJECTS, body(v), (i) => `o-${i}`); // 4 of 5 versions dead: 80 %
  await b.syncAll();
  const before = diskBytes(dir);
  const live = OBJECTS * OBJECT_SIZE;
  const t0 = performance.now();
  if (b.startDefrag(DefragLevel.FULL) !== 0) throw new Error('defragmentation did not start');
  while (b.defrag.state !== DefragState.NOT_STARTED) await new Promise((r) => setTimeout(r, 20));
  const seconds = (performance.now() - t0) / 1000;
  const after = diskBytes(dir);
  for (let i = 0; i < OBJECTS; i += 37) {
    const r = await b.read(keyToId(`o-${i}`), 0, 0, true, 0);
    const ok = r.buf.subarray(r.start, r.start + r.length).equals(body(4)(i));
    r.release();
    if (!ok) throw new Error(`o-${i} changed in the compaction`);
  }
  await b.stop();
  printTable(`Compaction, ${OBJECTS} × ${sizeLabel(OBJECT_SIZE)} objects written 5 times (80 % of the bytes dead)`, ['live data', 'disk before', 'disk after', 'after / live', 'took', 'copied at'], [
    [sizeLabel(live), sizeLabel(before), sizeLabel(after), `${(after / live).toFixed(2)}×`, `${seconds.toFixed(2)} s`, `${(live / 1048576 / seconds).toFixed(0)} MiB/s`],
  ]);
  rmSync(dir, { recursive: true, force: true });
  return { before, after, live };
}

async function main(): Promise<void> {
  const root = mkdtempSync(path.join(os.tmpdir(), 'backrunner-bench-engine-'));
  try {
    const starts = await startup(root);
    say(`chart: ${writeBarChart('engine-startup', {
      title: 'Backend start-up: index snapshot vs full scan',
      yLabel: 'milliseconds',
      categories: starts.map((s) => s.label),
      series: [{ name: 'snapshot (clean stop)', values: starts.map((s) => s.snapshot) }, { name: 'snapshot (after a kill)', values: starts.map((s) => s.unclean) }, { name: 'full scan (clean stop)', values: starts.map((s) => s.full) }, { name: 'full scan (after a kill)', values: starts.map((s) => s.fullUnclean) }],
    })}`);
    const d = await defrag(root);
    say(`chart: ${writeBarChart('engine-defrag', {
      title: 'Disk bytes around a compaction (80 % dead)',
      yLabel: 'MiB',
      categories: ['live data', 'before', 'after'],
      series: [{ name: 'bytes on disk', values: [d.live, d.before, d.after].map((n) => Math.round(n / 1048576)) }],
    })}`);
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
}

await main();
