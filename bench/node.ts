// Storage node throughput through the codec over TCP, next to the bare TCP ceiling measured in the
// same run, and the node's memory while 1 GiB passes through it.
//
//   npm run bench:node [-- --seconds 3] [--only write-1MiB] [--page-cache-cap 512]

import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { mkdtempSync, rmSync } from 'node:fs';
import { Connection } from '../src/elliptics/connection.js';
import { HEADER_SIZE, IO_ATTR_SIZE, keyToId, VERSION_2_26 } from '../src/elliptics/protocol/index.js';
import { finalPacket, readRequest, writeRequest, type Request } from '../src/elliptics/requests.js';
import { printTable, percent, say, sizeLabel } from './lib/table.js';
import { writeBarChart } from './lib/svg.js';
import { cpuSecondsOf, forkReady, rssOf, startBenchNode, stop } from './lib/processes.js';
import { argValue } from './lib/args.js';
import { MemoryCap } from './lib/memory-cap.js';

const SECONDS = Number(argValue('--seconds') ?? 3);
/** `--only read` / `--only 4KiB` / `--only read-4KiB-16`: run the matching cells only. */
const ONLY = argValue('--only');
/** `--verify-ttl 0`: the node re-verifies every chunk on every read (its default trusts a chunk for 10 s). */
const VERIFY_TTL = argValue('--verify-ttl');
const SIZES = [4096, 1024 * 1024];
const CONCURRENCY = [1, 16];
const KEYS = 64;
/** Each cell alternates node and bare-TCP runs this many times, so machine noise hits both alike. */
const ROUNDS = 4;
const WRITE_REPLY = 185; // addr + file info + a short path: what a WRITE reply costs on the wire

interface Result {
  ops: number;
  seconds: number;
  bytes: number;
  /** CPU seconds of the server process and of this (client) process. */
  serverCpu: number;
  clientCpu: number;
}

/** Runs `one` with `concurrency` requests always in flight for `seconds` or until `maxBytes` moved. */
async function drive(server: number, concurrency: number, size: number, one: (i: number) => Promise<void>, maxBytes = Infinity, seconds = SECONDS): Promise<Result> {
  const until = performance.now() + seconds * 1000;
  let ops = 0;
  let next = 0;
  const serverCpu0 = cpuSecondsOf(server);
  const clientCpu0 = process.cpuUsage();
  const t0 = performance.now();
  const lane = async (): Promise<void> => {
    while (performance.now() < until && ops * size < maxBytes) {
      await one(next++);
      ops++;
    }
  };
  await Promise.all(Array.from({ length: concurrency }, lane));
  const client = process.cpuUsage(clientCpu0);
  return {
    ops,
    seconds: (performance.now() - t0) / 1000,
    bytes: ops * size,
    serverCpu: cpuSecondsOf(server) - serverCpu0,
    clientCpu: (client.user + client.system) / 1e6,
  };
}

function add(total: Result, r: Result): void {
  total.ops += r.ops;
  total.seconds += r.seconds;
  total.bytes += r.bytes;
  total.serverCpu += r.serverCpu;
  total.clientCpu += r.clientCpu;
}

const cpu = (r: Result, which: 'serverCpu' | 'clientCpu'): string => `${Math.round((r[which] / r.seconds) * 100)}%`;

/** A minimal client of the ceiling server: requests pipelined on one socket, answers counted in order. */
class CeilingClient {
  private waiting: { left: number; resolve: () => void }[] = [];
  private constructor(private readonly socket: net.Socket) {
    socket.on('data', (chunk: Buffer) => {
      let n = chunk.length;
      while (n > 0 && this.waiting.length > 0) {
        const w = this.waiting[0]!;
        const take = Math.min(n, w.left);
        w.left -= take;
        n -= take;
        if (w.left === 0) {
          this.waiting.shift();
          w.resolve();
        }
      }
    });
  }

  static connect(port: number): Promise<CeilingClient> {
    return new Promise((resolve) => {
      const s = net.connect(port, '127.0.0.1', () => {
        s.setNoDelay(true);
        resolve(new CeilingClient(s));
      });
    });
  }

  /** Sends `requestBytes` (same sizes as the Elliptics message) and waits for `responseBytes`. */
  call(requestBytes: number, responseBytes: number, body?: Buffer): Promise<void> {
    const head = Buffer.alloc(HEADER_SIZE + IO_ATTR_SIZE);
    head.writeUInt32LE(requestBytes, 0);
    head.writeUInt32LE(responseBytes, 4);
    return new Promise((resolve) => {
      this.waiting.push({ left: responseBytes, resolve });
      this.socket.cork();
      this.socket.write(head);
      if (body) this.socket.write(body);
      this.socket.uncork();
    });
  }

  close(): void {
    this.socket.destroy();
  }
}

async function main(): Promise<void> {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'backrunner-bench-node-'));
  const node = await startBenchNode(path.join(dir, 'node'), [1], VERIFY_TTL === undefined ? {} : { 'verify-ttl': Number(VERIFY_TTL) });
  const ceiling = await forkReady<{ port: number }>('bench/tcp-ceiling-server.js', []);
  // The same server appending each request to a file in the node's directory: the storage ceiling.
  const fileCeiling = await forkReady<{ port: number }>('bench/tcp-ceiling-server.js', [path.join(dir, 'ceiling.blob')]);
  // Both writers of files share the cap (they take turns); the bare TCP server writes none.
  const cap = MemoryCap.fromArgs('bench/node');
  for (const pid of [node.proc.pid!, fileCeiling.proc.pid!]) cap?.add(pid);
  const rows: (string | number)[][] = [];
  try {
    const conn = await Connection.open('127.0.0.1', node.port, { maxFrame: 200 * 1024 * 1024, timeoutMs: 30_000 });
    await conn.handshake(VERSION_2_26);
    const bare = await CeilingClient.connect(ceiling.message.port);
    const bareFile = await CeilingClient.connect(fileCeiling.message.port);
    const send = async (r: Request): Promise<void> => {
      const packets = await conn.request(r.header, r.payload);
      finalPacket(packets, 'bench');
      // Done with the reply, as a streaming reader is once it passed the bytes on.
      for (const p of packets) p.body.release();
    };

    for (const size of SIZES) {
      const body = Buffer.alloc(size, 0xab);
      const ids = Array.from({ length: KEYS }, (_, i) => keyToId(`bench-${size}-${i}`));
      for (const id of ids) await send(writeRequest({ id, group: 1 }, body));
      for (const op of ['read', 'write'] as const) {
        for (const c of CONCURRENCY) {
          if (ONLY && !`${op}-${sizeLabel(size).replace(' ', '')}-${c}`.includes(ONLY)) continue;
          const viaNode: Result = { ops: 0, seconds: 0, bytes: 0, serverCpu: 0, clientCpu: 0 };
          const viaTcp: Result = { ops: 0, seconds: 0, bytes: 0, serverCpu: 0, clientCpu: 0 };
          const viaFile: Result = { ops: 0, seconds: 0, bytes: 0, serverCpu: 0, clientCpu: 0 };
          for (let round = 0; round < ROUNDS; round++) {
            add(viaNode, await drive(node.proc.pid!, c, size, (i) =>
              op === 'read' ? send(readRequest({ id: ids[i % KEYS]!, group: 1 })) : send(writeRequest({ id: ids[i % KEYS]!, group: 1 }, body)),
              op === 'write' ? (1024 * 1024 * 1024) / ROUNDS : Infinity, SECONDS / ROUNDS));
            add(viaTcp, await drive(ceiling.proc.pid!, c, size, () =>
              op === 'read'
                ? bare.call(HEADER_SIZE + IO_ATTR_SIZE, HEADER_SIZE + IO_ATTR_SIZE + size)
                : bare.call(HEADER_SIZE + IO_ATTR_SIZE + size, HEADER_SIZE + WRITE_REPLY, body), Infinity, SECONDS / ROUNDS));
            if (op === 'write') {
              add(viaFile, await drive(fileCeiling.proc.pid!, c, size, () => bareFile.call(HEADER_SIZE + IO_ATTR_SIZE + size, HEADER_SIZE + WRITE_REPLY, body),
                (1024 * 1024 * 1024) / ROUNDS, SECONDS / ROUNDS));
            }
          }
          const nodeOps = viaNode.ops / viaNode.seconds;
          const tcpOps = viaTcp.ops / viaTcp.seconds;
          const fileOps = viaFile.ops / viaFile.seconds;
          const stored = op === 'write' ? [fileOps, cpu(viaFile, 'serverCpu'), percent(nodeOps, fileOps)] : ['-', '-', '-'];
          rows.push([op, sizeLabel(size), c, nodeOps, viaNode.bytes / viaNode.seconds / 1e6, cpu(viaNode, 'serverCpu'), cpu(viaNode, 'clientCpu'),
            tcpOps, viaTcp.bytes / viaTcp.seconds / 1e6, cpu(viaTcp, 'serverCpu'), cpu(viaTcp, 'clientCpu'), percent(nodeOps, tcpOps), ...stored]);
        }
      }
    }
    printTable(`storage node vs bare TCP request/response (${SECONDS} s per side and cell in ${ROUNDS} alternating rounds; one connection, requests pipelined; verify-ttl ${VERIFY_TTL ?? 'default'}${cap ? `; ${cap.label}, ${cap.report()}` : ''})`,
      ['op', 'size', 'conc', 'node ops/s', 'node MB/s', 'node cpu', 'client cpu', 'tcp ops/s', 'tcp MB/s', 'server cpu', 'client cpu', 'node/tcp', 'tcp+file ops/s', 'server cpu', 'node/tcp+file'], rows);
    process.stdout.write('cpu: share of one core used by the server process / by this client process during the cell\n');
    process.stdout.write('tcp+file: the bare TCP server also appending each request to a file beside the node\'s blobs (page cache, no fsync): the most any node can write here\n');
    say(`chart: ${writeBarChart('node', {
      title: 'Storage node vs bare TCP, same run (ops/s as % of bare TCP)',
      yLabel: '% of bare TCP',
      categories: rows.map((r) => `${r[0]} ${r[1]} ×${r[2]}`),
      series: [{ name: 'node / bare TCP', values: rows.map((r) => Math.round((Number(r[3]) / Number(r[7])) * 100)) }],
      reference: { value: 100, label: 'bare TCP' },
    })}`);

    if (ONLY) return;
    // Memory: 1 GiB written and 1 GiB read back in 1 MiB values, 16 in flight.
    const mib = Buffer.alloc(1024 * 1024, 0xcd);
    const before = rssOf(node.proc.pid!);
    let peak = before;
    const sampler = setInterval(() => (peak = Math.max(peak, rssOf(node.proc.pid!))), 50);
    const memIds = Array.from({ length: 1024 }, (_, i) => keyToId(`mem-${i}`));
    const t0 = performance.now();
    await drive(node.proc.pid!, 16, mib.length, (i) => send(writeRequest({ id: memIds[i % memIds.length]!, group: 1 }, mib)), 1024 ** 3, Infinity);
    await drive(node.proc.pid!, 16, mib.length, (i) => send(readRequest({ id: memIds[i % memIds.length]!, group: 1 })), 1024 ** 3, Infinity);
    clearInterval(sampler);
    const after = rssOf(node.proc.pid!);
    printTable('storage node memory while 1 GiB is written through it and read back (1 MiB values, 16 in flight)',
      ['RSS before', 'RSS peak', 'RSS after', 'peak growth', 'seconds'],
      [[`${(before / 2 ** 20).toFixed(0)} MiB`, `${(peak / 2 ** 20).toFixed(0)} MiB`, `${(after / 2 ** 20).toFixed(0)} MiB`, `${((peak - before) / 2 ** 20).toFixed(0)} MiB`, ((performance.now() - t0) / 1000).toFixed(1)]]);
    conn.destroy();
    bare.close();
    bareFile.close();
  } finally {
    await stop(node.proc);
    await stop(ceiling.proc);
    await stop(fileCeiling.proc);
    await cap?.remove();
    rmSync(dir, { recursive: true, force: true });
  }
}

await main();
