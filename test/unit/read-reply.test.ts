// A READ reply must answer the window that was asked for (found by the client-replies fuzz target:
// a reply whose io_attr was spoiled in flight made a ranged read succeed with no bytes).

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Packet } from '../../src/elliptics/connection.js';
import { EllipticsError } from '../../src/elliptics/errors.js';
import { Command, CommandFlags, encodeIoAttr, encodeLocation, Errno, FlagsHigh, makeHeader, makeIoAttr, Payload } from '../../src/elliptics/protocol/index.js';
import { readReplyOf, smallLocatedReplyOf } from '../../src/elliptics/requests.js';

const key = Buffer.alloc(64, 7);

function reply(io: { offset: number; size: number; totalSize: number; id?: Buffer }, data: Buffer): Packet[] {
  const body = Buffer.concat([encodeIoAttr(makeIoAttr({ id: key, ...io })), data]);
  return [new Packet(makeHeader({ cmd: Command.READ, flags: CommandFlags.REPLY, size: body.length }), Payload.of(body))];
}

const data = Buffer.from('0123456789');

test('a consistent reply is taken, as a real node sends it (offset and size echoed)', () => {
  const r = readReplyOf(reply({ offset: 4000, size: 10, totalSize: 10000 }, data), 'read', 1, { id: key, offset: 4000, size: 200 });
  assert.deepEqual(r.data, data);
  assert.equal(r.io.totalSize, 10000);
});

test('a reply that does not answer what was asked is refused with -EIO, saying why', () => {
  const cases: [{ offset: number; size: number; totalSize: number; id?: Buffer }, Buffer, { offset: number; size: number; id?: Buffer }, RegExp][] = [
    [{ offset: 0, size: 10, totalSize: 10, id: Buffer.alloc(64, 8) }, data, { id: key, offset: 0, size: 100 }, /is for another key/],
    [{ offset: 0, size: 12, totalSize: 100 }, data, { offset: 0, size: 100 }, /carries 10 data bytes, its io_attr says 12/],
    [{ offset: 95, size: 10, totalSize: 100 }, data, { offset: 95, size: 10 }, /beyond the object's 100 bytes/],
    [{ offset: 10, size: 10, totalSize: 100 }, data, { offset: 20, size: 10 }, /at offset 10, 20 was asked/],
    [{ offset: 0, size: 10, totalSize: 100 }, data, { offset: 0, size: 5 }, /has 10 bytes, 5 were asked/],
    [{ offset: 76, size: 0, totalSize: 50 }, Buffer.alloc(0), { offset: 76, size: 11 }, /beyond|empty/],
    [{ offset: 20, size: 0, totalSize: 100 }, Buffer.alloc(0), { offset: 20, size: 11 }, /empty inside the object/],
  ];
  for (const [io, d, asked, why] of cases) {
    assert.throws(() => readReplyOf(reply(io, d), 'read', 1, asked), (e: unknown) => e instanceof EllipticsError && e.status === Errno.EIO && why.test(e.message), JSON.stringify(io));
  }
});

test('a small located reply with KEEP carries its location after the data; one without it, or a cut one, is refused', () => {
  const where = encodeLocation({ path: '/data/b1/data-0.3', recordOffset: 8192, header: Buffer.alloc(96, 5) });
  const kept = (io: { offset: number; size: number; totalSize: number }, d: Buffer, trailer: Buffer): Packet[] => {
    const body = Buffer.concat([encodeIoAttr(makeIoAttr({ id: key, ...io })), d, trailer]);
    return [new Packet(makeHeader({ cmd: Command.READ, flags: CommandFlags.REPLY, flagsHigh: FlagsHigh.KEEP, size: body.length }), Payload.of(body))];
  };
  const { reply: got, location } = smallLocatedReplyOf(kept({ offset: 0, size: 10, totalSize: 10 }, data, where), 'read', 1, { id: key, offset: 0, size: 0 });
  assert.deepEqual(got.data, data);
  assert.deepEqual(location, { path: '/data/b1/data-0.3', recordOffset: 8192, header: Buffer.alloc(96, 5) });
  // Without KEEP the same bytes are a plain READ reply: nothing to keep.
  const plain = smallLocatedReplyOf(reply({ offset: 0, size: 10, totalSize: 10 }, data), 'read', 1, { id: key, offset: 0, size: 0 });
  assert.equal(plain.location, undefined);
  assert.deepEqual(plain.reply.data, data);
  const refused = (p: Packet[], why: RegExp): void =>
    assert.throws(() => smallLocatedReplyOf(p, 'read', 1, { id: key, offset: 0, size: 0 }), (e: unknown) => e instanceof EllipticsError && e.status === Errno.EIO && why.test(e.message));
  refused(kept({ offset: 0, size: 10, totalSize: 10 }, data, Buffer.alloc(0)), /location/);
  refused(kept({ offset: 0, size: 10, totalSize: 10 }, data, where.subarray(0, 40)), /location/);
  refused(kept({ offset: 0, size: 12, totalSize: 12 }, data.subarray(0, 2), Buffer.alloc(0)), /carries 2 data bytes/);
});
