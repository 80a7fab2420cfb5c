// On-disk record of a blob file.
//
// A record starts at a 128-byte aligned offset, so its header never straddles a page: rewriting a
// header in place (commit, remove) is one page write that a killed process cannot tear.
//
//   header (128 bytes)                          data (capacity bytes)       footer (only once committed)
//   0   magic u32 "BRR1"                                                     0  magic u32 "BRF1"
//   4   header crc32 of bytes 8..127                                         4  crc32 of bytes 8..end of footer
//   8   id[64]                                                               8  size u64 (= header size)
//   72  flags u32 (RecordFlag)                                               16 crc32 of each 64 KiB data chunk
//   76  reserved u32
//   80  capacity u64   bytes reserved for data
//   88  size u64       object size (≤ capacity)
//   96  timestamp dnet_time (tsec u64, tnsec u64)
//   112 user flags u64
//   120 seq u64        per-backend sequence: the highest one of a key wins when the index is rebuilt
//
// Why CRC32 per 64 KiB chunk and not one SHA-512 footer: a READ of any range verifies exactly the
// chunks it touches (eblob does the same with MurmurHash per 1 MiB), and CRC32 runs ~6x faster than
// SHA-512 here. A torn write is detected by its footer: a record's bytes are written front to back,
// so a valid footer proves the data in front of it arrived. SHA-512 is computed when a client asks
// for it (LOOKUP / READ with a CHECKSUM flag).

import { crc32 } from 'node:zlib';
import { ID_SIZE } from '../../elliptics/protocol/constants.js';

export const RECORD_ALIGN = 128;
export const RECORD_HEADER_SIZE = 128;
export const FOOTER_FIXED_SIZE = 16;
export const CHUNK_SIZE = 64 * 1024;

const HEADER_MAGIC = 0x3152_5242; // "BRR1" little-endian
const FOOTER_MAGIC = 0x3146_5242; // "BRF1"

export const RecordFlag = {
  /** Superseded or deleted; the space is dead. */
  REMOVED: 0x1,
  /** Prepared but not committed: invisible to LOOKUP and READ. */
  UNCOMMITTED: 0x2,
  /** A delete marker: shadows older records of the key when the index is rebuilt. */
  TOMBSTONE: 0x4,
  /** Written with NOCSUM: no chunk checksums, nothing verified on read. */
  NOCSUM: 0x8,
} as const;

/** A record with none of these flags is the key's live version (when the index points at it). */
const DEAD = RecordFlag.REMOVED | RecordFlag.TOMBSTONE | RecordFlag.UNCOMMITTED;

export function isLive(h: { flags: number }): boolean {
  return (h.flags & DEAD) === 0;
}

export interface RecordHeader {
  id: Buffer;
  flags: number;
  capacity: number;
  size: number;
  tsec: number;
  tnsec: number;
  userFlags: bigint;
  seq: number;
}

export function alignUp(n: number, to = RECORD_ALIGN): number {
  return Math.ceil(n / to) * to;
}

export function chunkCount(size: number): number {
  return Math.ceil(size / CHUNK_SIZE);
}

/** Footer bytes for `capacity` bytes of data; an empty record needs none (nothing can be torn). */
export function footerSize(capacity: number): number {
  return capacity === 0 ? 0 : FOOTER_FIXED_SIZE + 4 * chunkCount(capacity);
}

/** Total bytes a record with this capacity occupies in its blob, alignment included. */
export function recordSpan(capacity: number): number {
  return alignUp(RECORD_HEADER_SIZE + capacity + footerSize(capacity));
}

export function encodeRecordHeader(h: RecordHeader, buf: Buffer = Buffer.alloc(RECORD_HEADER_SIZE), at = 0): Buffer {
  buf.writeUInt32LE(HEADER_MAGIC, at);
  h.id.copy(buf, at + 8, 0, ID_SIZE);
  buf.writeUInt32LE(h.flags >>> 0, at + 72);
  buf.writeUInt32LE(0, at + 76);
  writeHeaderNumbers(buf, at, h);
  buf.writeUInt32LE(crc32(buf.subarray(at + 8, at + RECORD_HEADER_SIZE)), at + 4);
  return buf;
}

/**
 * The header's numbers at their offsets 80..128 from `at` (capacity, size, timestamp, user flags,
 * sequence number): the record header and the index snapshot entry share this layout.
 */
export function writeHeaderNumbers(buf: Buffer, at: number, h: RecordHeader): void {
  writeNum(buf, at + 80, h.capacity);
  writeNum(buf, at + 88, h.size);
  writeNum(buf, at + 96, h.tsec);
  writeNum(buf, at + 104, h.tnsec);
  buf.writeBigUInt64LE(h.userFlags, at + 112);
  writeNum(buf, at + 120, h.seq);
}

export function readHeaderNumbers(buf: Buffer, at: number, id: Buffer, flags: number): RecordHeader {
  return {
    id,
    flags,
    capacity: readNum(buf, at + 80),
    size: readNum(buf, at + 88),
    tsec: readNum(buf, at + 96),
    tnsec: readNum(buf, at + 104),
    userFlags: buf.readBigUInt64LE(at + 112),
    seq: readNum(buf, at + 120),
  };
}

/** Decodes a header; undefined when the magic or the checksum does not match (not a record start). */
export function decodeRecordHeader(buf: Buffer, at = 0): RecordHeader | undefined {
  if (buf.length - at < RECORD_HEADER_SIZE || buf.readUInt32LE(at) !== HEADER_MAGIC) return undefined;
  if (crc32(buf.subarray(at + 8, at + RECORD_HEADER_SIZE)) !== buf.readUInt32LE(at + 4)) return undefined;
  const h = readHeaderNumbers(buf, at, Buffer.from(buf.subarray(at + 8, at + 72)), buf.readUInt32LE(at + 72));
  if (h.size > h.capacity || !Number.isSafeInteger(h.capacity)) return undefined;
  return h;
}

/** Footer for committed data: the object size and one CRC32 per chunk. */
export function encodeFooter(size: number, crcs: Uint32Array): Buffer {
  const buf = Buffer.alloc(FOOTER_FIXED_SIZE + 4 * crcs.length);
  buf.writeUInt32LE(FOOTER_MAGIC, 0);
  writeNum(buf, 8, size);
  for (let i = 0; i < crcs.length; i++) buf.writeUInt32LE(crcs[i]!, FOOTER_FIXED_SIZE + 4 * i);
  buf.writeUInt32LE(crc32(buf.subarray(8)), 4);
  return buf;
}

/** Decodes a footer for an object of `size` bytes; undefined when it is missing or torn. */
export function decodeFooter(buf: Buffer, size: number): Uint32Array | undefined {
  if (size === 0) return new Uint32Array(0);
  const n = chunkCount(size);
  if (buf.length < FOOTER_FIXED_SIZE + 4 * n || buf.readUInt32LE(0) !== FOOTER_MAGIC) return undefined;
  if (readNum(buf, 8) !== size) return undefined;
  if (crc32(buf.subarray(8, FOOTER_FIXED_SIZE + 4 * n)) !== buf.readUInt32LE(4)) return undefined;
  const crcs = new Uint32Array(n);
  for (let i = 0; i < n; i++) crcs[i] = buf.readUInt32LE(FOOTER_FIXED_SIZE + 4 * i);
  return crcs;
}

/** CRC32 of each 64 KiB chunk of `data` (which starts on a chunk boundary). */
export function chunkCrcs(data: Buffer): Uint32Array {
  const out = new Uint32Array(chunkCount(data.length));
  for (let i = 0; i < out.length; i++) out[i] = crc32(data.subarray(i * CHUNK_SIZE, (i + 1) * CHUNK_SIZE));
  return out;
}

/** A non-negative safe integer as u64 little-endian (without BigInt). */
export function writeNum(buf: Buffer, at: number, v: number): void {
  buf.writeUInt32LE(v % 0x1_0000_0000 >>> 0, at);
  buf.writeUInt32LE(Math.floor(v / 0x1_0000_0000) >>> 0, at + 4);
}

export function readNum(buf: Buffer, at: number): number {
  return buf.readUInt32LE(at) + buf.readUInt32LE(at + 4) * 0x1_0000_0000;
}
