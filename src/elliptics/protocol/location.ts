// The answer of our node to a READ with FlagsHigh.LOCATE, after the io_attr: where the window lies
// on the node's disk, and the record header as it is there, so that a reader on the same host takes
// the bytes from the file itself and can tell it is reading the very record the node checked:
//
//   0 record_offset u64 (the record header's offset in the file)   8 header_size u32
//   12 header[header_size] (the bytes on disk)   then the file's path (UTF-8, to the end)
//
// The window's first byte is at record_offset + header_size + io_attr.offset.

import { ProtocolError, requireBytes } from './codec-error.js';

export interface Location {
  path: string;
  /** Offset of the record's header in the file. */
  recordOffset: number;
  /** The record's header as it lies on disk; the data follows it. */
  header: Buffer;
}

export function encodeLocation(l: Location): Buffer {
  const path = Buffer.from(l.path);
  const out = Buffer.allocUnsafe(12 + l.header.length + path.length);
  out.writeBigUInt64LE(BigInt(l.recordOffset), 0);
  out.writeUInt32LE(l.header.length, 8);
  l.header.copy(out, 12);
  path.copy(out, 12 + l.header.length);
  return out;
}

export function decodeLocation(buf: Buffer): Location {
  requireBytes(buf, 0, 12, 'location');
  const recordOffset = Number(buf.readBigUInt64LE(0));
  const headerSize = buf.readUInt32LE(8);
  if (!Number.isSafeInteger(recordOffset) || headerSize === 0 || headerSize > 4096) throw new ProtocolError(`location: record offset ${recordOffset}, header of ${headerSize} bytes`);
  requireBytes(buf, 12, headerSize + 1, 'location');
  return { recordOffset, header: buf.subarray(12, 12 + headerSize), path: buf.toString('utf8', 12 + headerSize) };
}
