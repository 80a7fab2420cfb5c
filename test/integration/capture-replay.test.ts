// Interoperability: the exact bytes real Elliptics clients sent (dnet_ioclient, the C++ API, the Go
// backrunner on elliptics-go, a restarting server) are replayed against two embedded nodes set up
// like the lab cluster, and every reply is checked against what the real 3.0 node answered.

import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import { Connection } from '../../src/elliptics/connection.js';
import {
  Command, CommandFlags, decodeBackendStatusList, decodeFileInfoReply, decodeIdContainer, decodeIoAttr, decodeMonitorStatReply,
  decodeNodeIdentity, decodeRouteList, decodeVersion, FrameDecoder, IO_ATTR_SIZE, isReply, keyToId, splitFrames, VERSION_3_0,
  type Header,
} from '../../src/elliptics/protocol/index.js';
import { writeRequest } from '../../src/elliptics/requests.js';
import type { StorageNode } from '../../src/storage-node/node.js';
import { captureManifest, fixture, hasFixture } from '../helpers/fixtures.js';
import { startNode, tempDir } from '../helpers/nodes.js';

interface Frame { header: Header; payload: Buffer; raw: Buffer }

const manifest = captureManifest();

/** The order the captures were taken in: later ones depend on what earlier ones stored. */
const SEQUENCE = [
  '01-handshake-route-list', '02-write-groups-1-2', '03-read-group-1', '04-read-latest-groups-1-2', '05-lookup-group-1',
  '05b-lookup-with-checksum-flag-group-1', '06-lookup-miss-group-3', '07-delete-groups-1-2', '08-read-after-delete-group-1',
  '09-monitor-stat-cat84-node1', '10-backend-status-node1', '11-write-namespace-b1-groups-1-2', '12-single-node-write-no-route-list',
  '13a-chunked-write-prepare-plain-commit-groups-1-2', '13b-partial-read-offset-4000-size-200-group-1',
  '13c-read-offset-beyond-end-group-1', '14a-handshake-client-version-2.26.11.1', '14b-handshake-client-version-2.25.0.0-rejected',
  '15a-backend-control-read-only', '15b-backend-control-read-only-again-ealready', '15c-write-to-read-only-backend-erofs',
  '15d-backend-control-writeable', '15e-backend-control-delay-250ms', '15f-backend-control-delay-0', '15g-backend-control-disable',
  '15h-backend-control-enable', '16a-bulk-read-3-keys-1-missing-group-1', '16b-bulk-read-3-keys-1-missing-groups-1-2',
  '17-monitor-stat-all-categories-node1', '18-node2-restart-join-auth', '20-backrunner-go-startup', '21-backrunner-go-upload-b3',
  '22-backrunner-go-get-b3', '23-backrunner-go-lookup-b3', '24-backrunner-go-delete-b3', '25-backrunner-go-get-missing-b3',
  '27-backrunner-go-nobucket-upload', '28-backrunner-go-bulk-delete-b3',
];

function frames(capture: string, conn: string, dir: 'c2s' | 's2c'): Frame[] {
  return splitFrames(fixture('captures', `${capture}.conn${conn}.${dir}.bin`));
}

/** A socket that sends captured request bytes and collects the node's replies by trans. */
class Replayer {
  private readonly replies = new Map<bigint, Frame[]>();
  readonly pushes: Frame[] = [];
  closed = false;
  private waiters: (() => void)[] = [];

  private constructor(private readonly socket: net.Socket) {
    const decoder = new FrameDecoder((header, payload) => {
      const frame = { header, payload: payload.bytes, raw: Buffer.alloc(0) };
      if (!isReply(header)) this.pushes.push(frame);
      else this.replies.set(header.trans, [...(this.replies.get(header.trans) ?? []), frame]);
      this.wake();
    }, 1 << 30);
    socket.on('data', (c: Buffer) => decoder.push(c));
    socket.on('close', () => {
      this.closed = true;
      this.wake();
    });
  }

  static open(port: number): Promise<Replayer> {
    return new Promise((resolve, reject) => {
      const s = net.connect(port, '127.0.0.1', () => resolve(new Replayer(s)));
      s.once('error', reject);
    });
  }

  private wake(): void {
    const w = this.waiters;
    this.waiters = [];
    for (const f of w) f();
  }

  async until(cond: () => boolean, what: string, timeoutMs = 5000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (!cond()) {
      if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
      await new Promise<void>((r) => {
        this.waiters.push(r);
        setTimeout(r, 50);
      });
    }
  }

  send(raw: Buffer): void {
    this.socket.write(raw);
  }

  repliesTo(trans: bigint): Frame[] {
    return this.replies.get(trans) ?? [];
  }

  close(): void {
    this.socket.destroy();
  }
}

function keys(o: unknown): string[] {
  return Object.keys(o as object).sort();
}

/** The JSON of MONITOR_STAT: same keys as the real node at every level a proxy reads. */
function sameStatShape(ours: any, theirs: any, where: string): void {
  assert.deepEqual(keys(ours), keys(theirs), `${where}: top-level keys`);
  if (theirs.backends) {
    assert.deepEqual(keys(ours.backends), keys(theirs.backends), `${where}: backend ids`);
    for (const id of keys(theirs.backends)) {
      const o = ours.backends[id];
      const t = theirs.backends[id];
      assert.deepEqual(keys(o), keys(t), `${where}: backends.${id} keys`);
      assert.deepEqual(keys(o.status), keys(t.status), `${where}: backends.${id}.status keys`);
      assert.equal(o.status.state, t.status.state, `${where}: backends.${id}.status.state`);
      if (t.backend) {
        assert.deepEqual(keys(o.backend), keys(t.backend), `${where}: backends.${id}.backend keys`);
        for (const part of ['global_stats', 'summary_stats', 'config', 'vfs', 'dstat']) {
          if (t.backend[part] && !t.backend[part].error && !o.backend[part].error) {
            assert.deepEqual(keys(o.backend[part]), keys(t.backend[part]), `${where}: backends.${id}.backend.${part} keys`);
          }
        }
        assert.equal(o.backend.config.group, t.backend.config.group, `${where}: backends.${id} group`);
      }
    }
  }
  if (theirs.procfs) for (const part of keys(theirs.procfs)) assert.deepEqual(keys(ours.procfs[part]), keys(theirs.procfs[part]), `${where}: procfs.${part}`);
  if (theirs.commands) {
    for (const name of keys(ours.commands).filter((n) => n !== 'clients')) {
      if (theirs.commands[name]) assert.deepEqual(keys(ours.commands[name]), keys(theirs.commands[name]), `${where}: commands.${name}`);
    }
  }
}

function compareReply(where: string, ours: Frame, theirs: Frame, clientVersion: readonly number[]): void {
  const h = ours.header;
  const t = theirs.header;
  assert.deepEqual(
    { cmd: h.cmd, flags: h.flags, status: h.status, backend: h.backendId, trans: h.trans, trace: h.traceId, group: h.group },
    { cmd: t.cmd, flags: t.flags, status: t.status, backend: t.backendId, trans: t.trans, trace: t.traceId, group: t.group },
    `${where}: header`,
  );
  if (theirs.payload.length === 0 || ours.payload.length === 0) {
    assert.equal(ours.payload.length, theirs.payload.length, `${where}: payload size`);
    return;
  }
  switch (t.cmd) {
    case Command.REVERSE_LOOKUP: {
      // A real 3.0 node answers with its own version; ours answers in kind (the client's), which
      // stock 2.26 and 3.0 clients both require.
      assert.deepEqual(decodeVersion(h.id), clientVersion, `${where}: version`);
      const o = decodeNodeIdentity(ours.payload);
      const e = decodeNodeIdentity(theirs.payload);
      assert.equal(o.addrs.length, e.addrs.length);
      assert.deepEqual(o.backends.map((b) => [b.backendId, b.group, b.flags, b.ids.length]), e.backends.map((b) => [b.backendId, b.group, b.flags, b.ids.length]), `${where}: backends`);
      assert.equal(ours.payload.length, theirs.payload.length, `${where}: handshake size`);
      return;
    }
    case Command.ROUTE_LIST:
      assert.equal(decodeRouteList(ours.payload).nodeAddrNum, decodeRouteList(theirs.payload).nodeAddrNum);
      return;
    case Command.LOOKUP:
    case Command.WRITE: {
      const o = decodeFileInfoReply(ours.payload).info;
      const e = decodeFileInfoReply(theirs.payload).info;
      assert.deepEqual(
        { flags: o.recordFlags, size: o.size, mtime: o.mtime, csum: o.checksum.toString('hex') },
        { flags: e.recordFlags, size: e.size, mtime: e.mtime, csum: e.checksum.toString('hex') },
        `${where}: file info`,
      );
      assert.match(o.path, /\/data-0\.\d+$/);
      return;
    }
    case Command.READ: {
      const o = decodeIoAttr(ours.payload);
      const e = decodeIoAttr(theirs.payload);
      const strip = (io: typeof o) => ({ ...io, parent: io.parent.toString('hex'), id: io.id.toString('hex') });
      assert.deepEqual(strip(o), strip(e), `${where}: io_attr`);
      assert.deepEqual(ours.payload.subarray(IO_ATTR_SIZE), theirs.payload.subarray(IO_ATTR_SIZE), `${where}: data`);
      return;
    }
    case Command.MONITOR_STAT:
      sameStatShape(decodeMonitorStatReply(ours.payload), decodeMonitorStatReply(theirs.payload), where);
      return;
    case Command.BACKEND_STATUS:
    case Command.BACKEND_CONTROL: {
      assert.equal(ours.payload.length, theirs.payload.length, `${where}: status list size`);
      const pick = (p: Buffer) => decodeBackendStatusList(p).map((s) => [s.backendId, s.state, s.defragState, s.readOnly, s.delay]);
      assert.deepEqual(pick(ours.payload), pick(theirs.payload), `${where}: status entries`);
      return;
    }
    default:
      assert.equal(ours.payload.length, theirs.payload.length, `${where}: payload size`);
  }
}

describe('captured client traffic replayed against embedded nodes', () => {
  const tmp = tempDir();
  let node1: StorageNode;
  let node2: StorageNode;
  const portOf = (server: string): number => (server.endsWith(':1025') ? node1.port : node2.port);

  before(async () => {
    node1 = await startNode(`${tmp.dir}/node1`, { backends: [{ id: 1, group: 1 }, { id: 2, group: 3 }, { id: 3, group: 5 }] });
    node2 = await startNode(`${tmp.dir}/node2`, { backends: [{ id: 1, group: 2 }, { id: 2, group: 4 }, { id: 3, group: 6 }], remotes: [`127.0.0.1:${node1.port}`] });
  });

  after(async () => {
    await node2.stop();
    await node1.stop();
    tmp.cleanup();
  });

  /** Stores what the lab had before a capture (written by tools outside the captures). */
  async function seed(port: number, writes: { id: Buffer; group: number; data: Buffer; sec: number; nsec?: number; userFlags?: bigint }[]): Promise<void> {
    const conn = await Connection.open('127.0.0.1', port, { maxFrame: 1 << 24, timeoutMs: 5000 });
    await conn.handshake(VERSION_3_0);
    for (const w of writes) {
      const r = writeRequest({ id: w.id, group: w.group }, w.data, { timestamp: { sec: w.sec, nsec: w.nsec ?? 0 }, userFlags: w.userFlags ?? 0n });
      const [reply] = await conn.request(r.header, r.payload);
      assert.equal(reply!.header.status, 0);
    }
    conn.destroy();
  }

  async function seedsFor(capture: string): Promise<void> {
    if (capture.startsWith('16a')) {
      for (const [port, group] of [[node1.port, 1], [node2.port, 2]] as const) {
        await seed(port, ['one', 'two'].map((n, i) => ({ id: keyToId(`golden-bulk-${i + 1}`), group, data: Buffer.from(`bulk read payload ${n}\n`), sec: 1577836800 })));
      }
    }
    if (capture.startsWith('15a')) {
      // From here on backrunner's background traffic reads the bucket metadata the lab's bmeta had
      // stored; it is taken from the replies backrunner received in capture 20.
      const stored = frames('20-backrunner-go-startup', '1', 's2c').filter((f) => f.header.cmd === Command.READ && f.payload.length > IO_ATTR_SIZE);
      const writes = stored.map((f) => {
        const io = decodeIoAttr(f.payload);
        return { id: Buffer.from(io.id), data: Buffer.from(f.payload.subarray(IO_ATTR_SIZE)), sec: io.timestamp.sec, nsec: io.timestamp.nsec, userFlags: io.userFlags };
      });
      assert.equal(writes.length, 3);
      await seed(node1.port, writes.map((w) => ({ ...w, group: 1 })));
      await seed(node2.port, writes.map((w) => ({ ...w, group: 2 })));
    }
    if (capture.startsWith('28')) {
      for (const [port, group] of [[node1.port, 5], [node2.port, 6]] as const) {
        await seed(port, [1, 2].map((n) => ({ id: keyToId(`golden/bd-${n}.txt`, 'b3'), group, data: Buffer.from(`bulk delete body bd-${n}`), sec: 1795622000 })));
      }
    }
  }

  for (const capture of SEQUENCE) {
    it(`${capture}: the node answers what the real node answered`, async () => {
      await seedsFor(capture);
      for (const [conn, info] of Object.entries(manifest[capture]!)) {
        if (!hasFixture('captures', `${capture}.conn${conn}.c2s.bin`)) continue;
        const requests = frames(capture, conn, 'c2s');
        if (requests.length === 0) continue;
        const answers = frames(capture, conn, 's2c');
        const r = await Replayer.open(portOf(info.server));
        try {
          for (const req of requests) {
            const where = `${capture} conn${conn} ${Command.READ === req.header.cmd ? 'READ' : `cmd ${req.header.cmd}`} trans ${req.header.trans}`;
            // Replies of this request: same trans and command (BULK_READ answers per key with READ packets).
            const mine = (f: Frame) => f.header.trans === req.header.trans && (f.header.cmd === req.header.cmd || req.header.cmd === Command.BULK_READ);
            const expected = answers.filter((a) => isReply(a.header) && mine(a));
            r.send(req.raw);
            if (capture.startsWith('14b')) {
              await r.until(() => r.closed, 'the node to hang up on a 2.25 client');
              assert.equal(r.repliesTo(0n).length, 0, 'no reply to a refused version');
              continue;
            }
            if (expected.length === 0) continue; // JOIN: no reply
            await r.until(() => r.repliesTo(req.header.trans).filter(mine).length >= expected.length, `${expected.length} replies (${where})`);
            const got = r.repliesTo(req.header.trans).filter(mine);
            assert.equal(got.length, expected.length, `${where}: packet count`);
            got.forEach((g, i) => compareReply(`${where} packet ${i}`, g, expected[i]!, decodeVersion(req.header.id)));
          }
          // Connections that were open before the capture window existed long before; replayed one
          // after another they cannot witness pushes caused by another connection.
          const handshaken = requests[0]!.header.cmd === Command.REVERSE_LOOKUP;
          const expectedPushes = handshaken ? answers.filter((a) => a.header.cmd === Command.UPDATE_IDS) : [];
          assert.equal(r.pushes.length, expectedPushes.length, `${capture} conn${conn}: UPDATE_IDS pushes`);
          r.pushes.forEach((p, i) => {
            const pick = (payload: Buffer) => decodeIdContainer(payload, 0).map((b) => [b.backendId, b.group, b.flags, b.ids.length]);
            assert.equal(p.header.flags, CommandFlags.DIRECT | CommandFlags.NOLOCK);
            assert.deepEqual(pick(p.payload), pick(expectedPushes[i]!.payload));
          });
        } finally {
          r.close();
        }
      }
    });
  }
});
