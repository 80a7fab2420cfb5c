// Codec unit tests against the spec's own vectors.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { BufferPool } from '../../src/util/buffer-pool.js';
import {
  keyToId, makeAddr, decodeAddr, parseEndpoint, formatAddr, makeHeader, encodeHeader, decodeHeader,
  replyHeader, CommandFlags, Command, encodeVersion, decodeVersion, parseVersion, FrameDecoder,
  FrameTooLargeError, encodeFrame, makeIoAttr, encodeIoAttr, decodeIoAttr, EMPTY_TIME, ProtocolError,
  encodeFileInfoReply, decodeFileInfoReply, type Header, type Payload,
} from '../../src/elliptics/protocol/index.js';

test('key → id: the spec vectors, with and without namespace', () => {
  assert.match(keyToId('test').toString('hex'), /^ee26b0dd4af7e749aa1a8ee3c10ae992.*7fd67b143732c304cc5fa9ad8e6f57f50028a8ff$/);
  assert.match(keyToId('test', 'bucket').toString('hex'), /^fcc4d30dec361cd643c995de3fbc6b2f.*d304ee4adcc56afba2bff36cb5c6b775$/);
  assert.match(keyToId('key1', 'b1').toString('hex'), /^e75f8aad16c7e80255db0569a30ca47d.*4c00cc5e2939d5a84353ac7ec6d1cdd7$/);
  assert.match(keyToId('golden-key').toString('hex'), /^ad5b622834b6badb.*6dbe14db$/);
  assert.match(keyToId('golden/obj.txt', 'b3').toString('hex'), /^e3560771de37996e.*ab01813a$/);
  assert.equal(keyToId('test').length, 64);
  assert.deepEqual(keyToId('k', ''), keyToId('k'));
});

test('dnet_addr: 127.0.0.1:1025 has the spec bytes; IPv6 round-trips', () => {
  const a = makeAddr('127.0.0.1', 1025);
  assert.equal(a.bytes.toString('hex'), '020004017f000001' + '00'.repeat(20) + '10000200');
  assert.equal(formatAddr(decodeAddr(a.bytes)), '127.0.0.1:1025:2');
  const v6 = makeAddr('::1', 1026);
  assert.equal(v6.bytes.readUInt16LE(30), 10);
  assert.equal(v6.bytes.readUInt16LE(28), 28);
  assert.equal(formatAddr(decodeAddr(v6.bytes)), '::1:1026:10');
  assert.equal(decodeAddr(makeAddr('2001:db8::8:1', 80).bytes).host, '2001:db8::8:1');
  assert.throws(() => decodeAddr(Buffer.alloc(32)), ProtocolError);
});

test('endpoints: Elliptics host:port:family read from the right, host:port and [v6]:port', () => {
  assert.deepEqual(parseEndpoint('127.0.0.1:1025:2'), { host: '127.0.0.1', port: 1025, family: 2 });
  assert.deepEqual(parseEndpoint('::1:1025:10'), { host: '::1', port: 1025, family: 10 });
  assert.deepEqual(parseEndpoint('localhost:1025'), { host: 'localhost', port: 1025 });
  assert.deepEqual(parseEndpoint('[::1]:1025'), { host: '::1', port: 1025 });
  assert.throws(() => parseEndpoint('127.0.0.1'), /host:port/);
  assert.throws(() => parseEndpoint('127.0.0.1:0'), /port/);
  assert.throws(() => parseEndpoint('127.0.0.1:1025:3'), /family/);
});

test('header: the 2.26.9.4 REVERSE_LOOKUP example of the spec, byte for byte', () => {
  const h = makeHeader({ cmd: Command.REVERSE_LOOKUP, id: encodeVersion([2, 26, 9, 4]), flags: CommandFlags.DIRECT | CommandFlags.NOLOCK });
  const bytes = encodeHeader(h);
  assert.equal(bytes.length, 120);
  assert.equal(bytes.subarray(0, 16).toString('hex'), '020000001a0000000900000004000000');
  assert.equal(bytes.readInt32LE(80), 2);
  assert.equal(bytes.readUInt32LE(96), 0x18);
  assert.deepEqual(decodeVersion(decodeHeader(bytes).id), [2, 26, 9, 4]);
});

test('header: high flag bits, negative status and backend survive a round trip', () => {
  const h: Header = makeHeader({ cmd: 5, status: -110, backendId: -1, flags: 0x21a, flagsHigh: 0x8, trans: 0xffff_ffff_ffffn, traceId: 0xdead_beef_0000_0001n, size: 5 });
  assert.deepEqual(decodeHeader(encodeHeader(h)), { ...h, id: Buffer.alloc(64) });
});

test('reply header: NEED_ACK dropped, REPLY added, MORE only when asked', () => {
  const req = makeHeader({ cmd: Command.MONITOR_STAT, flags: 0x19, trans: 7n, traceId: 3n });
  assert.equal(replyHeader(req, { more: true }).flags, 0x21a);
  assert.equal(replyHeader(req).flags, 0x218);
  assert.equal(replyHeader(makeHeader({ cmd: Command.LOOKUP, flags: 0x21 })).flags, 0x220);
  const r = replyHeader(req, { status: -2, backendId: -1 });
  assert.deepEqual([r.trans, r.traceId, r.status, r.backendId], [7n, 3n, -2, -1]);
});

test('versions: presets and parsing', () => {
  assert.deepEqual(parseVersion('2.26'), [2, 26, 11, 1]);
  assert.deepEqual(parseVersion('3.0'), [3, 0, 0, 1]);
  assert.deepEqual(parseVersion('2.26.9.4'), [2, 26, 9, 4]);
  assert.equal(parseVersion('2'), undefined);
  assert.equal(parseVersion('a.b'), undefined);
});

test('io_attr: empty time is all ones; values above 2^53 are refused', () => {
  const buf = encodeIoAttr(makeIoAttr({ size: 10, offset: 2 ** 40, timestamp: EMPTY_TIME }));
  assert.ok(buf.subarray(144, 160).every((b) => b === 0xff));
  const io = decodeIoAttr(buf);
  assert.equal(io.offset, 2 ** 40);
  assert.deepEqual(io.timestamp, EMPTY_TIME);
  buf.writeBigUInt64LE(1n << 60n, 200);
  assert.throws(() => decodeIoAttr(buf), (e: unknown) => e instanceof ProtocolError && e.status === -22);
  assert.throws(() => decodeIoAttr(Buffer.alloc(100)), ProtocolError);
});

test('file info: an empty path is flen 0 plus one NUL byte', () => {
  const info = { checksum: Buffer.alloc(64), recordFlags: 0x40, size: 0, offset: 0, mtime: { sec: 1, nsec: 2 }, path: '' };
  const buf = encodeFileInfoReply({ addr: makeAddr('127.0.0.1', 1), info });
  assert.equal(buf.length, 145);
  assert.equal(decodeFileInfoReply(buf).info.path, '');
  const corrupt = Buffer.from(buf);
  corrupt.writeInt32LE(1000, 32);
  assert.throws(() => decodeFileInfoReply(corrupt), ProtocolError);
});

test('frame decoder: frames split at every byte boundary come out whole, in order', () => {
  const parts = [
    ...encodeFrame(makeHeader({ cmd: 1, trans: 1n }), Buffer.from('hello')),
    ...encodeFrame(makeHeader({ cmd: 2, trans: 2n })),
    ...encodeFrame(makeHeader({ cmd: 3, trans: 3n }), Buffer.alloc(300, 7)),
  ];
  const stream = Buffer.concat(parts);
  for (const step of [1, 7, 119, 120, 121, 500]) {
    const got: [number, number][] = [];
    const dec = new FrameDecoder((h, p) => got.push([h.cmd, p.length]), 1 << 20);
    for (let i = 0; i < stream.length; i += step) dec.push(stream.subarray(i, i + step));
    assert.deepEqual(got, [[1, 5], [2, 0], [3, 300]], `step ${step}`);
    assert.equal(dec.midFrame, false);
  }
});

test('frame decoder: large frames land in pooled buffers, read directly or copied, and go back on release', () => {
  const big = (n: number, seed: number): Buffer => Buffer.from(Array.from({ length: n }, (_, i) => (i * 31 + seed) & 0xff));
  const frames: [number, Buffer][] = [[1, big(200_000, 1)], [2, Buffer.from('small')], [3, big(140_000, 2)], [4, big(300_000, 3)], [5, big(139_999, 4)], [6, Buffer.alloc(0)]];
  const stream = Buffer.concat(frames.flatMap(([cmd, body], i) => encodeFrame(makeHeader({ cmd, trans: BigInt(i + 1) }), body)));
  for (const step of [7, 121, 4000, 65536, 1 << 20]) {
    for (const direct of [false, true]) {
      const pool = new BufferPool(1 << 30);
      const acquired: Buffer[] = [];
      const acquire = pool.acquire.bind(pool);
      pool.acquire = (n: number) => {
        const b = acquire(n);
        acquired.push(b);
        return b;
      };
      const got: [number, Buffer, Payload][] = [];
      const dec = new FrameDecoder((h, p) => got.push([h.cmd, Buffer.from(p.bytes), p]), 1 << 20, { pool, above: 140_000 });
      let at = 0;
      while (at < stream.length) {
        const target = direct ? dec.directTarget() : undefined;
        if (target) {
          // A socket read into the frame's own buffer: at most `step` bytes of what is left.
          const n = Math.min(step, target.length, stream.length - at);
          stream.copy(target, 0, at, at + n);
          dec.pushDirect(n);
          at += n;
        } else {
          const cap = Math.min(step, dec.readCap() ?? step);
          dec.push(stream.subarray(at, at + cap));
          at += cap;
        }
      }
      assert.deepEqual(got.map(([cmd, body]) => [cmd, body]), frames, `step ${step} direct ${direct}`);
      assert.equal(dec.midFrame, false);
      // Frames 1, 3 and 4 (at least `above` bytes) had buffers of their own; a released one is handed out again.
      assert.equal(acquired.length, 3);
      got[0]![2].release();
      got[0]![2].release(); // idempotent
      assert.equal(pool.acquire(200_000), acquired[0]);
      assert.notEqual(pool.acquire(200_000), acquired[0]);
    }
  }
});

test('frame decoder: a size above max-frame is refused before any payload is buffered', () => {
  const dec = new FrameDecoder(() => assert.fail('no frame expected'), 1000);
  const h = encodeHeader(makeHeader({ cmd: 4, size: 1001, trans: 9n }));
  assert.throws(() => dec.push(h), (e: unknown) => e instanceof FrameTooLargeError && e.header.trans === 9n && e.status === -90);
});

