// `dnet_io_attr` (208 bytes, packed): the payload prefix of WRITE, READ, DEL and BULK_READ (spec §6.1).
//
//   0 parent[64]  64 id[64]  128 start u64  136 num u64  144 timestamp dnet_time  160 user_flags u64
//   168 total_size u64  176 record_flags u64  184 reserved2 u32  188 flags u32  192 offset u64  200 size u64

import { ID_SIZE, IO_ATTR_SIZE } from './constants.js';
import { readBigU64, readU64, requireBytes, writeBigU64, writeU64 } from './codec-error.js';
import { type DnetTime, decodeTime, encodeTime, EMPTY_TIME } from './time.js';

export interface IoAttr {
  parent: Buffer;
  id: Buffer;
  start: number;
  num: number;
  timestamp: DnetTime;
  /** Opaque user flags, stored with the record. */
  userFlags: bigint;
  totalSize: number;
  recordFlags: number;
  reserved2: number;
  /** I/O flags (`IoFlags`). */
  flags: number;
  offset: number;
  size: number;
}

const ZERO_ID = Buffer.alloc(ID_SIZE);

export function makeIoAttr(fields: Partial<IoAttr> = {}): IoAttr {
  return {
    parent: fields.parent ?? ZERO_ID,
    id: fields.id ?? ZERO_ID,
    start: fields.start ?? 0,
    num: fields.num ?? 0,
    timestamp: fields.timestamp ?? EMPTY_TIME,
    userFlags: fields.userFlags ?? 0n,
    totalSize: fields.totalSize ?? 0,
    recordFlags: fields.recordFlags ?? 0,
    reserved2: fields.reserved2 ?? 0,
    flags: fields.flags ?? 0,
    offset: fields.offset ?? 0,
    size: fields.size ?? 0,
  };
}

/** Decodes an io_attr; `parent` and `id` are views into `buf`. */
export function decodeIoAttr(buf: Buffer, offset = 0): IoAttr {
  requireBytes(buf, offset, IO_ATTR_SIZE, 'dnet_io_attr');
  return {
    parent: buf.subarray(offset, offset + 64),
    id: buf.subarray(offset + 64, offset + 128),
    start: readU64(buf, offset + 128, 'io_attr.start'),
    num: readU64(buf, offset + 136, 'io_attr.num'),
    timestamp: decodeTime(buf, offset + 144),
    userFlags: readBigU64(buf, offset + 160),
    totalSize: readU64(buf, offset + 168, 'io_attr.total_size'),
    recordFlags: readU64(buf, offset + 176, 'io_attr.record_flags'),
    reserved2: buf.readUInt32LE(offset + 184),
    flags: buf.readUInt32LE(offset + 188),
    offset: readU64(buf, offset + 192, 'io_attr.offset'),
    size: readU64(buf, offset + 200, 'io_attr.size'),
  };
}

export function encodeIoAttr(io: IoAttr, buf: Buffer = Buffer.allocUnsafe(IO_ATTR_SIZE), offset = 0): Buffer {
  copyId(io.parent, buf, offset);
  copyId(io.id, buf, offset + 64);
  writeU64(buf, offset + 128, io.start);
  writeU64(buf, offset + 136, io.num);
  encodeTime(io.timestamp, buf, offset + 144);
  writeBigU64(buf, offset + 160, io.userFlags);
  writeU64(buf, offset + 168, io.totalSize);
  writeU64(buf, offset + 176, io.recordFlags);
  buf.writeUInt32LE(io.reserved2 >>> 0, offset + 184);
  buf.writeUInt32LE(io.flags >>> 0, offset + 188);
  writeU64(buf, offset + 192, io.offset);
  writeU64(buf, offset + 200, io.size);
  return buf;
}

function copyId(id: Buffer, buf: Buffer, offset: number): void {
  if (id.length !== ID_SIZE) buf.fill(0, offset, offset + ID_SIZE);
  id.copy(buf, offset, 0, Math.min(ID_SIZE, id.length));
}
