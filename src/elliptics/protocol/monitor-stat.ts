// MONITOR_STAT request (`dnet_monitor_stat_request`, exactly 44 bytes) and its zlib-wrapped JSON
// reply (spec §7.1).

import { inflateSync, deflateSync } from 'node:zlib';
import { MONITOR_STAT_REQUEST_SIZE } from './constants.js';
import { ProtocolError } from './codec-error.js';

/** Categories are a u64 bitmask; "all" is sent as all ones. Held as bigint to keep every bit. */
export function encodeMonitorStatRequest(categories: bigint): Buffer {
  const buf = Buffer.alloc(MONITOR_STAT_REQUEST_SIZE);
  buf.writeBigUInt64LE(BigInt.asUintN(64, categories), 0);
  return buf;
}

export function decodeMonitorStatRequest(buf: Buffer): bigint {
  if (buf.length !== MONITOR_STAT_REQUEST_SIZE) {
    throw new ProtocolError(`dnet_monitor_stat_request must be ${MONITOR_STAT_REQUEST_SIZE} bytes, got ${buf.length}`);
  }
  return buf.readBigUInt64LE(0);
}

/** The reply carries an RFC 1950 zlib stream (not raw deflate, not gzip). */
export function encodeMonitorStatReply(json: string): Buffer {
  return deflateSync(json);
}

export function decodeMonitorStatReply(payload: Buffer): unknown {
  let text: string;
  try {
    text = inflateSync(payload).toString('utf8');
  } catch (err) {
    throw new ProtocolError(`MONITOR_STAT reply is not a zlib stream: ${(err as Error).message}`);
  }
  try {
    return JSON.parse(text);
  } catch (err) {
    throw new ProtocolError(`MONITOR_STAT reply is not JSON: ${(err as Error).message}`);
  }
}
