// Where body digests should run: on a worker's event loop, or in the piscina pool. The loop is the
// scarce resource of an HTTP worker (every request of that worker needs it), so the measure is how
// long the loop is busy per digest, next to the digests per second either way.
//
//   node dist/bench/hash.js [--count 400]

import { createHash } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import { Piscina } from 'piscina';
import { printTable, say, sizeLabel } from './lib/table.js';
import { writeBarChart } from './lib/svg.js';
import { HASH_OFFLOAD_ABOVE } from '../src/proxy/body-digest.js';
import { argValue } from './lib/args.js';

const COUNT = Number(argValue('--count') ?? 400);
const CONCURRENCY = 16;
const SIZES = [16 * 1024, 64 * 1024, 256 * 1024, 1024 * 1024, 4 * 1024 * 1024];

const pool = new Piscina({ filename: fileURLToPath(new URL('../workers/hash-worker.js', import.meta.url)), minThreads: 2, maxThreads: 2 });

interface Run {
  perSecond: number;
  /** Microseconds the event loop was busy per digest. */
  loopMicros: number;
}

async function measure(op: () => Promise<unknown>): Promise<Run> {
  const elu0 = performance.eventLoopUtilization();
  const t0 = performance.now();
  let started = 0;
  await Promise.all(Array.from({ length: CONCURRENCY }, async () => {
    while (started < COUNT) {
      started++;
      await op();
    }
  }));
  const ms = performance.now() - t0;
  const elu = performance.eventLoopUtilization(elu0);
  return { perSecond: (COUNT / ms) * 1000, loopMicros: (elu.active * 1000) / COUNT };
}

async function main(): Promise<void> {
  const rows: (string | number)[][] = [];
  for (const size of SIZES) {
    // A body as it arrives from uWS: 64 KiB pieces.
    const parts = Array.from({ length: Math.ceil(size / 65536) }, (_, i) => Buffer.alloc(Math.min(65536, size - i * 65536), i));
    await pool.run({ algorithm: 'sha256', parts }); // warm the threads
    const inline = await measure(async () => {
      const h = createHash('sha256');
      for (const p of parts) h.update(p);
      h.digest('base64');
    });
    const offloaded = await measure(() => pool.run({ algorithm: 'sha256', parts }));
    rows.push([sizeLabel(size), inline.perSecond, inline.loopMicros, offloaded.perSecond, offloaded.loopMicros,
      offloaded.loopMicros < inline.loopMicros ? `pool (${(inline.loopMicros / offloaded.loopMicros).toFixed(1)}x less loop)` : 'inline']);
  }
  printTable(`SHA-256 of a request body: on the event loop vs in the piscina pool (2 threads), ${CONCURRENCY} in flight, ${COUNT} digests per cell`,
    ['body', 'inline /s', 'inline loop µs', 'pool /s', 'pool loop µs', 'less loop time'], rows);
  process.stdout.write(`body-digest.ts offloads whole bodies from ${sizeLabel(HASH_OFFLOAD_ABOVE)} up; streamed bodies are hashed per 64 KiB piece on the loop.\n`);
  say(`chart: ${writeBarChart('hash', {
    title: 'Event-loop µs per SHA-256 body digest: inline vs piscina pool',
    yLabel: 'loop µs per digest',
    categories: rows.map((r) => String(r[0])),
    series: [{ name: 'inline', values: rows.map((r) => Math.round(Number(r[2]))) }, { name: 'pool', values: rows.map((r) => Math.round(Number(r[4]))) }],
  })}`);
  await pool.destroy();
}

await main();
