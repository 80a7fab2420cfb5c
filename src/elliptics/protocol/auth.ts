// `dnet_auth` (64 bytes): the server-to-server cookie check that follows JOIN (spec §5.5).
//   0 cookie char[32] (NUL-padded)  32 flags u64  40 unused u64[3]

import { AUTH_SIZE } from './constants.js';
import { ProtocolError } from './codec-error.js';

export interface Auth {
  /** The raw 32 cookie bytes; compared in full by the receiver. */
  cookie: Buffer;
  flags: bigint;
}

export function encodeAuth(cookie: string, flags = 0n): Buffer {
  const buf = Buffer.alloc(AUTH_SIZE);
  Buffer.from(cookie).copy(buf, 0, 0, 31);
  buf.writeBigUInt64LE(flags, 32);
  return buf;
}

export function decodeAuth(buf: Buffer): Auth {
  if (buf.length !== AUTH_SIZE) throw new ProtocolError(`dnet_auth must be ${AUTH_SIZE} bytes, got ${buf.length}`);
  return { cookie: Buffer.from(buf.subarray(0, 32)), flags: buf.readBigUInt64LE(32) };
}
