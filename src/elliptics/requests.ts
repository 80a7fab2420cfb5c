// Request builders and reply readers for each command, in the exact shapes the C client sends
// (spec §5–§7; checked against the captures). Shared by the session layer, the node's peer links,
// tests and benchmarks.

import {
  Command, CommandFlags, Errno, FlagsHigh, IO_ATTR_SIZE, RecordFlags, encodeAlsoGroups,
  decodeBackendStatusList, decodeFileInfoReply, decodeIoAttr, decodeLocation, decodeMonitorStatReply, decodeRouteList, encodeBackendControl,
  encodeIoAttr, encodeMonitorStatRequest, makeHeader, makeIoAttr, timeNow,
  type BackendControl, type BackendStatus, type DnetAddr, type DnetTime, type FileInfoReply, type Header, type IoAttr, type Location,
} from './protocol/index.js';
import type { Packet } from './connection.js';
import type { Payload } from './protocol/frame.js';
import { EllipticsError } from './errors.js';

export interface Request {
  header: Header;
  payload: Buffer[];
}

export interface Target {
  id: Buffer;
  group: number;
  /** The owner backend from the route table (informational, as the C client fills it). */
  backendId?: number;
  /** Extra command flags (session cflags). */
  cflags?: number;
  /** Command-specific high flag bits (ours: FlagsHigh.REMOVAL_TIME on READ and LOOKUP). */
  flagsHigh?: number;
  traceId?: bigint;
}

function dataHeader(cmd: number, t: Target): Header {
  return makeHeader({
    cmd,
    id: t.id,
    group: t.group,
    backendId: t.backendId ?? 0,
    flags: CommandFlags.NEED_ACK | (t.cflags ?? 0),
    flagsHigh: t.flagsHigh ?? 0,
    traceId: t.traceId ?? 0n,
  });
}

export interface WriteFields {
  offset?: number;
  /** Bytes to reserve (PREPARE), offset+size (PLAIN_WRITE), final size (COMMIT). */
  num?: number;
  ioFlags?: number;
  timestamp?: DnetTime;
  userFlags?: bigint;
}

/** WRITE of `data` (one buffer, or chunks sent back to back without being joined). */
export function writeRequest(t: Target, data: Buffer | readonly Buffer[], f: WriteFields = {}): Request {
  const parts = Buffer.isBuffer(data) ? [data] : data;
  let size = 0;
  for (const p of parts) size += p.length;
  const io = makeIoAttr({
    id: t.id,
    offset: f.offset ?? 0,
    size,
    num: f.num ?? 0,
    flags: f.ioFlags ?? 0,
    timestamp: f.timestamp ?? timeNow(),
    userFlags: f.userFlags ?? 0n,
  });
  return { header: dataHeader(Command.WRITE, t), payload: [encodeIoAttr(io), ...parts] };
}

/**
 * The same WRITE for `t.group` and `also` (groups on the same node of ours): FlagsHigh.ALSO_GROUPS,
 * and the list of the other groups after the data.
 */
export function sharedWriteRequest(t: Target, data: readonly Buffer[], also: readonly number[], f: WriteFields = {}): Request {
  const r = writeRequest({ ...t, flagsHigh: (t.flagsHigh ?? 0) | FlagsHigh.ALSO_GROUPS }, data, f);
  r.payload.push(encodeAlsoGroups(also));
  return r;
}

export interface ReadFields {
  offset?: number;
  /** 0 = to the end of the object. */
  size?: number;
  ioFlags?: number;
}

export function readRequest(t: Target, f: ReadFields = {}): Request {
  const io = makeIoAttr({ id: t.id, parent: t.id, offset: f.offset ?? 0, size: f.size ?? 0, flags: f.ioFlags ?? 0 });
  return { header: dataHeader(Command.READ, t), payload: [encodeIoAttr(io)] };
}

export function lookupRequest(t: Target): Request {
  // The C client leaves backend_id 0 in LOOKUP (captured).
  return { header: dataHeader(Command.LOOKUP, { ...t, backendId: 0 }), payload: [] };
}

/**
 * DEL. `timestamp` (ours; the C client sends zeros, which a real node ignores): when the removal was
 * made, so that our node can order it against writes in other groups (with CAS_TIMESTAMP in
 * `ioFlags`, it refuses to remove a newer record).
 */
export function removeRequest(t: Target, ioFlags = 0, timestamp?: DnetTime): Request {
  // Without a time: zeros, as the C client sends (captured: 07).
  const io = makeIoAttr({ id: t.id, parent: t.id, flags: ioFlags, timestamp: timestamp ?? { sec: 0, nsec: 0 } });
  return { header: dataHeader(Command.DEL, t), payload: [encodeIoAttr(io)] };
}

/** BULK_READ of `ids` (sorted by the caller as the C++ client does); `cmd.id` is the first id. */
export function bulkReadRequest(t: Omit<Target, 'id'>, ids: Buffer[], ioFlags = 0): Request {
  const lead = makeIoAttr({ size: ids.length * IO_ATTR_SIZE, flags: ioFlags });
  const payload = [encodeIoAttr(lead), ...ids.map((id) => encodeIoAttr(makeIoAttr({ id, flags: ioFlags })))];
  return { header: dataHeader(Command.BULK_READ, { ...t, id: ids[0]! }), payload };
}

export function routeListRequest(): Request {
  return { header: makeHeader({ cmd: Command.ROUTE_LIST, flags: CommandFlags.NEED_ACK | CommandFlags.DIRECT | CommandFlags.NOLOCK }), payload: [] };
}

export function monitorStatRequest(categories: bigint): Request {
  return {
    header: makeHeader({ cmd: Command.MONITOR_STAT, flags: CommandFlags.NEED_ACK | CommandFlags.DIRECT | CommandFlags.NOLOCK }),
    payload: [encodeMonitorStatRequest(categories)],
  };
}

export function backendStatusRequest(): Request {
  return { header: makeHeader({ cmd: Command.BACKEND_STATUS, flags: CommandFlags.NEED_ACK | CommandFlags.DIRECT }), payload: [] };
}

export function backendControlRequest(ctl: BackendControl): Request {
  // The id starts with the backend id as u32 LE, then random bytes (captured).
  const id = Buffer.alloc(64);
  id.writeUInt32LE(ctl.backendId, 0);
  return {
    header: makeHeader({ cmd: Command.BACKEND_CONTROL, id, flags: CommandFlags.NEED_ACK | CommandFlags.DIRECT }),
    payload: [encodeBackendControl(ctl)],
  };
}

// ---------------------------------------------------------------------------------------------
// Replies

/** The final packet of a transaction; throws its status when it is an error (`what` says of what; `group`, where). */
export function finalPacket(packets: readonly Packet[], what: string, group?: number): Packet {
  const last = packets[packets.length - 1];
  const where = (): string => (group === undefined ? what : `${what} in group ${group}`);
  if (!last) throw new EllipticsError(Errno.EIO, `${where()}: empty reply`);
  if (last.header.status !== 0) throw new EllipticsError(last.header.status, where(), removalOf(last));
  return last;
}

/** The removal time an -ENOENT of our node carries (see FlagsHigh.REMOVAL_TIME); undefined otherwise. */
function removalOf(p: Packet): DnetTime | undefined {
  if (p.header.status !== Errno.ENOENT || p.payload.length < IO_ATTR_SIZE) return undefined;
  const io = decodeIoAttr(p.payload);
  return io.recordFlags & RecordFlags.REMOVE ? io.timestamp : undefined;
}

/** WRITE / LOOKUP: the file info of the stored record (undefined for a bare ACK). */
export function fileInfoOf(packets: readonly Packet[], what: string): FileInfoReply | undefined {
  const p = finalPacket(packets, what);
  return p.payload.length > 0 ? decodeFileInfoReply(p.payload) : undefined;
}

export class ReadReply {
  /** The group that answered (set by the reader that asked). */
  group = 0;
  /** Groups asked before it that lacked the object (for read-repair; see Session.readId). */
  misses: { missing: number[]; shadowed: number[]; removedAt: DnetTime | undefined } | undefined;

  constructor(
    readonly io: IoAttr,
    /** The data as received, chunk by chunk (no copy). */
    readonly parts: readonly Buffer[],
    private readonly body?: Payload,
  ) {}

  /** The data will not be read again: its pooled memory may be reused (see Payload.release). */
  release(): void {
    this.body?.release();
  }

  /** The data contiguously (joined on first use). */
  get data(): Buffer {
    return this.parts.length === 1 ? this.parts[0]! : Buffer.concat(this.parts as Buffer[]);
  }
}

/**
 * The data of a READ reply. With `asked` (the key, offset and size requested), a reply that does
 * not answer it — another key, another offset, more than asked, a window beyond the object, data
 * bytes that differ from the size it announces — is refused (-EIO): a node echoes the key and the
 * window it read, and bytes taken from the wrong place would be given out as the object's.
 */
export function readReplyOf(packets: readonly Packet[], what: string, group?: number, asked?: { id?: Buffer; offset: number; size: number }): ReadReply {
  return replyOf(finalPacket(packets, what, group), false, what, group, asked).reply;
}

/**
 * The reply to a located READ that came with the bytes (a small window): with FlagsHigh.KEEP, its
 * location follows the data, and the reader may keep it (see FlagsHigh.KEEP).
 */
export function smallLocatedReplyOf(packets: readonly Packet[], what: string, group: number, asked: { id: Buffer; offset: number; size: number }): { reply: ReadReply; location: Location | undefined } {
  const p = finalPacket(packets, what, group);
  return replyOf(p, (p.header.flagsHigh & FlagsHigh.KEEP) !== 0, what, group, asked);
}

function replyOf(p: Packet, located: boolean, what: string, group?: number, asked?: { id?: Buffer; offset: number; size: number }): { reply: ReadReply; location: Location | undefined } {
  if (p.body.length < IO_ATTR_SIZE) throw new EllipticsError(Errno.EINVAL, `${what}: READ reply shorter than io_attr`);
  const io = decodeIoAttr(p.body.head(IO_ATTR_SIZE));
  const data = located ? Math.min(io.size, p.body.length - IO_ATTR_SIZE) : p.body.length - IO_ATTR_SIZE;
  let location: Location | undefined;
  let wrong =
    data !== io.size ? `carries ${data} data bytes, its io_attr says ${io.size}`
    : windowProblem(io, asked)
    ?? (asked && io.size === 0 && asked.offset < io.totalSize && asked.size !== 0 ? `is empty inside the object (${io.totalSize} bytes)` : undefined);
  if (!wrong && located) {
    try {
      location = decodeLocation(Buffer.concat(p.body.slice(IO_ATTR_SIZE + data)));
    } catch (err) {
      wrong = (err as Error).message;
    }
  }
  if (wrong) {
    p.body.release();
    throw new EllipticsError(Errno.EIO, `${what}: READ reply ${wrong}${group !== undefined ? ` (group ${group})` : ''}`);
  }
  const reply = new ReadReply(io, p.body.slice(IO_ATTR_SIZE, IO_ATTR_SIZE + data), p.body);
  if (group !== undefined) reply.group = group;
  return { reply, location };
}

/** What is wrong with the window a reply's io_attr describes, against the object and what was asked. */
function windowProblem(io: IoAttr, asked: { id?: Buffer; offset: number; size: number } | undefined): string | undefined {
  if (io.offset + io.size > io.totalSize) return `window ${io.offset}+${io.size} lies beyond the object's ${io.totalSize} bytes`;
  if (!asked) return undefined;
  if (asked.id && !io.id.equals(asked.id)) return 'is for another key';
  if (io.offset !== asked.offset) return `is at offset ${io.offset}, ${asked.offset} was asked`;
  if (asked.size > 0 && io.size > asked.size) return `has ${io.size} bytes, ${asked.size} were asked`;
  return undefined;
}

/** Whether a reply to a located READ says where the bytes lie (else it carries them, as a plain READ's). */
export function isLocated(packets: readonly Packet[]): boolean {
  const last = packets[packets.length - 1];
  return last !== undefined && (last.header.flagsHigh & FlagsHigh.LOCATE) !== 0;
}

/**
 * The answer to a READ with FlagsHigh.LOCATE: the io_attr of the window (held to what was asked,
 * as readReplyOf holds a READ's), where it lies, and whether the node read its bytes a moment ago
 * (FlagsHigh.WARM: they are in the page cache).
 */
export function locateReplyOf(packets: readonly Packet[], what: string, group: number, asked: { id: Buffer; offset: number; size: number }): { io: IoAttr; location: Location; warm: boolean; keep: boolean } {
  const p = finalPacket(packets, what, group);
  if (p.body.length <= IO_ATTR_SIZE) throw new EllipticsError(Errno.EINVAL, `${what}: located READ reply shorter than io_attr and a location`);
  const body = p.payload;
  const io = decodeIoAttr(body.subarray(0, IO_ATTR_SIZE));
  const wrong = windowProblem(io, asked);
  if (wrong) throw new EllipticsError(Errno.EIO, `${what}: located READ reply ${wrong} (group ${group})`);
  try {
    const f = p.header.flagsHigh;
    return { io, location: decodeLocation(Buffer.from(body.subarray(IO_ATTR_SIZE))), warm: (f & FlagsHigh.WARM) !== 0, keep: (f & FlagsHigh.KEEP) !== 0 };
  } catch (err) {
    throw new EllipticsError(Errno.EIO, `${what}: located READ reply: ${(err as Error).message} (group ${group})`);
  }
}

/** ROUTE_LIST: one address per node (the first of each node's list; single-homed clusters). */
export function routeListOf(packets: readonly Packet[], what: string): DnetAddr[] {
  const routes = decodeRouteList(finalPacket(packets, what).payload);
  const out: DnetAddr[] = [];
  for (let i = 0; i < routes.addrs.length; i += routes.nodeAddrNum) out.push(routes.addrs[i]!);
  return out;
}

export function backendStatusOf(packets: readonly Packet[], what: string): BackendStatus[] {
  // An EALREADY answer is the status list with MORE, then the error ACK.
  return decodeBackendStatusList(finalPacketWithData(packets, what).payload);
}

function finalPacketWithData(packets: readonly Packet[], what: string): Packet {
  const last = finalPacket(packets, what);
  return last.payload.length > 0 ? last : packets.find((p) => p.payload.length > 0) ?? last;
}

/** MONITOR_STAT: the JSON of the data packet (the final packet is an empty ACK). */
export function monitorStatOf(packets: readonly Packet[], what: string): unknown {
  finalPacket(packets, what);
  const data = packets.find((p) => p.payload.length > 0);
  if (!data) throw new EllipticsError(Errno.EIO, `${what}: no statistics in the reply`);
  return decodeMonitorStatReply(data.payload);
}

