// Frames to the storage node: every command's valid request — the frames real clients sent in the
// captures, and what our client builds (CAS timestamps, removal times, the iterator) — with
// mutated header fields and payloads, sent to a node process over TCP. Well-framed cases are
// pipelined, followed by a ROUTE_LIST whose answer says the node read them all; cases whose
// framing is broken go one per connection. After every batch the node must still be running,
// and must store and return an object correctly.

import net from 'node:net';
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { BackendCommand, Command, CommandFlags, encodeHeader, FlagsHigh, HEADER_SIZE, keyToId, makeHeader, splitFrames } from '../../../src/elliptics/protocol/index.js';
import { encodeIteratorRequest, makeIteratorRequest } from '../../../src/elliptics/protocol/iterator.js';
import { backendControlRequest, bulkReadRequest, lookupRequest, readRequest, removeRequest, writeRequest, type Request } from '../../../src/elliptics/requests.js';
import { FIXTURES } from '../../helpers/fixtures.js';
import { spawnNode, tempDir, type ChildNode } from '../../helpers/nodes.js';
import { RawClient } from '../../helpers/raw-client.js';
import { mutate, mutateField } from '../mutate.js';
import type { Harness, Target } from '../target.js';

const GROUPS = [1, 2, 3, 4, 5, 6];
const MAX_FRAME = 4 * 1024 * 1024;
const SENTINEL_TRANS = 0x5e47_1e1n;
/** Well-framed cases pipelined on one connection. */
const RUN = Number(process.env.FUZZ_RUN ?? 16);
/** Header fields: group, status, cmd, backend id, trace id, flags (low, high), trans, size. */
const HEADER_FIELDS: [number, 1 | 4 | 8][] = [[64, 4], [76, 4], [80, 4], [84, 4], [88, 8], [96, 4], [100, 4], [104, 8]];
const COMMANDS = Object.values(Command);

function frameOf(r: Request): Buffer {
  const payload = Buffer.concat(r.payload as Buffer[]);
  return Buffer.concat([encodeHeader({ ...r.header, size: payload.length }), payload]);
}

function corpus(): Buffer[] {
  const dir = path.join(FIXTURES, 'captures');
  const out: Buffer[] = [];
  for (const f of readdirSync(dir).filter((n) => n.endsWith('.c2s.bin'))) {
    try {
      for (const fr of splitFrames(readFileSync(path.join(dir, f)))) out.push(Buffer.from(fr.raw));
    } catch {
      // a capture that ends mid-frame: its whole frames were taken
    }
  }
  const id = keyToId('fuzz-key', 'b1');
  const ts = { sec: 1_700_000_000, nsec: 5 };
  out.push(
    frameOf(writeRequest({ id, group: 1 }, Buffer.from('fuzz payload'), { timestamp: ts, ioFlags: 0x200000 })),
    frameOf(writeRequest({ id, group: 2 }, Buffer.alloc(3000, 1), { offset: 100, num: 5000, ioFlags: 0x10 })),
    frameOf(readRequest({ id, group: 1, flagsHigh: FlagsHigh.REMOVAL_TIME }, { offset: 2, size: 5 })),
    frameOf(lookupRequest({ id, group: 3, flagsHigh: FlagsHigh.REMOVAL_TIME })),
    frameOf(removeRequest({ id, group: 1 }, 0, ts)),
    frameOf(bulkReadRequest({ group: 1 }, [id, keyToId('other', 'b1')])),
    frameOf({ header: makeHeader({ cmd: Command.ITERATOR, id, group: 1, flags: CommandFlags.NEED_ACK }), payload: [encodeIteratorRequest(makeIteratorRequest({}))] }),
  );
  return out;
}

/** Whether the frame's size field matches what follows it (then the node reads the next one after it). */
function wellFramed(b: Buffer): boolean {
  if (b.length < HEADER_SIZE) return false;
  const size = b.readUInt32LE(112) + b.readUInt32LE(116) * 0x1_0000_0000;
  return size === b.length - HEADER_SIZE && b.length <= MAX_FRAME;
}

function sentinel(): Buffer {
  return encodeHeader(makeHeader({ cmd: Command.ROUTE_LIST, flags: CommandFlags.NEED_ACK, trans: SENTINEL_TRANS }));
}

/**
 * Sends `bytes` and then the sentinel on a new connection; resolves true when the sentinel's reply
 * came back (the node read everything before it), false when the node closed or went quiet.
 */
function deliver(port: number, bytes: Buffer, quietMs: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = net.connect(port, '127.0.0.1');
    let got: Buffer = Buffer.alloc(0);
    let done = false;
    const finish = (ok: boolean): void => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      s.destroy();
      resolve(ok);
    };
    const timer = setTimeout(() => finish(false), quietMs);
    s.on('error', () => finish(false));
    s.on('close', () => finish(false));
    s.on('data', (c: Buffer) => {
      // Scan reply headers for the sentinel's transaction.
      got = got.length === 0 ? Buffer.from(c) : Buffer.concat([got, c]);
      while (got.length >= HEADER_SIZE) {
        const size = got.readUInt32LE(112) + got.readUInt32LE(116) * 0x1_0000_0000;
        if (got.readBigUInt64LE(104) === SENTINEL_TRANS) return finish(true);
        if (got.length < HEADER_SIZE + size) break;
        got = got.subarray(HEADER_SIZE + size);
      }
    });
    s.on('connect', () => {
      s.write(bytes);
      s.write(sentinel());
    });
  });
}

export const nodeFramesTarget: Target = {
  name: 'node-frames',
  description: 'request frames of every command (captured and built, mutated) → a storage node process',
  async start(): Promise<Harness> {
    const tmp = tempDir('backrunner-fuzz-node-');
    let node: ChildNode = await spawnNode(tmp.dir, { backends: GROUPS.map((g) => ({ id: g, group: g, 'blob-size-limit': 64 * 1024 * 1024 })), 'max-frame': MAX_FRAME, sync: 1 }, 'fuzz-node');
    const frames = corpus();
    let probe = 0;
    const alive = async (): Promise<string | undefined> => {
      if (node.proc.exitCode !== null || node.proc.signalCode !== null) return `the node exited (${node.proc.exitCode ?? node.proc.signalCode})`;
      let c: RawClient | undefined;
      try {
        c = await RawClient.connect(node.port, { timeoutMs: 10_000 });
        // Undo what mutated BACKEND_CONTROL frames may have done (disable, read-only, delays).
        for (const g of GROUPS) {
          for (const command of [BackendCommand.ENABLE, BackendCommand.WRITEABLE, BackendCommand.SET_DELAY]) {
            await c.send(backendControlRequest({ backendId: g, command, defragLevel: 0, delay: 0, ids: [] }));
          }
        }
        const key = `alive-${probe++}`;
        const data = Buffer.from(`still whole ${key}`);
        await c.write(1, key, data);
        const back = await c.read(1, key);
        if (!back.data.equals(data)) return `the node returned other bytes for ${key}`;
        return undefined;
      } catch (err) {
        return `the node does not serve a valid write and read: ${(err as Error).message}`;
      } finally {
        c?.close();
      }
    };
    return {
      make(rng) {
        const base = rng.pick(frames);
        const r = rng.int(100);
        if (r < 50) {
          const out = mutateField(rng, base, HEADER_FIELDS);
          if (rng.chance(0.3)) out.writeInt32LE(rng.pick(COMMANDS), 80);
          return out;
        }
        if (r < 85) {
          // The payload mutated, the size kept true to it.
          const payload = mutate(rng, base.subarray(HEADER_SIZE), frames.map((f) => f.subarray(HEADER_SIZE)));
          const header = Buffer.from(base.subarray(0, HEADER_SIZE));
          header.writeUInt32LE(payload.length, 112);
          header.writeUInt32LE(0, 116);
          return Buffer.concat([header, payload]);
        }
        return mutate(rng, base, frames);
      },
      async check(input) {
        await deliver(node.port, input, 2000);
        return alive();
      },
      async batch(inputs, report) {
        // A frame the node closes the connection on (a refused handshake, say) hides the ones after
        // it: well-framed cases go in runs of RUN, and a run that did not get through is split in
        // halves until every frame has been read by the node.
        const send = async (run: readonly Buffer[]): Promise<number> => {
          if (run.length === 0) return 0;
          if (await deliver(node.port, Buffer.concat(run), 30_000)) return run.length;
          if (run.length === 1) return 1;
          const half = run.length >> 1;
          return (await send(run.slice(0, half))) + (await send(run.slice(half)));
        };
        const framed = inputs.filter(wellFramed);
        const runs = Array.from({ length: Math.ceil(framed.length / RUN) }, (_, i) => framed.slice(i * RUN, (i + 1) * RUN));
        // A broken frame leaves the node waiting for bytes that never come, or closing: one connection each.
        const broken = inputs.filter((b) => !wellFramed(b));
        const [sent] = await Promise.all([Promise.all(runs.map(send)), Promise.all(broken.map((b) => deliver(node.port, b, 50)))]);
        const cases = sent.reduce((a, b) => a + b, 0) + broken.length;
        if (node.proc.exitCode !== null || node.proc.signalCode !== null) {
          report(Buffer.concat(inputs), 'the node exited during this batch (the input is the whole batch, as sent)');
          // Carry on with a new node so the rest of the budget still runs.
          node = await spawnNode(tmp.dir, { backends: GROUPS.map((g) => ({ id: g, group: g, 'blob-size-limit': 64 * 1024 * 1024 })), 'max-frame': MAX_FRAME, sync: 1 }, 'fuzz-node');
        }
        return cases;
      },
      alive,
      batchSize: 1024,
      async close() {
        node.proc.kill('SIGTERM');
        await node.exited;
        tmp.cleanup();
      },
    };
  },
};
