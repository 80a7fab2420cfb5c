// ITERATOR (spec §6.8b): a NETWORK walk of the backend that serves the request's group — one reply
// with MORE per record (140-byte response, then the data when DATA was asked), a keep-alive reply
// for every 10,000 records a time range skipped, and a final ACK (0x210). The walk never holds the
// backend: it takes keys in batches, yields to other requests between them, and waits whenever the
// caller lets replies pile up in the socket; it stops when the caller goes away. PAUSE, CONTINUE and
// CANCEL name a walk by the id its START carried (a real node ignores that id; ours uses it, or
// numbers the walk itself when it is 0).

import { setImmediate as nextTurn } from 'node:timers/promises';
import {
  CommandFlags, Errno, HEADER_SIZE, IteratorAction, IteratorFlags, IteratorType, ITERATOR_KEEPALIVE, ITERATOR_RESPONSE_SIZE,
  RecordFlags, STANDARD_ITERATOR_FLAGS, compareTime, decodeIteratorRequest, effectiveRanges, encodeHeader,
  encodeIteratorResponse, replyHeader, validateIteratorStart, type Header, type IteratorRequest,
} from '../../elliptics/protocol/index.js';
import { wireRecordFlags, type Backend } from '../engine/backend.js';
import { recordTime } from '../engine/key-index.js';
import { StorageError } from '../engine/storage-error.js';
import type { WalkedRecord } from '../engine/walk.js';
import type { NodeContext, WalkControl } from '../node-context.js';
import type { ServerConnection } from '../server-connection.js';
import type { DataHandler } from './data.js';

/** The flags this node accepts: the standard ones and ours (REMOVED). */
const KNOWN_FLAGS = STANDARD_ITERATOR_FLAGS | IteratorFlags.REMOVED;
/** Keys looked up per turn of the event loop. */
const BATCH_KEYS = 256;
/** Reply bytes that may wait in the socket before the walk waits for the caller to read them. */
const QUEUE_LIMIT = 4 * 1024 * 1024;
/** Records skipped by a time range between two keep-alive replies (a real node's figure). */
const KEEPALIVE_EVERY = 10_000;
const REPLY_HEAD = HEADER_SIZE + ITERATOR_RESPONSE_SIZE;
const NO_KEY = Buffer.alloc(64);

let nextWalkId = 1n;

export const iterator: DataHandler = async (ctx, conn, h, payload, backend) => {
  const req = decodeIteratorRequest(payload.bytes);
  if (req.action !== IteratorAction.START) return control(ctx, conn, h, req, backend);
  validateIteratorStart(req, KNOWN_FLAGS);
  if (req.itype === IteratorType.SERVER_SEND) throw new StorageError(Errno.ENOTSUP, 'SERVER_SEND walks are not supported by this node (walk with NETWORK and write)');
  const id = req.id !== 0n ? req.id : nextWalkId++;
  if (ctx.iterators.has(id)) throw new StorageError(Errno.EALREADY, `iterator ${id} is already running`);
  const run: WalkControl = { paused: false, cancelled: false, wake: () => undefined };
  ctx.iterators.set(id, run);
  try {
    return await walk(conn, h, req, backend, run);
  } finally {
    ctx.iterators.delete(id);
  }
};

async function walk(conn: ServerConnection, h: Header, req: IteratorRequest, backend: Backend, run: WalkControl): Promise<number> {
  const withData = (req.flags & IteratorFlags.DATA) !== 0n;
  const byTime = (req.flags & IteratorFlags.TS_RANGE) !== 0n && !(req.timeBegin.sec === 0 && req.timeBegin.nsec === 0 && req.timeEnd.sec === 0 && req.timeEnd.nsec === 0);
  const keys = backend.walk({ ranges: effectiveRanges(req.ranges), removed: (req.flags & IteratorFlags.REMOVED) !== 0n });
  const more = (h.flags & ~CommandFlags.NEED_ACK) | CommandFlags.REPLY | CommandFlags.MORE;
  let iterated = 0;
  let skipped = 0;
  let bytes = 0;
  /** One reply: a walked record (with its data), or a keep-alive (`r` undefined: progress only). */
  const reply = (r: WalkedRecord | undefined, data: Buffer | undefined): void => {
    const head = Buffer.allocUnsafe(REPLY_HEAD);
    const hd = r?.ref.header;
    encodeIteratorResponse({
      id: 0n,
      key: hd ? hd.id : NO_KEY,
      status: r ? 0 : ITERATOR_KEEPALIVE,
      timestamp: r ? recordTime(r.ref) : { sec: 0, nsec: 0 },
      userFlags: r && r.kind !== 'removed' ? hd!.userFlags : 0n,
      // A prepared record reports what it reserved, as LOOKUP does.
      size: r?.kind === 'committed' ? hd!.size : r?.kind === 'pending' ? hd!.capacity : 0,
      iterated,
      total: keys.total,
      recordFlags: !r ? 0 : r.kind === 'removed' ? RecordFlags.REMOVE : wireRecordFlags(r.ref, r.kind === 'pending'),
    }, head, HEADER_SIZE);
    const header = replyHeader(h, { backendId: backend.id, flags: more });
    header.size = ITERATOR_RESPONSE_SIZE + (data?.length ?? 0);
    encodeHeader(header, head, 0);
    conn.sendRaw(data ? Buffer.concat([head, data]) : head);
  };

  while (!keys.done) {
    if (conn.closed) throw new StorageError(Errno.EINTR, 'the caller went away');
    while (run.paused && !run.cancelled && !conn.closed) await new Promise<void>((resolve) => (run.wake = resolve));
    if (run.cancelled) throw new StorageError(Errno.ENOEXEC, 'iterator cancelled');
    for (const r of keys.next(BATCH_KEYS)) {
      iterated++;
      if (byTime && !within(recordTime(r.ref), req)) {
        if (++skipped % KEEPALIVE_EVERY === 0) reply(undefined, undefined);
        continue;
      }
      let data: Buffer | undefined;
      if (withData && r.kind === 'committed') {
        const got = await backend.read(r.ref.header.id, 0, 0, true, 0).catch((err: unknown) => {
          // Overwritten or removed since the walk reached it: reported without data is wrong, so skip it.
          if (err instanceof StorageError && err.status === Errno.ENOENT) return undefined;
          throw err;
        });
        if (!got) continue;
        data = Buffer.from(got.buf.subarray(got.start, got.start + got.length));
        got.release();
        if (data.length !== r.ref.header.size) continue;
        bytes += data.length;
      }
      reply(r, data);
    }
    if (conn.queuedBytes > QUEUE_LIMIT) await conn.drained();
    await nextTurn();
  }
  conn.send(replyHeader(h, { backendId: backend.id }));
  return bytes;
}

function within(t: { sec: number; nsec: number }, req: IteratorRequest): boolean {
  return compareTime(t, req.timeBegin) >= 0 && compareTime(t, req.timeEnd) <= 0;
}

/** PAUSE / CONTINUE / CANCEL of a running walk: an ACK, or -ENOENT when no walk has that id. */
function control(ctx: NodeContext, conn: ServerConnection, h: Header, req: IteratorRequest, backend: Backend): number {
  const run = ctx.iterators.get(req.id);
  if (!run) throw new StorageError(Errno.ENOENT, `no iterator ${req.id} is running`);
  if (req.action === IteratorAction.PAUSE) run.paused = true;
  else {
    if (req.action === IteratorAction.CANCEL) run.cancelled = true;
    run.paused = false;
    run.wake();
  }
  conn.send(replyHeader(h, { backendId: backend.id }));
  return 0;
}
