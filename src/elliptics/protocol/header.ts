// `dnet_cmd`: the 120-byte header in front of every message (spec §2).
//
//   0  id[64]   64  group u32   68  reserved u64   76  status i32   80  cmd i32   84  backend_id i32
//   88 trace_id u64   96 flags u64   104 trans u64   112 size u64

import { CommandFlags, HEADER_SIZE, ID_SIZE, type ProtocolVersion } from './constants.js';
import { readBigU64, requireBytes, writeBigU64 } from './codec-error.js';

export interface Header {
  /** Key id (64 bytes). In REVERSE_LOOKUP the first 16 bytes carry the protocol version. */
  id: Buffer;
  /** Group the command addresses; 0 for node-level commands. */
  group: number;
  /** `id.reserved`: always 0 since 2.26.1 (a trace id in 2.26.0). Kept for exact re-encoding. */
  reserved: bigint;
  /** 0 or a negative errno. */
  status: number;
  cmd: number;
  backendId: number;
  traceId: bigint;
  /** Command flags, bits 0–31. */
  flags: number;
  /** Command flags, bits 32–63 (command-specific). */
  flagsHigh: number;
  trans: bigint;
  /** Payload bytes that follow the header. Above 2^53 the value is approximate (and refused by framing). */
  size: number;
}

const ZERO_ID = Buffer.alloc(ID_SIZE);
/** v2.26.0–2.26.1 marked replies with the top bit of `trans` instead of the REPLY flag. */
export const LEGACY_REPLY_TRANS_BIT = 1n << 63n;

export function makeHeader(fields: Partial<Header> & { cmd: number }): Header {
  return {
    id: fields.id ?? ZERO_ID,
    group: fields.group ?? 0,
    reserved: fields.reserved ?? 0n,
    status: fields.status ?? 0,
    cmd: fields.cmd,
    backendId: fields.backendId ?? 0,
    traceId: fields.traceId ?? 0n,
    flags: fields.flags ?? 0,
    flagsHigh: fields.flagsHigh ?? 0,
    trans: fields.trans ?? 0n,
    size: fields.size ?? 0,
  };
}

/** Decodes a header. `id` is a view into `buf`: copy it if `buf` is reused. */
export function decodeHeader(buf: Buffer, offset = 0): Header {
  requireBytes(buf, offset, HEADER_SIZE, 'dnet_cmd');
  return {
    id: buf.subarray(offset, offset + ID_SIZE),
    group: buf.readUInt32LE(offset + 64),
    reserved: readBigU64(buf, offset + 68),
    status: buf.readInt32LE(offset + 76),
    cmd: buf.readInt32LE(offset + 80),
    backendId: buf.readInt32LE(offset + 84),
    traceId: readBigU64(buf, offset + 88),
    flags: buf.readUInt32LE(offset + 96),
    flagsHigh: buf.readUInt32LE(offset + 100),
    trans: readBigU64(buf, offset + 104),
    size: buf.readUInt32LE(offset + 112) + buf.readUInt32LE(offset + 116) * 0x1_0000_0000,
  };
}

/** Encodes `h` into `buf` at `offset` (a new 120-byte buffer when omitted). */
export function encodeHeader(h: Header, buf: Buffer = Buffer.allocUnsafe(HEADER_SIZE), offset = 0): Buffer {
  if (h.id.length === ID_SIZE) h.id.copy(buf, offset);
  else {
    buf.fill(0, offset, offset + ID_SIZE);
    h.id.copy(buf, offset, 0, Math.min(ID_SIZE, h.id.length));
  }
  buf.writeUInt32LE(h.group >>> 0, offset + 64);
  writeBigU64(buf, offset + 68, h.reserved);
  buf.writeInt32LE(h.status | 0, offset + 76);
  buf.writeInt32LE(h.cmd | 0, offset + 80);
  buf.writeInt32LE(h.backendId | 0, offset + 84);
  writeBigU64(buf, offset + 88, h.traceId);
  buf.writeUInt32LE(h.flags >>> 0, offset + 96);
  buf.writeUInt32LE(h.flagsHigh >>> 0, offset + 100);
  writeBigU64(buf, offset + 104, h.trans);
  buf.writeUInt32LE(h.size % 0x1_0000_0000 >>> 0, offset + 112);
  buf.writeUInt32LE(Math.floor(h.size / 0x1_0000_0000) >>> 0, offset + 116);
  return buf;
}

/** A packet is a reply when it has REPLY, or (pre-2.26.2 peers) the top bit of `trans`. */
export function isReply(h: Header): boolean {
  return (h.flags & CommandFlags.REPLY) !== 0 || h.trans >= LEGACY_REPLY_TRANS_BIT; // compared, not masked: no bigint made
}

/** The transaction a reply belongs to, with the legacy top bit stripped. */
export function replyTrans(h: Header): bigint {
  return h.trans >= LEGACY_REPLY_TRANS_BIT ? h.trans - LEGACY_REPLY_TRANS_BIT : h.trans;
}

export interface ReplyOptions {
  status?: number;
  size?: number;
  /** Set (true) or clear (false) MORE on top of the flags. */
  more?: boolean;
  backendId?: number;
  /** The group the reply speaks for (a WRITE with FlagsHigh.ALSO_GROUPS answers for several). */
  group?: number;
  /** Replace the flags entirely (REVERSE_LOOKUP / ROUTE_LIST answer with exactly NOLOCK|REPLY). */
  flags?: number;
  id?: Buffer;
}

/**
 * A reply header the way a real node builds it: a copy of the request with NEED_ACK cleared,
 * REPLY set, MORE only when more packets follow (spec §2.3).
 */
export function replyHeader(req: Header, opts: ReplyOptions = {}): Header {
  let flags = opts.flags ?? ((req.flags & ~(CommandFlags.NEED_ACK | CommandFlags.MORE)) | CommandFlags.REPLY);
  if (opts.more === true) flags |= CommandFlags.MORE;
  else if (opts.more === false) flags &= ~CommandFlags.MORE;
  return {
    id: opts.id ?? req.id,
    group: opts.group ?? req.group,
    reserved: req.reserved,
    status: opts.status ?? 0,
    cmd: req.cmd,
    backendId: opts.backendId ?? req.backendId,
    traceId: req.traceId,
    flags: flags >>> 0,
    flagsHigh: req.flagsHigh,
    trans: req.trans,
    size: opts.size ?? 0,
  };
}

/** Writes the four i32 of a protocol version into the first 16 bytes of an id. */
export function encodeVersion(v: ProtocolVersion, id: Buffer = Buffer.alloc(ID_SIZE)): Buffer {
  for (let i = 0; i < 4; i++) id.writeInt32LE(v[i] ?? 0, i * 4);
  return id;
}

export function decodeVersion(id: Buffer): ProtocolVersion {
  return [id.readInt32LE(0), id.readInt32LE(4), id.readInt32LE(8), id.readInt32LE(12)];
}

export function formatVersion(v: ProtocolVersion): string {
  return v.join('.');
}

/** Parses "2.26", "3.0" or a full "2.26.11.1"; missing parts default to the known releases. */
export function parseVersion(text: string): ProtocolVersion | undefined {
  const parts = text.trim().split('.');
  if (parts.length < 2 || parts.length > 4 || parts.some((p) => !/^\d{1,9}$/.test(p))) return undefined;
  const n = parts.map(Number);
  const major = n[0]!;
  const minor = n[1]!;
  const defaults = major === 2 && minor === 26 ? [11, 1] : [0, 1];
  return [major, minor, n[2] ?? defaults[0]!, n[3] ?? defaults[1]!];
}
