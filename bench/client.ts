// The native client against the embedded cluster (two node processes, groups 1–6): write (to 2
// groups), read and lookup (all groups in parallel) of 4 KiB and 1 MiB values, 16 requests in
// flight, pool size 1 vs 4.
//
//   npm run bench:client [-- --seconds 3]

import os from 'node:os';
import path from 'node:path';
import { mkdtempSync, rmSync } from 'node:fs';
import { Cluster, Session } from '../src/elliptics/index.js';
import { VERSION_2_26 } from '../src/elliptics/protocol/index.js';
import { createLogger } from '../src/util/logger.js';
import { printTable, say, sizeLabel } from './lib/table.js';
import { writeBarChart } from './lib/svg.js';
import { cpuSecondsOf, startBenchNode, stop } from './lib/processes.js';
import { argValue } from './lib/args.js';

const SECONDS = Number(argValue('--seconds') ?? 3);
const CONCURRENCY = 16;
const KEYS = 64;

async function main(): Promise<void> {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'backrunner-bench-client-'));
  const node1 = await startBenchNode(path.join(dir, 'node1'), [1, 3, 5]);
  const node2 = await startBenchNode(path.join(dir, 'node2'), [2, 4, 6], { remotes: [`127.0.0.1:${node1.port}`] });
  const rows: (string | number)[][] = [];
  try {
    for (const poolSize of [1, 4]) {
      const cluster = await Cluster.connect({
        remotes: [{ host: '127.0.0.1', port: node1.port }],
        protocolVersion: VERSION_2_26,
        poolSize,
        timeoutMs: 60_000,
        checkIntervalMs: 30_000,
        maxFrame: 200 * 1024 * 1024,
        log: createLogger('bench', { level: 'warn' }),
      });
      const s = new Session(cluster, { namespace: 'bench', groups: [1, 2] });
      for (const size of [4096, 1024 * 1024]) {
        const body = Buffer.alloc(size, 0x5c);
        const keys = Array.from({ length: KEYS }, (_, i) => `k-${size}-${i}`);
        for (const k of keys) await s.write(k, body);
        const ops: [string, (k: string) => Promise<unknown>, number][] = [
          ['write', (k) => s.write(k, body), size],
          ['read', (k) => s.read(k), size],
          ['lookup', (k) => s.lookup(k), 0],
        ];
        for (const [name, op, bytes] of ops) {
          const cpu0 = process.cpuUsage();
          const nodes0 = cpuSecondsOf(node1.proc.pid!) + cpuSecondsOf(node2.proc.pid!);
          const until = performance.now() + SECONDS * 1000;
          const t0 = performance.now();
          let done = 0;
          let next = 0;
          await Promise.all(Array.from({ length: CONCURRENCY }, async () => {
            while (performance.now() < until) {
              await op(keys[next++ % KEYS]!);
              done++;
            }
          }));
          const secs = (performance.now() - t0) / 1000;
          const cpu = process.cpuUsage(cpu0);
          const nodes = cpuSecondsOf(node1.proc.pid!) + cpuSecondsOf(node2.proc.pid!) - nodes0;
          rows.push([name, sizeLabel(size), poolSize, done / secs, bytes ? (done * bytes) / secs / 1e6 : '-',
            `${Math.round(((cpu.user + cpu.system) / 1e6 / secs) * 100)}%`, `${Math.round((nodes / secs) * 100)}%`]);
        }
      }
      cluster.close();
    }
    printTable(`native client → embedded cluster (2 node processes; write to groups 1+2, read from group 1, lookup in both; ${CONCURRENCY} in flight; ${SECONDS} s per cell)`,
      ['op', 'size', 'pool', 'ops/s', 'MB/s', 'client cpu', 'nodes cpu'], rows);
    process.stdout.write('MB/s counts object bytes once (a write to two groups moves twice that); cpu is the share of one core.\n');
    const pools = [...new Set(rows.map((r) => r[2]))];
    const cells = [...new Set(rows.map((r) => `${r[0]} ${r[1]}`))];
    say(`chart: ${writeBarChart('client', {
      title: 'Native client → embedded cluster: thousands of operations per second by pool size',
      yLabel: 'k ops/s',
      categories: cells,
      series: pools.map((pool) => ({
        name: `pool ${pool}`,
        values: cells.map((cell) => {
          const row = rows.find((r) => `${r[0]} ${r[1]}` === cell && r[2] === pool);
          return row ? Math.round(Number(row[3]) / 100) / 10 : 0;
        }),
      })),
    })}`);
  } finally {
    await stop(node1.proc);
    await stop(node2.proc);
    rmSync(dir, { recursive: true, force: true });
  }
}

await main();
