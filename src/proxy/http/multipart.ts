// multipart/byteranges bodies for multi-range /get/ replies, framed as Go's mime/multipart writer
// frames them, with the exact Content-Length computed up front.

import { randomBytes } from 'node:crypto';
import type { ByteRange } from './ranges.js';

export interface MultipartPlan {
  boundary: string;
  contentType: string;
  /** The bytes before each range's data. */
  prefixes: Buffer[];
  closing: Buffer;
  length: number;
}

export function planMultipart(ranges: readonly ByteRange[], size: number, partType: string): MultipartPlan {
  const boundary = randomBytes(30).toString('hex');
  const prefixes = ranges.map((r, i) =>
    Buffer.from(`${i === 0 ? '' : '\r\n'}--${boundary}\r\nContent-Range: bytes ${r.start}-${r.start + r.length - 1}/${size}\r\nContent-Type: ${partType}\r\n\r\n`),
  );
  const closing = Buffer.from(`\r\n--${boundary}--\r\n`);
  let length = closing.length;
  ranges.forEach((r, i) => (length += prefixes[i]!.length + r.length));
  return { boundary, contentType: `multipart/byteranges; boundary=${boundary}`, prefixes, closing, length };
}
