// Every frame recorded from a real Elliptics 3.0 cluster decodes to the fields the lab decoder
// recorded (manifest.json) and re-encodes to the very same bytes.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import {
  Command, CommandFlags, HEADER_SIZE, IO_ATTR_SIZE, BACKEND_STATUS_SIZE, IoFlags,
  splitFrames, encodeHeader, decodeIoAttr, encodeIoAttr, decodeNodeIdentity, encodeNodeIdentity,
  decodeRouteList, encodeRouteList, decodeFileInfoReply, encodeFileInfoReply, decodeMonitorStatRequest,
  encodeMonitorStatRequest, decodeMonitorStatReply, decodeBackendStatusList, encodeBackendStatusList,
  decodeBackendControl, encodeBackendControl, decodeIdContainer, encodeIdContainer, idContainerSize,
  decodeAuth, decodeVersion, isReply, keyToId, formatAddr, type Header,
} from '../../src/elliptics/protocol/index.js';
import { captureManifest, fixture, hasFixture } from '../helpers/fixtures.js';

interface Message { header: Header; payload: Buffer; raw: Buffer }

const manifest = captureManifest();

function frames(capture: string, conn: string, dir: 'c2s' | 's2c'): Message[] {
  return splitFrames(fixture('captures', `${capture}.conn${conn}.${dir}.bin`));
}

/** The frames of every connection of a capture in one direction. */
function allFrames(capture: string, dir: 'c2s' | 's2c'): Message[] {
  return Object.keys(manifest[capture]!).flatMap((conn) => (hasFixture('captures', `${capture}.conn${conn}.${dir}.bin`) ? frames(capture, conn, dir) : []));
}

/** Decodes a payload by its kind and returns its re-encoding, or undefined for opaque payloads. */
function reencodePayload(h: Header, payload: Buffer): Buffer | undefined {
  if (payload.length === 0) return payload;
  const reply = isReply(h);
  switch (h.cmd) {
    case Command.REVERSE_LOOKUP:
    case Command.JOIN:
      return encodeNodeIdentity(decodeNodeIdentity(payload));
    case Command.ROUTE_LIST:
      return encodeRouteList(decodeRouteList(payload));
    case Command.UPDATE_IDS: {
      const ids = decodeIdContainer(payload, 0);
      const out = Buffer.alloc(idContainerSize(ids));
      encodeIdContainer(ids, out, 0);
      return out;
    }
    case Command.LOOKUP:
      return encodeFileInfoReply(decodeFileInfoReply(payload));
    case Command.WRITE:
      if (reply) return encodeFileInfoReply(decodeFileInfoReply(payload));
      return Buffer.concat([encodeIoAttr(decodeIoAttr(payload)), payload.subarray(IO_ATTR_SIZE)]);
    case Command.READ:
    case Command.DEL:
      return Buffer.concat([encodeIoAttr(decodeIoAttr(payload)), payload.subarray(IO_ATTR_SIZE)]);
    case Command.BULK_READ: {
      const parts: Buffer[] = [];
      for (let at = 0; at < payload.length; at += IO_ATTR_SIZE) parts.push(encodeIoAttr(decodeIoAttr(payload, at)));
      return Buffer.concat(parts);
    }
    case Command.MONITOR_STAT:
      if (reply) return undefined; // zlib stream: checked separately by content
      return encodeMonitorStatRequest(decodeMonitorStatRequest(payload));
    case Command.BACKEND_STATUS:
      if (!reply) return undefined;
      return encodeBackendStatusList(decodeBackendStatusList(payload), (payload.length - 4) / BACKEND_STATUS_SIZE);
    case Command.BACKEND_CONTROL:
      if (reply) return encodeBackendStatusList(decodeBackendStatusList(payload), (payload.length - 4) / BACKEND_STATUS_SIZE);
      return encodeBackendControl(decodeBackendControl(payload));
    case Command.AUTH:
      decodeAuth(payload);
      return payload;
    default:
      return undefined;
  }
}

for (const [capture, conns] of Object.entries(manifest)) {
  for (const [conn, info] of Object.entries(conns)) {
    for (const dir of ['c2s', 's2c'] as const) {
      if (!hasFixture('captures', `${capture}.conn${conn}.${dir}.bin`)) continue;
      test(`capture ${capture} conn${conn} ${dir}: headers match the lab decode and every frame re-encodes byte for byte`, () => {
        const msgs = frames(capture, conn, dir);
        const expected = info.messages.filter((m) => m.dir === dir);
        assert.equal(msgs.length, expected.length, 'message count');
        let offset = 0;
        msgs.forEach((m, i) => {
          const e = expected[i]!;
          const h = m.header;
          assert.equal(offset, e.offset, `message ${i} stream offset`);
          assert.deepEqual(
            { cmd: h.cmd, status: h.status, group: h.group, backend: h.backendId, trans: h.trans.toString(), flags: h.flags, trace: `0x${h.traceId.toString(16)}`, size: h.size },
            { cmd: e.cmd, status: e.status, group: e.group, backend: e.backend, trans: e.trans, flags: e.flags, trace: e.trace, size: e.size },
            `message ${i}`,
          );
          assert.deepEqual(encodeHeader(h), m.raw.subarray(0, HEADER_SIZE), `header ${i} re-encodes`);
          const again = reencodePayload(h, m.payload);
          if (again !== undefined) assert.deepEqual(again, m.payload, `payload ${i} (cmd ${h.cmd}) re-encodes`);
          offset += m.raw.length;
        });
      });
    }
  }
}

test('02: WRITE request carries io_attr + data, the reply file info names the blob file', () => {
  const req = frames('02-write-groups-1-2', '1', 'c2s').find((m) => m.header.cmd === Command.WRITE)!;
  const io = decodeIoAttr(req.payload);
  const id = keyToId('golden-key');
  assert.deepEqual(Buffer.from(req.header.id), id);
  assert.deepEqual(Buffer.from(io.id), id);
  assert.deepEqual(Buffer.from(io.parent), id);
  assert.deepEqual(io.timestamp, { sec: 1577836800, nsec: 0 });
  assert.equal(io.size, 32);
  assert.equal(req.payload.subarray(IO_ATTR_SIZE).toString(), 'golden payload for wire capture\n');

  const reply = frames('02-write-groups-1-2', '1', 's2c').find((m) => m.header.cmd === Command.WRITE)!;
  const fi = decodeFileInfoReply(reply.payload);
  assert.equal(formatAddr(fi.addr), '127.0.0.1:1025:2');
  assert.equal(fi.info.path, '/srv/elliptics/node1/b1-g1/data/data-0.0');
  assert.equal(fi.info.recordFlags, 0x140);
  assert.equal(fi.info.size, 32);
  assert.equal(fi.info.offset, 11721);
  assert.deepEqual(fi.info.mtime, { sec: 1577836800, nsec: 0 });
  assert.ok(fi.info.checksum.every((b) => b === 0));
});

test('01: the handshake reply lists the node address and three backends with one ring point each', () => {
  const [rl] = frames('01-handshake-route-list', '1', 's2c');
  assert.deepEqual(decodeVersion(rl!.header.id), [3, 0, 0, 1]);
  assert.equal(rl!.header.flags, CommandFlags.NOLOCK | CommandFlags.REPLY);
  const ident = decodeNodeIdentity(rl!.payload);
  assert.deepEqual(ident.addrs.map(formatAddr), ['127.0.0.1:1025:2']);
  assert.deepEqual(ident.backends.map((b) => [b.backendId, b.group, b.flags, b.ids.length]), [[1, 1, 0, 1], [2, 3, 0, 1], [3, 5, 0, 1]]);
  assert.deepEqual(ident.addrs[0]!.bytes, Buffer.from('020004017f000001' + '00'.repeat(20) + '10000200', 'hex'));
  const routes = frames('01-handshake-route-list', '1', 's2c')[1]!;
  assert.deepEqual(decodeRouteList(routes.payload).addrs.map(formatAddr), ['127.0.0.1:1025:2', '127.0.0.1:1026:2']);
});

test('05b: LOOKUP with the CHECKSUM cflag returns SHA-512 of the data', () => {
  const reply = frames('05b-lookup-with-checksum-flag-group-1', '1', 's2c').find((m) => m.header.cmd === Command.LOOKUP)!;
  const sha = createHash('sha512').update('golden payload for wire capture\n').digest();
  assert.deepEqual(decodeFileInfoReply(reply.payload).info.checksum, sha);
});

test('13a: prepare / plain / commit steps carry the flags, offsets and num of the C++ client', () => {
  const writes = frames('13a-chunked-write-prepare-plain-commit-groups-1-2', '1', 'c2s').filter((m) => m.header.cmd === Command.WRITE);
  const steps = writes.map((m) => decodeIoAttr(m.payload)).map((io) => [io.flags, io.offset, io.size, io.num]);
  assert.deepEqual(steps, [
    [IoFlags.PREPARE | IoFlags.PLAIN_WRITE, 0, 4096, 10000],
    [IoFlags.PLAIN_WRITE, 4096, 4096, 8192],
    [IoFlags.COMMIT | IoFlags.PLAIN_WRITE, 8192, 1808, 10000],
  ]);
  const replies = frames('13a-chunked-write-prepare-plain-commit-groups-1-2', '1', 's2c').filter((m) => m.header.cmd === Command.WRITE);
  // Uncommitted steps report the reserved size (the bytes say so, not 0 as one might expect).
  assert.deepEqual(replies.map((m) => decodeFileInfoReply(m.payload).info).map((i) => [i.recordFlags, i.size]), [[0x1c0, 10000], [0x1c0, 10000], [0x140, 10000]]);
  assert.equal(writes[0]!.header.traceId, 0x1300000000000001n);
});

test('13b: a partial READ reply echoes the offset and reports size and total size', () => {
  const reply = frames('13b-partial-read-offset-4000-size-200-group-1', '1', 's2c').find((m) => m.header.cmd === Command.READ)!;
  const io = decodeIoAttr(reply.payload);
  assert.deepEqual([io.offset, io.size, io.totalSize, io.recordFlags], [4000, 200, 10000, 0x140]);
  assert.equal(reply.payload.subarray(IO_ATTR_SIZE, IO_ATTR_SIZE + 16).toString(), '000000000000fa0\n');
});

test('14a/14b: client versions 2.26.11.1 and 2.25.0.0 in the REVERSE_LOOKUP id', () => {
  assert.deepEqual(decodeVersion(frames('14a-handshake-client-version-2.26.11.1', '1', 'c2s')[0]!.header.id), [2, 26, 11, 1]);
  assert.deepEqual(decodeVersion(frames('14a-handshake-client-version-2.26.11.1', '1', 's2c')[0]!.header.id), [3, 0, 0, 1]);
  assert.deepEqual(decodeVersion(frames('14b-handshake-client-version-2.25.0.0-rejected', '1', 'c2s')[0]!.header.id), [2, 25, 0, 0]);
});

test('09/17: MONITOR_STAT replies inflate to the recorded JSON; categories 84 and all ones', () => {
  for (const [capture, categories] of [['09-monitor-stat-cat84-node1', 84n], ['17-monitor-stat-all-categories-node1', 0xffff_ffff_ffff_ffffn]] as const) {
    const req = frames(capture, '1', 'c2s').find((m) => m.header.cmd === Command.MONITOR_STAT)!;
    assert.equal(decodeMonitorStatRequest(req.payload), categories);
    const [data, ack] = frames(capture, '1', 's2c').filter((m) => m.header.cmd === Command.MONITOR_STAT);
    assert.equal(data!.header.flags, 0x21a);
    assert.equal(ack!.header.flags, 0x218);
    assert.equal(data!.payload[0], 0x78);
    const recorded = JSON.parse(fixture('captures', `${capture}.conn1.trans1.json`).toString());
    assert.deepEqual(decodeMonitorStatReply(data!.payload), recorded);
  }
});

test('10: BACKEND_STATUS lists three backends in four slots', () => {
  const reply = frames('10-backend-status-node1', '1', 's2c').find((m) => m.header.cmd === Command.BACKEND_STATUS)!;
  assert.equal(reply.payload.length, 388);
  const list = decodeBackendStatusList(reply.payload);
  assert.deepEqual(list.map((s) => [s.backendId, s.state, s.readOnly, s.delay]), [[1, 1, false, 0], [2, 1, false, 0], [3, 1, false, 0]]);
});

test('15a/15e/15g: BACKEND_CONTROL commands and the UPDATE_IDS push of a disabled backend', () => {
  const ctl = (c: string) => decodeBackendControl(allFrames(c, 'c2s').find((m) => m.header.cmd === Command.BACKEND_CONTROL)!.payload);
  assert.deepEqual([ctl('15a-backend-control-read-only').backendId, ctl('15a-backend-control-read-only').command], [2, 4]);
  assert.deepEqual([ctl('15e-backend-control-delay-250ms').command, ctl('15e-backend-control-delay-250ms').delay], [6, 250]);
  const push = frames('15g-backend-control-disable', '1', 's2c').find((m) => m.header.cmd === Command.UPDATE_IDS)!;
  assert.equal(push.header.flags, CommandFlags.DIRECT | CommandFlags.NOLOCK);
  assert.equal(isReply(push.header), false);
  assert.deepEqual(decodeIdContainer(push.payload, 0), [{ backendId: 2, group: 0, flags: 1, ids: [] }]);
  const ro = frames('15a-backend-control-read-only', '1', 's2c').find((m) => m.header.cmd === Command.BACKEND_CONTROL)!;
  assert.equal(decodeBackendStatusList(ro.payload)[0]!.readOnly, true);
});

test('16a: BULK_READ sorts keys by id; per-key replies are READ packets with MORE', () => {
  const req = frames('16a-bulk-read-3-keys-1-missing-group-1', '1', 'c2s').find((m) => m.header.cmd === Command.BULK_READ)!;
  const lead = decodeIoAttr(req.payload);
  assert.equal(lead.size, 3 * IO_ATTR_SIZE);
  const ids = [1, 2, 3].map((i) => Buffer.from(decodeIoAttr(req.payload, i * IO_ATTR_SIZE).id));
  const expected = ['golden-bulk-1', 'golden-bulk-2', 'golden-bulk-missing'].map((k) => keyToId(k)).sort(Buffer.compare);
  assert.deepEqual(ids, expected);
  assert.deepEqual(Buffer.from(req.header.id), expected[0]);
  const replies = frames('16a-bulk-read-3-keys-1-missing-group-1', '1', 's2c').filter((m) => m.header.trans === req.header.trans);
  assert.deepEqual(replies.map((m) => [m.header.cmd, m.header.flags, m.header.status]), [[5, 0x202, 0], [5, 0x202, -2], [5, 0x202, 0], [17, 0x200, 0]]);
});
