// Replies to the client: a relay between our Elliptics client (the one every worker runs) and a real
// storage node mutates the node's replies in flight — header fields, the io_attr in front of read
// data, file-info and route-list payloads, frames cut short or glued to captured replies — and the
// client performs what a worker does: chunked and ranged reads through ObjectReader, lookups,
// writes, removals, statistics, backend status, an iterator walk. Nothing may throw out of the
// client (an uncaught exception or unhandled rejection is a finding), every operation must settle
// within its deadline, and a read that succeeds must return exactly the stored bytes it asked for:
// the data bytes themselves are never mutated, so wrong data means a framing or offset bug.

import net from 'node:net';
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { Cluster } from '../../../src/elliptics/cluster.js';
import { walkBackend, walkTargets } from '../../../src/elliptics/backend-walk.js';
import { ObjectReader } from '../../../src/elliptics/object-reader.js';
import { Session } from '../../../src/elliptics/session.js';
import { Command, HEADER_SIZE, IO_ATTR_SIZE, keyToId, splitFrames, VERSION_2_26 } from '../../../src/elliptics/protocol/index.js';
import { createLogger } from '../../../src/util/logger.js';
import { FIXTURES } from '../../helpers/fixtures.js';
import { startNode, tempDir } from '../../helpers/nodes.js';
import { mutate, mutateField } from '../mutate.js';
import { Rng } from '../random.js';
import type { Harness, Target } from '../target.js';

const HEADER_FIELDS: [number, 1 | 4 | 8][] = [[64, 4], [76, 4], [80, 4], [84, 4], [96, 4], [100, 4], [104, 8], [112, 8]];
/** io_attr fields in front of read data: start, num, timestamp, user flags, total size, record flags, flags, offset, size. */
const IO_FIELDS: [number, 1 | 4 | 8][] = [128, 136, 144, 152, 160, 168, 176, 192, 200].map((at): [number, 8] => [HEADER_SIZE + at, 8]);
/** Per-transaction deadline of the client under test: a reply mutated out of recognition costs this. */
const TIMEOUT_MS = 200;
const PARALLEL = 64;
const OPS = ['read', 'range', 'lookup', 'write', 'remove', 'stat', 'status', 'walk', 'routes'] as const;

/** Objects stored before the run: the reads must return exactly these bytes. */
const OBJECTS = [100, 5000, 300_000].map((size, i) => {
  const data = Buffer.alloc(size);
  for (let at = 0; at < size; at += 8) data.writeDoubleLE(at * 7 + i, Math.min(at, size - 8));
  return { key: `fuzz-object-${i}`, data };
});

/** One case: which operation, and the seed of the mutations its replies get. */
interface Case {
  op: (typeof OPS)[number];
  object: number;
  offset: number;
  size: number;
  seed: number;
  /** Per reply frame, the chance it is mutated. */
  rate: number;
}

function encodeCase(c: Case): Buffer {
  const b = Buffer.alloc(24);
  b[0] = OPS.indexOf(c.op);
  b[1] = c.object;
  b.writeUInt32LE(c.offset, 4);
  b.writeUInt32LE(c.size, 8);
  b.writeUInt32LE(c.seed, 12);
  b.writeDoubleLE(c.rate, 16);
  return b;
}

function decodeCase(b: Buffer): Case {
  return { op: OPS[b[0]! % OPS.length]!, object: b[1]! % OBJECTS.length, offset: b.readUInt32LE(4), size: b.readUInt32LE(8), seed: b.readUInt32LE(12), rate: b.readDoubleLE(16) };
}

function capturedReplies(): Buffer[] {
  const dir = path.join(FIXTURES, 'captures');
  const out: Buffer[] = [];
  for (const f of readdirSync(dir).filter((n) => n.endsWith('.s2c.bin'))) {
    try {
      for (const fr of splitFrames(readFileSync(path.join(dir, f)))) if (fr.raw.length < 64 * 1024) out.push(Buffer.from(fr.raw));
    } catch {
      // a capture that ends mid-frame: its whole frames were taken
    }
  }
  return out;
}

/** A relay of one case: passes requests on and mutates replies with the case's generator. */
class MutatingRelay {
  readonly server: net.Server;
  private readonly sockets = new Set<net.Socket>();

  constructor(
    private readonly upstreamPort: number,
    private readonly captured: readonly Buffer[],
    private readonly rng: Rng,
    private readonly rate: number,
  ) {
    this.server = net.createServer((client) => this.relay(client));
  }

  listen(): Promise<number> {
    return new Promise((resolve) => this.server.listen(0, '127.0.0.1', () => resolve((this.server.address() as net.AddressInfo).port)));
  }

  private relay(client: net.Socket): void {
    const up = net.connect(this.upstreamPort, '127.0.0.1');
    this.sockets.add(client);
    this.sockets.add(up);
    const close = (): void => {
      client.destroy();
      up.destroy();
      this.sockets.delete(client);
      this.sockets.delete(up);
    };
    client.on('error', close).on('close', close);
    up.on('error', close).on('close', close);
    client.pipe(up);
    let pending = Buffer.alloc(0);
    let first = true;
    up.on('data', (chunk: Buffer) => {
      pending = pending.length === 0 ? Buffer.from(chunk) : Buffer.concat([pending, chunk]);
      while (pending.length >= HEADER_SIZE) {
        const size = pending.readUInt32LE(112) + pending.readUInt32LE(116) * 0x1_0000_0000;
        if (pending.length < HEADER_SIZE + size) break;
        const frame = Buffer.from(pending.subarray(0, HEADER_SIZE + size));
        pending = pending.subarray(HEADER_SIZE + size);
        this.readdress(frame);
        // The handshake's reply passes: a client that cannot connect tests nothing further.
        const isHandshake = first && frame.readInt32LE(80) === Command.REVERSE_LOOKUP;
        first = false;
        client.write(isHandshake || !this.rng.chance(this.rate) ? frame : this.spoil(frame));
      }
    });
  }

  /**
   * The node announces its own address; the client checks that it lists the one it dialled, and
   * dials what the route list names: both are made to name the relay.
   */
  private readdress(frame: Buffer): void {
    const cmd = frame.readInt32LE(80);
    if (cmd !== Command.REVERSE_LOOKUP && cmd !== Command.ROUTE_LIST) return;
    // sockaddr_in: family 2 (little-endian), then the port (big-endian).
    const from = Buffer.from([2, 0, this.upstreamPort >> 8, this.upstreamPort & 0xff]);
    const port = (this.server.address() as net.AddressInfo).port;
    for (let at = frame.indexOf(from, HEADER_SIZE); at >= 0; at = frame.indexOf(from, at + 4)) frame.writeUInt16BE(port, at + 2);
  }

  private spoil(frame: Buffer): Buffer {
    const rng = this.rng;
    const cmd = frame.readInt32LE(80);
    const r = rng.int(100);
    if (r < 35) return mutateField(rng, frame, HEADER_FIELDS);
    if (r < 65 && frame.length >= HEADER_SIZE + IO_ATTR_SIZE) return mutateField(rng, frame, IO_FIELDS);
    if (r < 75) return frame.subarray(0, rng.int(frame.length));
    if (r < 85) {
      // A captured reply of the same transaction in place of the real one.
      const other = Buffer.from(rng.pick(this.captured));
      frame.copy(other, 104, 104, 112);
      return other;
    }
    if (cmd === Command.READ) return mutateField(rng, frame, HEADER_FIELDS);
    // Payloads other than read data: bytes mutated, the size kept true to them.
    const payload = mutate(rng, frame.subarray(HEADER_SIZE));
    const header = Buffer.from(frame.subarray(0, HEADER_SIZE));
    header.writeUInt32LE(payload.length, 112);
    header.writeUInt32LE(0, 116);
    return Buffer.concat([header, payload]);
  }

  close(): void {
    for (const s of this.sockets) s.destroy();
    this.server.close();
  }
}

async function withDeadline<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  try {
    return await Promise.race([p, new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Hang(`${what} did not settle within ${ms} ms`)), ms)))]);
  } finally {
    clearTimeout(timer);
  }
}

class Hang extends Error {}

export const clientRepliesTarget: Target = {
  name: 'client-replies',
  description: 'replies of a real node mutated in flight (header, io_attr, payloads, captured frames) → the client a worker runs',
  async start(): Promise<Harness> {
    const tmp = tempDir('backrunner-fuzz-client-');
    const node = await startNode(tmp.dir, { backends: [{ id: 1, group: 1 }, { id: 2, group: 2 }], 'max-frame': 8 * 1024 * 1024 });
    const log = createLogger('fuzz', { level: 'silent' });
    const options = (port: number, timeoutMs: number) => ({ remotes: [{ host: '127.0.0.1', port }], protocolVersion: VERSION_2_26, poolSize: 1, timeoutMs, checkIntervalMs: 3_600_000, maxFrame: 8 * 1024 * 1024, log });
    const direct = await Cluster.connect(options(node.port, 5000));
    for (const o of OBJECTS) await new Session(direct, { groups: [1, 2] }).write(o.key, o.data);
    const captured = capturedReplies();
    // What escapes the client: the process would die of it in a worker.
    const escaped: string[] = [];
    const onEscape = (err: unknown): void => {
      escaped.push(`${(err as Error)?.name}: ${(err as Error)?.message}\n${(err as Error)?.stack ?? ''}`);
    };
    process.on('uncaughtException', onEscape);
    process.on('unhandledRejection', onEscape);

    const run = async (c: Case): Promise<string | undefined> => {
      const relay = new MutatingRelay(node.port, captured, new Rng(c.seed), c.rate);
      try {
        return await runThrough(c, await relay.listen());
      } finally {
        relay.close();
      }
    };
    const runThrough = async (c: Case, relayPort: number): Promise<string | undefined> => {
      let cluster: Cluster | undefined;
      try {
        cluster = await withDeadline(Cluster.connect(options(relayPort, TIMEOUT_MS)), 5000, 'connect');
      } catch (err) {
        return err instanceof Hang ? err.message : undefined; // a connect that fails cleanly is fine
      }
      const session = new Session(cluster, { groups: [1, 2], timeoutMs: TIMEOUT_MS, removalTimes: true });
      const object = OBJECTS[c.object]!;
      const id = keyToId(object.key);
      try {
        await withDeadline((async () => {
          switch (c.op) {
            case 'read':
            case 'range': {
              const offset = c.op === 'range' ? c.offset % object.data.length : 0;
              const size = c.op === 'range' ? 1 + (c.size % (object.data.length - offset)) : 0;
              const reader = await ObjectReader.open(session, id, { offset, size, chunkSize: 64 * 1024 });
              const parts: Buffer[] = [];
              try {
                for await (const chunk of reader) parts.push(Buffer.from(chunk));
              } finally {
                reader.close();
              }
              const got = Buffer.concat(parts);
              const want = object.data.subarray(offset, size ? offset + size : undefined);
              if (!got.equals(want)) throw new WrongData(`read of ${object.key} at ${offset}+${size} succeeded with ${got.length} bytes that are not the stored ones (${want.length} expected)`);
              break;
            }
            case 'lookup':
              await session.lookupId(id);
              break;
            case 'write':
              await session.write(`scratch-${c.seed % 50}`, object.data.subarray(0, 1000));
              break;
            case 'remove':
              await session.remove(`scratch-${(c.seed >> 8) % 50}`);
              break;
            case 'stat':
              await session.monitorStats();
              break;
            case 'status':
              for (const p of cluster.nodes()) if (p.address) await session.backendStatus(p.address);
              break;
            case 'walk':
              for (const t of walkTargets(cluster, 1)) for await (const _ of walkBackend(cluster, t, { silenceSeconds: 1 })) void _;
              break;
            case 'routes':
              await session.routeList();
              break;
          }
        })(), 10_000, c.op);
      } catch (err) {
        if (err instanceof WrongData || err instanceof Hang) return err.message;
        // Anything else thrown is the client refusing a bad reply: expected.
      } finally {
        cluster.close();
      }
      return undefined;
    };

    const check = async (input: Buffer): Promise<string | undefined> => {
      const problem = await run(decodeCase(input));
      // Give an escaped error a turn to surface.
      await new Promise((r) => setImmediate(r));
      if (escaped.length > 0) return `escaped the client: ${escaped.splice(0).join('\n')}`;
      return problem;
    };
    return {
      make(rng) {
        return encodeCase({ op: rng.pick(OPS), object: rng.int(OBJECTS.length), offset: rng.u32(), size: rng.u32(), seed: rng.u32(), rate: rng.pick([0.05, 0.2, 0.5, 1]) });
      },
      check,
      async batch(inputs, report) {
        // Each case has a relay of its own: many run at once.
        let next = 0;
        await Promise.all(Array.from({ length: PARALLEL }, async () => {
          while (next < inputs.length) {
            const input = inputs[next++]!;
            const problem = await check(input);
            if (problem) report(input, problem);
          }
        }));
        return inputs.length;
      },
      async close() {
        process.off('uncaughtException', onEscape);
        process.off('unhandledRejection', onEscape);
        direct.close();
        await node.stop();
        tmp.cleanup();
      },
    };
  },
};

class WrongData extends Error {}
