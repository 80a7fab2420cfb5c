// ITERATOR (cmd 19) on the embedded node, against what a real 3.0 node answered (captures 29a–29c:
// a backend of group 5 holding two keys and one key written then removed), every malformed request
// of spec §6.8b, our REMOVED flag, PAUSE / CONTINUE / CANCEL, key and time ranges, keep-alives, a
// caller that goes away, and a walk during a defragmentation that reports every live key once.

import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import path from 'node:path';
import { Cluster, walkBackend, walkTargets, type WalkedRecord } from '../../src/elliptics/index.js';
import {
  BackendCommand, Command, CommandFlags, Errno, IteratorAction, IteratorFlags, IteratorType, ITERATOR_KEEPALIVE,
  RecordFlags, VERSION_2_26, decodeIteratorRequest, decodeIteratorResponse, encodeIteratorRequest, keyToId, makeHeader,
  makeIteratorRequest, splitFrames, type Header, type IteratorRequest,
} from '../../src/elliptics/protocol/index.js';
import { removeRequest, writeRequest } from '../../src/elliptics/requests.js';
import { DefragLevel } from '../../src/storage-node/engine/defrag.js';
import type { StorageNode } from '../../src/storage-node/node.js';
import { createLogger } from '../../src/util/logger.js';
import { control, untilDefragDone } from '../helpers/defrag.js';
import { fixture } from '../helpers/fixtures.js';
import { startNode, tempDir } from '../helpers/nodes.js';
import { RawClient } from '../helpers/raw-client.js';

const CAPTURE_TIME = { sec: 1796289276, nsec: 0 };
const CAPTURES = ['29a-iterator-network-no-data-group-5', '29b-iterator-network-with-data-group-5', '29c-iterator-ts-range-excludes-all-group-5'];

/** The lab's group 5 as the captures found it: it-key-1 and it-key-2, and it-key-3 written then removed. */
async function labBackend(c: RawClient): Promise<void> {
  for (const [k, body] of [['it-key-1', 'iterator golden payload one\n'], ['it-key-2', 'iterator golden payload two\n'], ['it-key-3', 'iterator golden payload three\n']] as const) {
    await c.write(5, k, Buffer.from(body), { timestamp: CAPTURE_TIME });
  }
  assert.equal(await c.remove(5, 'it-key-3'), 0);
}

/** Sends raw bytes and collects every frame until the final reply of transaction `trans`. */
function replay(port: number, bytes: Buffer, trans: bigint): Promise<{ header: Header; raw: Buffer }[]> {
  return new Promise((resolve, reject) => {
    const out: { header: Header; raw: Buffer }[] = [];
    let pending = Buffer.alloc(0);
    const socket = net.connect(port, '127.0.0.1', () => socket.write(bytes));
    socket.on('data', (chunk: Buffer) => {
      pending = Buffer.concat([pending, chunk]);
      while (pending.length >= 120 && pending.length >= 120 + Number(pending.readBigUInt64LE(112))) {
        const raw = pending.subarray(0, 120 + Number(pending.readBigUInt64LE(112)));
        pending = pending.subarray(raw.length);
        const { header } = splitFrames(raw)[0]!;
        out.push({ header, raw: Buffer.from(raw) });
        if (header.trans === trans && !(header.flags & CommandFlags.MORE)) {
          socket.destroy();
          resolve(out);
        }
      }
    });
    socket.once('error', reject);
    setTimeout(() => reject(new Error('no final reply')), 10_000).unref();
  });
}

function iteratorStart(group: number, fields: Partial<IteratorRequest> = {}): { header: Header; payload: Buffer[] } {
  const header = makeHeader({ cmd: Command.ITERATOR, id: Buffer.alloc(64, 7), group, flags: CommandFlags.NEED_ACK | CommandFlags.NOLOCK });
  return { header, payload: [encodeIteratorRequest(makeIteratorRequest({ itype: IteratorType.NETWORK, ...fields }))] };
}

describe('ITERATOR', () => {
  const tmp = tempDir('backrunner-iterator-');
  let node: StorageNode;
  let c: RawClient;

  before(async () => {
    node = await startNode(path.join(tmp.dir, 'n'), { backends: [{ id: 3, group: 5, 'defrag-timeout': 0 }, { id: 4, group: 6, 'blob-size': 256 * 1024, 'defrag-timeout': 0 }] });
    c = await RawClient.connect(node.port);
    await labBackend(c);
  });

  after(async () => {
    c.close();
    await node.stop();
    tmp.cleanup();
  });

  for (const name of CAPTURES) {
    it(`answers capture ${name.slice(0, 3)} byte for byte as the real node did`, async () => {
      const request = fixture('captures', `${name}.conn1.c2s.bin`);
      const expected = splitFrames(fixture('captures', `${name}.conn1.s2c.bin`)).filter((f) => f.header.cmd === Command.ITERATOR);
      const got = (await replay(node.port, request, 2n)).filter((f) => f.header.cmd === Command.ITERATOR);
      assert.equal(got.length, expected.length, 'as many replies as the real node sent');
      got.forEach((f, i) => assert.ok(f.raw.equals(expected[i]!.raw), `reply ${i} differs:\n ours   ${f.raw.toString('hex')}\n theirs ${expected[i]!.raw.toString('hex')}`));
    });
  }

  it('decodes the captured requests and encodes them again to the same bytes (garbage times kept)', () => {
    for (const name of CAPTURES) {
      const frame = splitFrames(fixture('captures', `${name}.conn1.c2s.bin`)).find((f) => f.header.cmd === Command.ITERATOR)!;
      const req = decodeIteratorRequest(frame.payload);
      assert.equal(req.action, IteratorAction.START);
      assert.equal(req.itype, IteratorType.NETWORK);
      assert.ok(encodeIteratorRequest(req).equals(frame.payload), name);
    }
  });

  it('answers every malformed request with the error §6.8b names, and keeps serving', async () => {
    const status = async (r: { header: Header; payload: Buffer[] }): Promise<number> => (await c.send(r)).at(-1)!.header.status;
    const good = iteratorStart(5);
    const cut = { header: good.header, payload: [good.payload[0]!.subarray(0, 100)] };
    assert.equal(await status(cut), Errno.EINVAL, 'shorter than the struct');
    const oneRangeMissing = Buffer.from(good.payload[0]!);
    oneRangeMissing.writeBigUInt64LE(1n, 12);
    assert.equal(await status({ header: good.header, payload: [oneRangeMissing] }), Errno.EINVAL, 'a range announced, none sent');
    assert.equal(await status(iteratorStart(5, { action: 9 })), Errno.EINVAL, 'unknown action');
    assert.equal(await status(iteratorStart(5, { itype: IteratorType.DISK })), Errno.ENOTSUP, 'DISK');
    assert.equal(await status(iteratorStart(5, { itype: 7 })), Errno.ENOTSUP, 'unknown type');
    assert.equal(await status(iteratorStart(5, { itype: IteratorType.SERVER_SEND })), Errno.EINVAL, 'SERVER_SEND without groups');
    assert.equal(await status(iteratorStart(5, { flags: 0x40n })), Errno.ENOTSUP, 'unknown flag');
    const ff = Buffer.alloc(64, 0xff);
    const zero = Buffer.alloc(64, 0);
    assert.equal(await status(iteratorStart(5, { ranges: [{ begin: ff, end: zero }] })), Errno.ERANGE, 'range begins after its end');
    assert.equal(await status(iteratorStart(5, { flags: IteratorFlags.TS_RANGE, timeBegin: { sec: 10, nsec: 0 }, timeEnd: { sec: 5, nsec: 0 } })), Errno.ERANGE, 'time range begins after its end');
    assert.equal(await status(iteratorStart(5, { action: IteratorAction.CANCEL, id: 424242n })), Errno.ENOENT, 'cancel of no walk');
    // Random bytes of every length up to 400: an error, never a crash.
    for (let n = 0; n < 400; n += 7) {
      const junk = Buffer.alloc(n, (n * 31) & 0xff);
      assert.ok((await status({ header: good.header, payload: [junk] })) < 0, `${n} junk bytes`);
    }
    assert.equal((await c.read(5, 'it-key-1')).data.toString(), 'iterator golden payload one\n');
  });

  describe('through the client (an async iterator of records)', () => {
    let cluster: Cluster;
    before(async () => {
      cluster = await Cluster.connect({ remotes: [{ host: '127.0.0.1', port: node.port }], protocolVersion: VERSION_2_26, poolSize: 1, timeoutMs: 10_000, checkIntervalMs: 60_000, maxFrame: 1 << 30, log: createLogger('test', { level: 'silent' }) });
    });
    after(() => cluster.close());

    const all = async (gen: AsyncGenerator<WalkedRecord>): Promise<WalkedRecord[]> => {
      const out: WalkedRecord[] = [];
      for await (const r of gen) out.push(r);
      return out;
    };
    const target = (group: number) => walkTargets(cluster, group)[0]!;

    it('reports live records only; with our REMOVED flag the removal too, with its time', async () => {
      const plain = await all(walkBackend(cluster, target(5)));
      assert.deepEqual(plain.map((r) => r.key.toString('hex')), ['it-key-1', 'it-key-2'].map((k) => keyToId(k).toString('hex')));
      assert.ok(plain.every((r) => r.total === 2 && r.recordFlags === 0x140 && r.size === 28 && r.data === undefined));
      const before = Date.now() / 1000;
      const withRemoved = await all(walkBackend(cluster, target(5), { removed: true, data: true }));
      assert.equal(withRemoved.length, 3);
      const gone = withRemoved.find((r) => r.key.equals(keyToId('it-key-3')))!;
      assert.equal(gone.recordFlags, RecordFlags.REMOVE);
      assert.equal(gone.size, 0);
      assert.ok(gone.timestamp.sec > 1_700_000_000 && gone.timestamp.sec <= before + 1, 'the removal carries when it was made');
      assert.equal(withRemoved.find((r) => r.key.equals(keyToId('it-key-2')))!.data!.toString(), 'iterator golden payload two\n');
    });

    it('key ranges and time ranges select; a range that skips 10,000 records sends a keep-alive', async () => {
      const k1 = keyToId('it-key-1');
      const only1 = await all(walkBackend(cluster, target(5), { ranges: [{ begin: k1, end: k1 }] }));
      assert.deepEqual(only1.map((r) => r.key), [k1]);
      const none = await all(walkBackend(cluster, target(5), { from: { sec: 1, nsec: 0 }, to: { sec: 1000, nsec: 0 } }));
      assert.equal(none.length, 0);
      // 10,050 records in group 6, all older than the range: one keep-alive comes back, no record.
      const writes: Promise<unknown>[] = [];
      for (let i = 0; i < 10_050; i++) writes.push(c.send(writeRequest({ id: keyToId(`many-${i}`), group: 6 }, Buffer.from(`v${i}`), { timestamp: { sec: 1000 + i, nsec: 0 } })));
      await Promise.all(writes);
      const r = iteratorStart(6, { flags: IteratorFlags.TS_RANGE, timeBegin: { sec: 2_000_000_000, nsec: 0 }, timeEnd: { sec: 2_000_000_001, nsec: 0 } });
      const packets = await c.send(r, 30_000);
      const replies = packets.filter((p) => p.header.flags & CommandFlags.MORE).map((p) => decodeIteratorResponse(p.payload));
      assert.equal(replies.length, 1);
      assert.equal(replies[0]!.status, ITERATOR_KEEPALIVE);
      assert.equal(replies[0]!.iterated, 10_000);
      assert.equal(packets.at(-1)!.header.status, 0);
    });

    it('PAUSE holds a walk, CONTINUE resumes it, CANCEL ends it with -ENOEXEC', async () => {
      const id = 77n;
      const start = iteratorStart(6, { id });
      const seen: number[] = [];
      let finalStatus: number | undefined;
      const done = c.conn.request(start.header, start.payload, {
        timeoutMs: 30_000,
        discard: true,
        onPacket: (p) => {
          if (p.header.flags & CommandFlags.MORE) seen.push(1);
          else finalStatus = p.header.status;
        },
      });
      const ctl = (action: number) => c.send(iteratorStart(6, { id, action }));
      // Sent in the same turn as the start: the node pauses the walk after its first batch.
      assert.equal((await ctl(IteratorAction.PAUSE)).at(-1)!.header.status, 0);
      await new Promise((r) => setTimeout(r, 100));
      const paused = seen.length;
      await new Promise((r) => setTimeout(r, 300));
      assert.equal(seen.length, paused, 'no record while paused');
      assert.ok(paused < 10_050, `the walk was paused before its end (${paused} records)`);
      assert.equal((await ctl(IteratorAction.CONTINUE)).at(-1)!.header.status, 0);
      await new Promise((r) => setTimeout(r, 30));
      assert.equal((await ctl(IteratorAction.CANCEL)).at(-1)!.header.status, 0);
      await done.catch(() => undefined);
      assert.equal(finalStatus, Errno.ENOEXEC);
      assert.ok(seen.length >= paused && seen.length < 10_050, `${seen.length} records before the cancel`);
      const final = await c.send(iteratorStart(6, { id, action: IteratorAction.CANCEL }));
      assert.equal(final.at(-1)!.header.status, Errno.ENOENT, 'the cancelled walk is gone');
    });

    it('a caller that goes away ends the walk on the node', async () => {
      let n = 0;
      for await (const r of walkBackend(cluster, target(6), { id: 99n })) {
        void r;
        if (++n === 5) break;
      }
      const until = Date.now() + 5000;
      while (node.iterators.size > 0 && Date.now() < until) await new Promise((r) => setTimeout(r, 20));
      assert.equal(node.iterators.size, 0);
    });

    it('a walk during a defragmentation reports every live key exactly once, in its current version', async () => {
      // Group 6 (256 KiB blobs): overwrite half the keys and remove a tenth so that blobs want compaction.
      for (let i = 0; i < 10_050; i += 2) await c.send(writeRequest({ id: keyToId(`many-${i}`), group: 6 }, Buffer.alloc(600, i & 0xff), { timestamp: { sec: 5000 + i, nsec: 0 } }));
      for (let i = 1; i < 10_050; i += 10) await c.send(removeRequest({ id: keyToId(`many-${i}`), group: 6 }));
      const live = new Map<string, number>();
      for (let i = 0; i < 10_050; i++) if (i % 10 !== 1) live.set(keyToId(`many-${i}`).toString('hex'), i % 2 === 0 ? 5000 + i : 1000 + i);
      const gen = walkBackend(cluster, target(6));
      const seen = new Map<string, number>();
      let n = 0;
      let defragStarted = false;
      for await (const r of gen) {
        const k = r.key.toString('hex');
        assert.ok(!seen.has(k), `${k} reported twice`);
        seen.set(k, r.timestamp.sec);
        if (++n === 100) {
          assert.equal((await control(c, 4, BackendCommand.START_DEFRAG, DefragLevel.FULL)).at(-1)!.header.status, 0);
          defragStarted = true;
        }
        if (n % 500 === 0) await new Promise((r2) => setTimeout(r2, 5)); // a slow consumer: the compaction moves records meanwhile
      }
      assert.ok(defragStarted);
      await untilDefragDone(c, 4);
      assert.equal(seen.size, live.size);
      for (const [k, ts] of live) assert.equal(seen.get(k), ts, `${k}: reported in its current version`);
      assert.ok(node.backends[1]!.defrag.completionTime > 0, 'the defragmentation ran');
    });
  });
});
