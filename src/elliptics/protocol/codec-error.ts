import { Errno } from './constants.js';

/**
 * A wire structure that cannot be decoded. `status` is the negative errno a real node answers
 * with for such input (usually -EINVAL; -EPROTO for handshake data).
 */
export class ProtocolError extends Error {
  readonly status: number;
  constructor(message: string, status: number = Errno.EINVAL) {
    super(message);
    this.name = 'ProtocolError';
    this.status = status;
  }
}

/** Throws unless `buf` holds at least `need` bytes from `offset`. */
export function requireBytes(buf: Buffer, offset: number, need: number, what: string): void {
  if (offset < 0 || buf.length - offset < need) {
    throw new ProtocolError(`${what}: need ${need} bytes at offset ${offset}, have ${Math.max(0, buf.length - offset)}`);
  }
}

const TWO_32 = 0x1_0000_0000;

/**
 * Reads a little-endian u64 as a JS number. Sizes, offsets and counts on the wire are u64, but no
 * object or file comes near 2^53; a larger value is refused rather than silently rounded.
 */
export function readU64(buf: Buffer, offset: number, what: string): number {
  const lo = buf.readUInt32LE(offset);
  const hi = buf.readUInt32LE(offset + 4);
  if (hi > 0x1f_ffff) throw new ProtocolError(`${what}: value above 2^53-1`);
  return hi * TWO_32 + lo;
}

/**
 * A little-endian u64 as a bigint. Most such fields are 0 on the wire (reserved words, user flags):
 * those cost no allocation (Buffer's readBigUInt64LE builds intermediate bigints every time).
 */
export function readBigU64(buf: Buffer, offset: number): bigint {
  const lo = buf.readUInt32LE(offset);
  const hi = buf.readUInt32LE(offset + 4);
  if (hi === 0) return lo === 0 ? 0n : BigInt(lo);
  return buf.readBigUInt64LE(offset);
}

/** Writes a bigint as a little-endian u64; 0 and values below 2^32 (transaction ids) without bigint arithmetic. */
export function writeBigU64(buf: Buffer, offset: number, value: bigint): void {
  if (value >= 0n && value <= 0xffff_ffffn) {
    buf.writeUInt32LE(Number(value), offset);
    buf.writeUInt32LE(0, offset + 4);
  } else buf.writeBigUInt64LE(BigInt.asUintN(64, value), offset);
}

/** Writes a non-negative safe integer as a little-endian u64. */
export function writeU64(buf: Buffer, offset: number, value: number): void {
  buf.writeUInt32LE(value % TWO_32 >>> 0, offset);
  buf.writeUInt32LE(Math.floor(value / TWO_32) >>> 0, offset + 4);
}
