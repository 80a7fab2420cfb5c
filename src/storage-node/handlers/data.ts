// Data commands: LOOKUP, WRITE, READ, DEL, BULK_READ (spec §6). Each runs on the backend that
// serves the command's group and answers exactly as a real node: one data packet on success (no
// trailing ACK), an error ACK from the dispatcher on failure.

import { createHash } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import {
  Command, CommandFlags, Errno, FlagsHigh, HEADER_SIZE, ID_SIZE, IO_ATTR_SIZE, IoFlags, KEEP_SECONDS, RecordFlags,
  decodeAlsoGroups, decodeIoAttr, isEmptyTime, timeNow, encodeFileInfoReply, encodeLocation, makeIoAttr, encodeHeader, encodeIoAttr, replyHeader, type FileInfo, type Header, type IoAttr,
  type Payload,
} from '../../elliptics/protocol/index.js';
import { type Backend, type ReadResult, wireRecordFlags } from '../engine/backend.js';
import { dataOffset, type RecordRef } from '../engine/key-index.js';
import { StorageError } from '../engine/storage-error.js';
import { ChunkCrcBuilder } from '../engine/chunk-crc.js';
import { encodeRecordHeader, isLive } from '../engine/record.js';
import type { NodeContext } from '../node-context.js';
import type { ServerConnection } from '../server-connection.js';

const ZERO_CSUM = Buffer.alloc(ID_SIZE);
/** Reply header + io_attr in front of READ data. */
const READ_REPLY_HEAD = HEADER_SIZE + IO_ATTR_SIZE;

export type DataHandler = (ctx: NodeContext, conn: ServerConnection, h: Header, payload: Payload, backend: Backend) => Promise<number>;

export function fileInfoOf(ref: RecordRef, pending: boolean, checksum: Buffer = ZERO_CSUM): FileInfo {
  return {
    checksum,
    recordFlags: wireRecordFlags(ref, pending),
    // An uncommitted record reports the size it reserved (captured from a real node).
    size: pending ? ref.header.capacity : ref.header.size,
    offset: dataOffset(ref),
    mtime: { sec: ref.header.tsec, nsec: ref.header.tnsec },
    path: ref.blob.path,
  };
}

function ioAttrOf(payload: Payload, what: string): IoAttr {
  if (payload.length < IO_ATTR_SIZE) {
    throw new StorageError(Errno.EINVAL, `${what} needs a ${IO_ATTR_SIZE}-byte io_attr, got ${payload.length} bytes`);
  }
  return decodeIoAttr(payload.head(IO_ATTR_SIZE));
}

/**
 * A missing key, asked with FlagsHigh.REMOVAL_TIME: when the backend remembers its removal, the
 * -ENOENT ACK carries an io_attr saying so (record flag REMOVE, the removal's time).
 */
function missing(h: Header, backend: Backend, id: Buffer, err: unknown): unknown {
  if (!(err instanceof StorageError) || err.status !== Errno.ENOENT || !(h.flagsHigh & FlagsHigh.REMOVAL_TIME)) return err;
  const when = backend.removedAt(id);
  if (!when) return err;
  const io = makeIoAttr({ id, parent: id, timestamp: when, recordFlags: RecordFlags.REMOVE });
  return new StorageError(Errno.ENOENT, 'removed', encodeIoAttr(io, Buffer.alloc(IO_ATTR_SIZE)));
}

export const lookup: DataHandler = async (ctx, conn, h, _payload, backend) => {
  let ref: RecordRef;
  try {
    ref = backend.lookup(h.id);
  } catch (err) {
    throw missing(h, backend, h.id, err);
  }
  const checksum = h.flags & CommandFlags.CHECKSUM ? await backend.checksum(ref) : ZERO_CSUM;
  conn.send(replyHeader(h, { backendId: backend.id }), encodeFileInfoReply({ addr: ctx.self, info: fileInfoOf(ref, false, checksum) }));
  return 0;
};

export const write: DataHandler = async (ctx, conn, h, payload, backend) => {
  const io = writeIoAttr(payload);
  // The data goes to disk as the chunks it arrived in: no copy of the payload.
  const data = payload.slice(IO_ATTR_SIZE, IO_ATTR_SIZE + io.size);
  sendAck(conn, replyHeader(h, { backendId: backend.id }), await writeInto(ctx, backend, io, data, undefined));
  return io.size;
};

function writeIoAttr(payload: Payload): IoAttr {
  const io = ioAttrOf(payload, 'WRITE');
  if (io.size > payload.length - IO_ATTR_SIZE) {
    throw new StorageError(Errno.EINVAL, `WRITE io_attr announces ${io.size} bytes, the frame carries ${payload.length - IO_ATTR_SIZE}`);
  }
  return io;
}

function sendAck(conn: ServerConnection, header: Header, body: Buffer | undefined): void {
  if (body) conn.send(header, body);
  else conn.send(header);
}

/** Stores a WRITE's data in `backend`; the ACK's payload (the file info, or nothing). */
async function writeInto(ctx: NodeContext, backend: Backend, io: IoAttr, data: Buffer[], crcs: Uint32Array | undefined): Promise<Buffer | undefined> {
  const result = await backend.write({
    id: Buffer.from(io.id), // the index keeps it: do not pin the socket buffer
    data,
    length: io.size,
    offset: io.offset,
    num: io.num,
    ioFlags: io.flags,
    timestamp: io.timestamp,
    userFlags: io.userFlags,
    crcs,
  });
  if (io.flags & IoFlags.WRITE_NO_FILE_INFO) return undefined;
  return encodeFileInfoReply({ addr: ctx.self, info: fileInfoOf(result.ref, result.pending) });
}

/** Flags under which a WRITE's data is the whole new record (so its chunk CRCs are the record's). */
const PARTIAL_WRITE = IoFlags.APPEND | IoFlags.PREPARE | IoFlags.PLAIN_WRITE | IoFlags.COMMIT;

/**
 * A WRITE with FlagsHigh.ALSO_GROUPS: the same bytes stored in its own group and every group listed
 * after the data, in parallel, with the chunk CRCs computed once. Each group gets its own ACK (its
 * own status; MORE on all but the last to finish) and counts in its backend's statistics as if it
 * had come alone. A malformed list fails the whole command (the dispatcher answers for the
 * command's group).
 */
export async function sharedWrite(ctx: NodeContext, conn: ServerConnection, h: Header, payload: Payload, count: (backend: Backend | undefined, ok: boolean, bytes: number, started: bigint) => void, failure: (err: unknown) => { status: number; body: Buffer | undefined }): Promise<{ ok: boolean; bytes: number }> {
  const io = writeIoAttr(payload);
  const tail = payload.length > IO_ATTR_SIZE + io.size ? payload.slice(IO_ATTR_SIZE + io.size) : [];
  const also = tail.length > 0 ? decodeAlsoGroups(tail.length === 1 ? tail[0]! : Buffer.concat(tail)) : undefined;
  const groups = also ? [h.group, ...also] : [];
  if (!also || new Set(groups).size !== groups.length) {
    throw new StorageError(Errno.EINVAL, 'WRITE with ALSO_GROUPS: no valid list of further groups after the data');
  }
  const data = payload.slice(IO_ATTR_SIZE, IO_ATTR_SIZE + io.size);
  // One version in every group: a write without a time gets one now, the same for all.
  if (isEmptyTime(io.timestamp)) io.timestamp = timeNow();
  const crcs = io.offset === 0 && !(io.flags & PARTIAL_WRITE) ? ChunkCrcBuilder.of(data) : undefined;
  let left = groups.length;
  let failed = 0;
  await Promise.all(groups.map(async (group) => {
    const started = process.hrtime.bigint();
    const backend = ctx.backendByGroup(group);
    let status = 0;
    let body: Buffer | undefined;
    try {
      if (!backend || !backend.enabled) throw new StorageError(Errno.ENOTSUP, `group ${group} is not served by this node`);
      if (backend.delay > 0) await sleep(backend.delay);
      body = await writeInto(ctx, backend, io, data, crcs);
    } catch (err) {
      ({ status, body } = failure(err));
    }
    left--;
    if (status !== 0) failed++;
    sendAck(conn, replyHeader(h, { group, status, backendId: backend ? backend.id : -1, more: left > 0 }), body);
    count(backend, status === 0, status === 0 ? io.size : 0, started);
  }));
  return { ok: failed === 0, bytes: io.size * (groups.length - failed) };
}

/**
 * The whole encoded READ reply (header + io_attr + data) in the buffer the data was read into, with
 * the function that returns that buffer to the pool once the socket has taken it.
 */
function readReply(h: Header, io: IoAttr, backend: Backend, flags: number, r: ReadResult, trailer?: Buffer): { message: Buffer; bytes: number; release: () => void } {
  const data = r.buf.subarray(r.start, r.start + r.length);
  const reply = readIoAttr(io, r.ref, r.length, io.flags & IoFlags.CHECKSUM ? createHash('sha512').update(data).digest() : io.parent);
  const header = replyHeader(h, { backendId: backend.id, id: io.id, flags });
  header.cmd = Command.READ;
  header.flagsHigh &= ~(FlagsHigh.LOCATE | FlagsHigh.KEEP); // the bytes themselves, not where they lie
  // …and where they lie after them, when the reader may keep that (sent next by the caller).
  if (trailer) header.flagsHigh |= FlagsHigh.KEEP;
  header.size = IO_ATTR_SIZE + r.length + (trailer?.length ?? 0);
  // The data was read READ_REPLY_HEAD bytes into the buffer: the reply head goes in front of it, no copy.
  const head = r.start - READ_REPLY_HEAD;
  encodeIoAttr(reply, r.buf, r.start - IO_ATTR_SIZE);
  encodeHeader(header, r.buf, head);
  return { message: r.buf.subarray(head, r.start + r.length), bytes: r.length, release: r.release };
}

/** The io_attr of a READ reply: the window read, and the record's size, flags, time and user flags. */
function readIoAttr(io: IoAttr, ref: RecordRef, length: number, parent: Buffer): IoAttr {
  return {
    ...io,
    parent,
    size: length,
    totalSize: ref.header.size,
    recordFlags: wireRecordFlags(ref, false),
    timestamp: { sec: ref.header.tsec, nsec: ref.header.tnsec },
    userFlags: ref.header.userFlags,
  };
}

/**
 * Up to this many bytes, a located READ is answered with the bytes, as a plain READ (LOCATE cleared
 * in the reply): sending them costs the node no more than locating them, and spares the client a
 * file read (bench/proxy: GET 4 KiB located cost the worker ~20 µs more).
 */
const LOCATE_INLINE_MAX = 64 * 1024;

/**
 * READ; with FlagsHigh.LOCATE the window is checked and the reply says where it lies instead of
 * carrying its bytes — unless it is small (LOCATE_INLINE_MAX), when the bytes come as for a READ.
 * With FlagsHigh.KEEP as well, and the node lets the reader keep the location (Located.keep), the
 * reply says so with KEEP, and a small window's location follows its bytes.
 */
export const read: DataHandler = async (_ctx, conn, h, payload, backend) => {
  const io = ioAttrOf(payload, 'READ');
  const flags = (h.flags & ~(CommandFlags.NEED_ACK | CommandFlags.MORE)) | CommandFlags.REPLY;
  const verify = (io.flags & IoFlags.NOCSUM) === 0;
  const keepSeconds = (h.flagsHigh & FlagsHigh.KEEP) !== 0 ? KEEP_SECONDS : 0;
  let r;
  try {
    r = h.flagsHigh & FlagsHigh.LOCATE
      ? await backend.locate(io.id, io.offset, io.size, { verify, inlineMax: LOCATE_INLINE_MAX, headroom: READ_REPLY_HEAD, keepSeconds })
      : { read: await backend.read(io.id, io.offset, io.size, verify, READ_REPLY_HEAD), keep: false };
  } catch (err) {
    throw missing(h, backend, io.id, err);
  }
  if ('read' in r) {
    const where = r.keep ? locationOf(r.read.ref) : undefined;
    const kept = where?.live ? where.location : undefined;
    const { message, bytes, release } = readReply(h, io, backend, flags, r.read, kept);
    conn.sendRaw(message, release);
    if (kept) conn.sendRaw(kept);
    return bytes;
  }
  const where = locationOf(r.ref);
  const header = replyHeader(h, { backendId: backend.id, id: io.id, flags });
  header.cmd = Command.READ;
  header.flagsHigh &= ~FlagsHigh.KEEP;
  if (r.warm) header.flagsHigh |= FlagsHigh.WARM;
  if (r.keep && where.live) header.flagsHigh |= FlagsHigh.KEEP;
  conn.send(header, encodeIoAttr(readIoAttr(io, r.ref, r.length, io.parent)), where.location);
  return 0;
};

/**
 * Where a record lies, with its header as it is now — and whether it is still live: a record
 * superseded or removed while it was read or verified has REMOVED in that header, which would go on
 * matching the file's, so such a location is for this one read, never kept (FlagsHigh.KEEP).
 */
function locationOf(ref: RecordRef): { location: Buffer; live: boolean } {
  const h = ref.header; // replaced, never changed in place (record-io.ts): one version of it
  return { location: encodeLocation({ path: ref.blob.path, recordOffset: ref.offset, header: encodeRecordHeader(h) }), live: isLive(h) };
}

export const remove: DataHandler = async (_ctx, conn, h, payload, backend) => {
  const io = ioAttrOf(payload, 'DEL');
  // eblob removes the key named in the command header, not in the io_attr (spec §6.7). The io_attr's
  // timestamp (ours; real clients send zeros) says when the removal was made.
  await backend.remove(Buffer.from(h.id), { timestamp: io.timestamp, casTimestamp: (io.flags & IoFlags.CAS_TIMESTAMP) !== 0 });
  conn.send(replyHeader(h, { backendId: backend.id }));
  return 0;
};

/**
 * BULK_READ (spec §6.8): one READ-shaped packet with MORE per key, in request order (an error is a
 * header-only packet carrying the batch's first key), then a final ACK whose status is 0.
 */
export const bulkRead: DataHandler = async (_ctx, conn, h, payload, backend) => {
  if (payload.length < IO_ATTR_SIZE || payload.length % IO_ATTR_SIZE !== 0) {
    throw new StorageError(Errno.EINVAL, `BULK_READ payload of ${payload.length} bytes is not a whole number of io_attrs`);
  }
  const attrs = payload.bytes;
  const count = payload.length / IO_ATTR_SIZE - 1;
  if (count === 0) throw new StorageError(Errno.EPERM, 'BULK_READ without keys');
  const more = (h.flags & ~CommandFlags.NEED_ACK) | CommandFlags.REPLY | CommandFlags.MORE;
  let bytes = 0;
  for (let i = 1; i <= count; i++) {
    const io = decodeIoAttr(attrs, i * IO_ATTR_SIZE);
    try {
      const r = readReply(h, io, backend, more, await backend.read(io.id, io.offset, io.size, (io.flags & IoFlags.NOCSUM) === 0, READ_REPLY_HEAD));
      conn.sendRaw(r.message, r.release);
      bytes += r.bytes;
    } catch (err) {
      if (!(err instanceof StorageError)) throw err;
      const ack = replyHeader(h, { backendId: backend.id, status: err.status, flags: more });
      ack.cmd = Command.READ;
      conn.send(ack);
    }
  }
  conn.send(replyHeader(h, { backendId: backend.id }));
  return bytes;
};
