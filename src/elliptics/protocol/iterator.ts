// ITERATOR (cmd 19) payloads (spec §6.8b): the 104-byte request with its key ranges (and group ids,
// for SERVER_SEND), and the 140-byte response each walked record comes back with.
//
// dnet_iterator_request: 0 id u64  8 action u32  12 range_num u64  20 time_begin dnet_time
//   36 time_end dnet_time  52 itype u32  56 flags u64  64 group_num u32  68 timeout u32  72 reserved[32]
//   then range_num × (key_begin[64], key_end[64]), then group_num × u32
// dnet_iterator_response: 0 id u64  8 key[64]  72 status i32  76 timestamp dnet_time  92 user_flags u64
//   100 size u64  108 iterated_keys u64  116 total_keys u64  124 flags u64 (record flags)  132 reserved u64

import { Errno, ID_SIZE } from './constants.js';
import { ProtocolError, readBigU64, requireBytes } from './codec-error.js';
import { type DnetTime, encodeTime } from './time.js';

export const ITERATOR_REQUEST_SIZE = 104;
export const ITERATOR_RANGE_SIZE = 128;
export const ITERATOR_RESPONSE_SIZE = 140;

export const IteratorAction = { START: 1, PAUSE: 2, CONTINUE: 3, CANCEL: 4 } as const;
export const IteratorType = { DISK: 1, NETWORK: 2, SERVER_SEND: 3 } as const;

export const IteratorFlags = {
  /** Each reply carries the record's data. */
  DATA: 0x1n,
  /** Set by the server when ranges are given. */
  KEY_RANGE: 0x2n,
  /** Only records whose timestamp lies in [time_begin, time_end]. */
  TS_RANGE: 0x4n,
  /** Do not read timestamps and user flags. */
  NO_META: 0x8n,
  /** SERVER_SEND: remove the local copy after the remote writes succeeded. */
  MOVE: 0x10n,
  /** SERVER_SEND: write even when the remote copy is newer. */
  OVERWRITE: 0x20n,
  /**
   * Ours (bit 48): report remembered removals too, as records with record flag REMOVE and the
   * removal's time. A real node refuses the unknown bit with -ENOTSUP, so a caller learns whether the
   * node can tell "removed here" from "never written here".
   */
  REMOVED: 1n << 48n,
} as const;

/** The flags a real 3.0 node knows. */
export const STANDARD_ITERATOR_FLAGS = 0x3fn;

/** A status-1 reply: the walk is alive (it skipped 10,000 records outside the time range). */
export const ITERATOR_KEEPALIVE = 1;

export interface KeyRange {
  begin: Buffer;
  end: Buffer;
}

export interface IteratorRequest {
  id: bigint;
  action: number;
  ranges: KeyRange[];
  /** Meaningful with TS_RANGE only; the C client leaves garbage there otherwise (kept, for the bytes). */
  timeBegin: DnetTime;
  timeEnd: DnetTime;
  /** The 32 bytes of both times as received, when they are not valid times (garbage without TS_RANGE). */
  rawTimes?: Buffer;
  itype: number;
  flags: bigint;
  groups: number[];
  timeout: number;
}

export function makeIteratorRequest(fields: Partial<IteratorRequest> = {}): IteratorRequest {
  return {
    id: fields.id ?? 0n,
    action: fields.action ?? IteratorAction.START,
    ranges: fields.ranges ?? [],
    timeBegin: fields.timeBegin ?? { sec: 0, nsec: 0 },
    timeEnd: fields.timeEnd ?? { sec: 0, nsec: 0 },
    ...(fields.rawTimes ? { rawTimes: fields.rawTimes } : {}),
    itype: fields.itype ?? IteratorType.NETWORK,
    flags: fields.flags ?? 0n,
    groups: fields.groups ?? [],
    timeout: fields.timeout ?? 0,
  };
}

export function encodeIteratorRequest(r: IteratorRequest): Buffer {
  const buf = Buffer.alloc(ITERATOR_REQUEST_SIZE + r.ranges.length * ITERATOR_RANGE_SIZE + r.groups.length * 4);
  buf.writeBigUInt64LE(r.id, 0);
  buf.writeUInt32LE(r.action >>> 0, 8);
  buf.writeBigUInt64LE(BigInt(r.ranges.length), 12);
  if (r.rawTimes) r.rawTimes.copy(buf, 20, 0, 32);
  else {
    encodeTime(r.timeBegin, buf, 20);
    encodeTime(r.timeEnd, buf, 36);
  }
  buf.writeUInt32LE(r.itype >>> 0, 52);
  buf.writeBigUInt64LE(r.flags, 56);
  buf.writeUInt32LE(r.groups.length, 64);
  buf.writeUInt32LE(r.timeout >>> 0, 68);
  let at = ITERATOR_REQUEST_SIZE;
  for (const range of r.ranges) {
    range.begin.copy(buf, at, 0, ID_SIZE);
    range.end.copy(buf, at + ID_SIZE, 0, ID_SIZE);
    at += ITERATOR_RANGE_SIZE;
  }
  for (const g of r.groups) {
    buf.writeUInt32LE(g >>> 0, at);
    at += 4;
  }
  return buf;
}

/**
 * Decodes a request and checks it as a real node does (spec §6.8b): a payload whose size is not
 * 104 + ranges + groups, or an unknown action → -EINVAL. The semantic checks that need the action
 * (type, flags, ranges) are `validateIteratorStart`'s.
 */
export function decodeIteratorRequest(buf: Buffer): IteratorRequest {
  requireBytes(buf, 0, ITERATOR_REQUEST_SIZE, 'dnet_iterator_request');
  const rangeNum = readBigU64(buf, 12);
  const groupNum = buf.readUInt32LE(64);
  const expected = BigInt(ITERATOR_REQUEST_SIZE) + rangeNum * BigInt(ITERATOR_RANGE_SIZE) + BigInt(groupNum) * 4n;
  if (expected !== BigInt(buf.length)) {
    throw new ProtocolError(`ITERATOR request of ${buf.length} bytes, but ${rangeNum} ranges and ${groupNum} groups make ${expected}`, Errno.EINVAL);
  }
  const action = buf.readUInt32LE(8);
  if (action < IteratorAction.START || action > IteratorAction.CANCEL) throw new ProtocolError(`ITERATOR action ${action} is not start, pause, continue or cancel`, Errno.EINVAL);
  const ranges: KeyRange[] = [];
  let at = ITERATOR_REQUEST_SIZE;
  for (let i = 0n; i < rangeNum; i++, at += ITERATOR_RANGE_SIZE) {
    ranges.push({ begin: Buffer.from(buf.subarray(at, at + ID_SIZE)), end: Buffer.from(buf.subarray(at + ID_SIZE, at + ITERATOR_RANGE_SIZE)) });
  }
  const groups: number[] = [];
  for (let i = 0; i < groupNum; i++, at += 4) groups.push(buf.readUInt32LE(at));
  const times = lenientTimes(buf.subarray(20, 52));
  return {
    id: buf.readBigUInt64LE(0),
    action,
    ranges,
    timeBegin: times.begin,
    timeEnd: times.end,
    ...(times.raw ? { rawTimes: times.raw } : {}),
    itype: buf.readUInt32LE(52),
    flags: buf.readBigUInt64LE(56),
    groups,
    timeout: buf.readUInt32LE(68),
  };
}

/** Times that fit a JS number are read; garbage (what the C client leaves without TS_RANGE) is kept raw. */
function lenientTimes(b: Buffer): { begin: DnetTime; end: DnetTime; raw?: Buffer } {
  const words = [0, 8, 16, 24].map((o) => b.readBigUInt64LE(o));
  const fits = words.every((w) => w <= BigInt(Number.MAX_SAFE_INTEGER));
  const begin = { sec: fits ? Number(words[0]) : 0, nsec: fits ? Number(words[1]) : 0 };
  const end = { sec: fits ? Number(words[2]) : 0, nsec: fits ? Number(words[3]) : 0 };
  return fits ? { begin, end } : { begin, end, raw: Buffer.from(b) };
}

/**
 * The checks of a START (spec §6.8b), in the order a real node makes them: the type (DISK and
 * unknown ones → -ENOTSUP; SERVER_SEND without groups → -EINVAL), unknown flags → -ENOTSUP (`known`:
 * the bits this node accepts), a range with begin > end or a time range with begin > end → -ERANGE.
 */
export function validateIteratorStart(r: IteratorRequest, known: bigint): void {
  if (r.itype === IteratorType.SERVER_SEND && r.groups.length === 0) throw new ProtocolError('ITERATOR SERVER_SEND names no group to send to', Errno.EINVAL);
  if (r.itype !== IteratorType.NETWORK && r.itype !== IteratorType.SERVER_SEND) throw new ProtocolError(`ITERATOR type ${r.itype} is not supported`, Errno.ENOTSUP);
  if (r.flags & ~known) throw new ProtocolError(`ITERATOR flags 0x${(r.flags & ~known).toString(16)} are not supported`, Errno.ENOTSUP);
  for (const range of r.ranges) {
    if (Buffer.compare(range.begin, range.end) > 0) throw new ProtocolError('ITERATOR key range begins after it ends', Errno.ERANGE);
  }
  if (r.flags & IteratorFlags.TS_RANGE) {
    const b = r.timeBegin;
    const e = r.timeEnd;
    if (b.sec > e.sec || (b.sec === e.sec && b.nsec > e.nsec)) throw new ProtocolError('ITERATOR time range begins after it ends', Errno.ERANGE);
  }
}

/** Ranges that bound anything: all-zero ones are ignored, as a real node ignores them. */
export function effectiveRanges(ranges: readonly KeyRange[]): KeyRange[] {
  return ranges.filter((r) => r.begin.some((b) => b !== 0) || r.end.some((b) => b !== 0));
}

export interface IteratorResponse {
  id: bigint;
  key: Buffer;
  /** 0, or ITERATOR_KEEPALIVE. */
  status: number;
  timestamp: DnetTime;
  userFlags: bigint;
  size: number;
  iterated: number;
  total: number;
  /** Record flags (§6.6): EXTHDR, CHUNKED_CSUM, UNCOMMITTED; ours: REMOVE for a remembered removal. */
  recordFlags: number;
}

export function encodeIteratorResponse(r: IteratorResponse, buf: Buffer = Buffer.alloc(ITERATOR_RESPONSE_SIZE), at = 0): Buffer {
  buf.fill(0, at, at + ITERATOR_RESPONSE_SIZE);
  buf.writeBigUInt64LE(r.id, at);
  r.key.copy(buf, at + 8, 0, ID_SIZE);
  buf.writeInt32LE(r.status, at + 72);
  encodeTime(r.timestamp, buf, at + 76);
  buf.writeBigUInt64LE(r.userFlags, at + 92);
  buf.writeBigUInt64LE(BigInt(r.size), at + 100);
  buf.writeBigUInt64LE(BigInt(r.iterated), at + 108);
  buf.writeBigUInt64LE(BigInt(r.total), at + 116);
  buf.writeBigUInt64LE(BigInt(r.recordFlags), at + 124);
  return buf;
}

export function decodeIteratorResponse(buf: Buffer, at = 0): IteratorResponse {
  requireBytes(buf, at, ITERATOR_RESPONSE_SIZE, 'dnet_iterator_response');
  const num = (o: number): number => Number(buf.readBigUInt64LE(at + o));
  return {
    id: buf.readBigUInt64LE(at),
    key: Buffer.from(buf.subarray(at + 8, at + 72)),
    status: buf.readInt32LE(at + 72),
    timestamp: { sec: num(76), nsec: num(84) },
    userFlags: buf.readBigUInt64LE(at + 92),
    size: num(100),
    iterated: num(108),
    total: num(116),
    recordFlags: num(124),
  };
}
