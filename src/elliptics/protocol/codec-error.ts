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

/** Writes a non-negative safe integer as a little-endian u64. */
export function writeU64(buf: Buffer, offset: number, value: number): void {
  buf.writeUInt32LE(value % TWO_32 >>> 0, offset);
  buf.writeUInt32LE(Math.floor(value / TWO_32) >>> 0, offset + 4);
}
