// Bad input never takes the node down: each case gets an error reply with the right errno, or that
// one connection is closed — and another client keeps being served.

import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import { randomBytes } from 'node:crypto';
import {
  Command, CommandFlags, Errno, encodeHeader, keyToId, makeHeader, splitFrames, VERSION_3_0, encodeVersion,
} from '../../src/elliptics/protocol/index.js';
import { readRequest, writeRequest } from '../../src/elliptics/requests.js';
import type { StorageNode } from '../../src/storage-node/node.js';
import { RawClient } from '../helpers/raw-client.js';
import { startNode, tempDir } from '../helpers/nodes.js';

const MAX_FRAME = 64 * 1024;

interface Exchange {
  received: Buffer;
  closedByNode: boolean;
}

/** Sends raw bytes, then collects what comes back for `waitMs` (or until the node closes). */
function exchange(port: number, bytes: Buffer, opts: { waitMs?: number; endAfter?: boolean; destroyAfter?: boolean } = {}): Promise<Exchange> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let closedByNode = false;
    const socket = net.connect(port, '127.0.0.1', () => {
      socket.write(bytes);
      if (opts.endAfter) socket.end();
      if (opts.destroyAfter) setTimeout(() => socket.destroy(), 20);
    });
    socket.on('data', (c) => chunks.push(c));
    socket.on('end', () => (closedByNode = true));
    socket.on('error', (err) => (opts.destroyAfter ? undefined : reject(err)));
    const timer = setTimeout(() => socket.destroy(), opts.waitMs ?? 500);
    socket.on('close', () => {
      clearTimeout(timer);
      resolve({ received: Buffer.concat(chunks), closedByNode });
    });
  });
}

function handshakeBytes(): Buffer {
  return encodeHeader(makeHeader({ cmd: Command.REVERSE_LOOKUP, id: encodeVersion(VERSION_3_0), flags: CommandFlags.DIRECT | CommandFlags.NOLOCK }));
}

describe('bad input', () => {
  const tmp = tempDir();
  let node: StorageNode;
  let healthy: RawClient;

  before(async () => {
    node = await startNode(tmp.dir, { backends: [{ id: 1, group: 1, 'blob-size-limit': 100_000 }], 'max-frame': MAX_FRAME });
    healthy = await RawClient.connect(node.port);
    await healthy.write(1, 'canary', Buffer.from('still here'));
  });

  after(async () => {
    healthy.close();
    await node.stop();
    tmp.cleanup();
  });

  /** The node still serves an untouched connection and a new one. */
  async function stillServing(): Promise<void> {
    assert.equal((await healthy.read(1, 'canary')).data.toString(), 'still here');
    const fresh = await RawClient.connect(node.port);
    assert.equal((await fresh.read(1, 'canary')).data.toString(), 'still here');
    fresh.close();
  }

  it('garbage bytes: the connection is answered with an error or closed', async () => {
    const garbage = randomBytes(4096);
    garbage.writeUInt32LE(0xffffffff, 116); // make sure the announced size is absurd
    const r = await exchange(node.port, garbage, { waitMs: 2000 });
    assert.ok(r.closedByNode, 'the node closed the connection');
    for (const { header } of splitFrames(r.received)) assert.ok(header.status < 0);
    await stillServing();
  });

  it('a truncated header followed by EOF is dropped quietly', async () => {
    const r = await exchange(node.port, handshakeBytes().subarray(0, 60), { endAfter: true, waitMs: 1000 });
    assert.equal(r.received.length, 0);
    await stillServing();
  });

  it('a size above max-frame gets -EMSGSIZE with its trans, then the connection closes', async () => {
    const h = makeHeader({ cmd: Command.WRITE, group: 1, flags: CommandFlags.NEED_ACK, trans: 77n, size: MAX_FRAME + 1 });
    const r = await exchange(node.port, encodeHeader(h), { waitMs: 2000 });
    const frames = splitFrames(r.received);
    assert.equal(frames.length, 1);
    assert.deepEqual([frames[0]!.header.status, frames[0]!.header.trans], [Errno.EMSGSIZE, 77n]);
    assert.ok(r.closedByNode);
    await stillServing();
  });

  it('an unknown command gets -ENOTSUP and the connection stays usable', async () => {
    const unknown = encodeHeader(makeHeader({ cmd: 99, flags: CommandFlags.NEED_ACK, trans: 5n }));
    const read = readRequest({ id: keyToId('canary'), group: 1 });
    read.header.trans = 6n;
    read.header.size = read.payload[0]!.length;
    const r = await exchange(node.port, Buffer.concat([handshakeBytes(), unknown, encodeHeader(read.header), ...read.payload]), { waitMs: 800 });
    const frames = splitFrames(r.received);
    const byTrans = new Map(frames.map((f) => [f.header.trans, f]));
    assert.equal(byTrans.get(5n)!.header.status, Errno.ENOTSUP);
    assert.equal(byTrans.get(6n)!.header.status, 0);
    assert.match(byTrans.get(6n)!.payload.subarray(208).toString(), /still here/);
    assert.equal(r.closedByNode, false);
  });

  it('a write past blob-size-limit gets -ENOSPC and is not stored', async () => {
    await healthy.write(1, 'fits', Buffer.alloc(60_000, 1));
    await assert.rejects(healthy.write(1, 'too-big', Buffer.alloc(50_000, 2)), (e: Error & { status?: number }) => e.status === Errno.ENOSPC);
    await assert.rejects(healthy.read(1, 'too-big'), (e: Error & { status?: number }) => e.status === Errno.ENOENT);
    assert.equal((await healthy.read(1, 'fits')).data.length, 60_000);
    await stillServing();
  });

  it('a read of a missing key gets -ENOENT', async () => {
    await assert.rejects(healthy.read(1, 'never-written'), (e: Error & { status?: number }) => e.status === Errno.ENOENT);
    await stillServing();
  });

  it('a client that disconnects mid-frame leaves nothing behind', async () => {
    const w = writeRequest({ id: keyToId('half-sent'), group: 1 }, Buffer.alloc(1000, 7));
    w.header.size = 208 + 1000;
    const bytes = Buffer.concat([handshakeBytes(), encodeHeader(w.header), w.payload[0]!, Buffer.alloc(500, 7)]);
    await exchange(node.port, bytes, { destroyAfter: true, waitMs: 300 });
    await assert.rejects(healthy.read(1, 'half-sent'), (e: Error & { status?: number }) => e.status === Errno.ENOENT);
    await stillServing();
  });

  it('malformed data commands get -EINVAL: short io_attr, size beyond the frame, DEL without io_attr', async () => {
    const short = writeRequest({ id: keyToId('x'), group: 1 }, Buffer.alloc(0));
    assert.equal(await healthy.status({ header: short.header, payload: [Buffer.alloc(100)] }), Errno.EINVAL);
    const lying = writeRequest({ id: keyToId('x'), group: 1 }, Buffer.alloc(10));
    lying.payload[0]!.writeUInt32LE(5000, 200); // io.size says 5000, 10 bytes follow
    assert.equal(await healthy.status(lying), Errno.EINVAL);
    assert.equal(await healthy.status({ header: makeHeader({ cmd: Command.DEL, id: keyToId('canary'), group: 1, flags: CommandFlags.NEED_ACK }), payload: [] }), Errno.EINVAL);
    assert.equal(await healthy.status({ header: makeHeader({ cmd: Command.BACKEND_CONTROL, flags: CommandFlags.NEED_ACK }), payload: [Buffer.alloc(10)] }), Errno.EINVAL);
    await stillServing();
  });

  it('an io_attr offset above 2^53 is refused with -EINVAL', async () => {
    const r = readRequest({ id: keyToId('canary'), group: 1 });
    r.payload[0]!.writeBigUInt64LE(1n << 62n, 192);
    assert.equal(await healthy.status(r), Errno.EINVAL);
    await stillServing();
  });

  it('a header-only flood with no reply wanted does not stall other clients', async () => {
    const noAck = encodeHeader(makeHeader({ cmd: 77 }));
    const r = await exchange(node.port, Buffer.concat(Array.from({ length: 2000 }, () => noAck)), { waitMs: 500 });
    assert.equal(r.received.length, 0);
    await stillServing();
  });
});
