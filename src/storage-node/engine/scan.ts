// Start-up scan of one blob file: every record header is checked, committed records must carry a
// valid footer, and the file is cut back after the last intact record (a torn tail from a killed
// process). Damaged records in the middle are skipped by searching for the next aligned header.

import { crc32 } from 'node:zlib';
import { fileSize } from './file-io.js';
import type { BlobFile } from './blob-file.js';
import {
  CHUNK_SIZE, decodeFooter, decodeRecordHeader, footerSize, RECORD_ALIGN, RECORD_HEADER_SIZE, RecordFlag, recordSpan,
  type RecordHeader,
} from './record.js';

export interface ScannedRecord {
  offset: number;
  header: RecordHeader;
  /** Chunk CRCs of a committed record written with checksums. */
  crcs: Uint32Array | undefined;
  /** False for a committed record whose footer is missing (torn) — its space is dead. */
  intact: boolean;
}

export interface ScanResult {
  records: ScannedRecord[];
  /** Where the next record may go: just after the last intact record. */
  end: number;
  /** Bytes beyond `end` that were cut off. */
  tornTail: number;
  /** Regions in the middle of the file that held no valid record header. */
  damagedRegions: number;
}

const WINDOW = 4 * 1024 * 1024;
/** After a large record the next header is read with a small window: the data in between is not read. */
const SMALL_WINDOW = 64 * 1024;
const LARGE_RECORD = 256 * 1024;

/** Reads the file through a sliding window so runs of small records cost one syscall per 4 MiB. */
class WindowReader {
  private buf = Buffer.alloc(0);
  private start = 0;

  constructor(
    private readonly blob: BlobFile,
    private readonly size: number,
  ) {}

  async get(offset: number, length: number, window = WINDOW): Promise<Buffer> {
    if (offset >= this.start && offset + length <= this.start + this.buf.length) {
      return this.buf.subarray(offset - this.start, offset - this.start + length);
    }
    const want = Math.min(Math.max(length, window), this.size - offset);
    const buf = Buffer.allocUnsafe(Math.max(want, 0));
    const got = await this.blob.read(buf, 0, buf.length, offset);
    this.buf = buf.subarray(0, got);
    this.start = offset;
    return this.buf.subarray(0, Math.min(length, got));
  }
}

/**
 * `verifyTail`: committed records starting in this many final bytes also get their data checked
 * against the chunk CRCs (after an unclean shutdown, when writeback may have been reordered).
 * `from`: where to start (a record boundary; an index snapshot covers what lies before it).
 */
export async function scanBlob(blob: BlobFile, verifyTail = 0, from = 0): Promise<ScanResult> {
  const size = await fileSize(blob.fd);
  const reader = new WindowReader(blob, size);
  const records: ScannedRecord[] = [];
  let pos = from;
  let end = from;
  let damagedRegions = 0;

  let window = WINDOW;
  while (pos + RECORD_HEADER_SIZE <= size) {
    const header = decodeRecordHeader(await reader.get(pos, RECORD_HEADER_SIZE, window));
    if (!header) {
      const next = await findNextHeader(reader, pos + RECORD_ALIGN, size);
      if (next === undefined) break;
      damagedRegions++;
      pos = next;
      continue;
    }
    const span = recordSpan(header.capacity);
    window = span >= LARGE_RECORD ? SMALL_WINDOW : WINDOW;
    const record = await examine(reader, pos, header, size, pos >= size - verifyTail, window);
    records.push(record);
    pos += span;
    // A torn committed record at the very end is cut off; a prepared one keeps its reserved span.
    if (record.intact) end = pos;
  }
  return { records, end, tornTail: Math.max(0, size - end), damagedRegions };
}

/** The record at `offset` as the scan would see it; undefined when no valid header is there. */
export async function readRecordAt(blob: BlobFile, offset: number): Promise<ScannedRecord | undefined> {
  const size = await fileSize(blob.fd);
  const reader = new WindowReader(blob, size);
  const header = decodeRecordHeader(await reader.get(offset, RECORD_HEADER_SIZE, SMALL_WINDOW));
  return header && examine(reader, offset, header, size, false, SMALL_WINDOW);
}

/** A committed record is intact when its footer is (and, with `verify`, its data matches the CRCs). */
async function examine(reader: WindowReader, pos: number, header: RecordHeader, size: number, verify: boolean, window: number): Promise<ScannedRecord> {
  const dead = (header.flags & (RecordFlag.REMOVED | RecordFlag.TOMBSTONE)) !== 0;
  const pending = (header.flags & RecordFlag.UNCOMMITTED) !== 0;
  let intact = true;
  let crcs: Uint32Array | undefined;
  if (!dead && !pending) {
    const footerAt = pos + RECORD_HEADER_SIZE + header.capacity;
    const need = footerSize(header.size);
    const footer = footerAt + need <= size ? await reader.get(footerAt, need, window) : undefined;
    crcs = header.size === 0 ? new Uint32Array(0) : footer && decodeFooter(footer, header.size);
    intact = crcs !== undefined;
    if ((header.flags & RecordFlag.NOCSUM) !== 0) crcs = undefined;
    else if (crcs && verify) intact = await dataMatches(reader, pos + RECORD_HEADER_SIZE, header.size, crcs);
  }
  return { offset: pos, header, crcs, intact };
}

/** Through the scan's window: small records cost no read of their own. */
async function dataMatches(reader: WindowReader, at: number, size: number, crcs: Uint32Array): Promise<boolean> {
  const step = 16 * CHUNK_SIZE;
  for (let off = 0; off < size; off += step) {
    const n = Math.min(step, size - off);
    const piece = await reader.get(at + off, n);
    if (piece.length < n) return false;
    for (let c = 0; c * CHUNK_SIZE < n; c++) {
      if (crc32(piece.subarray(c * CHUNK_SIZE, Math.min(n, (c + 1) * CHUNK_SIZE))) !== crcs[off / CHUNK_SIZE + c]) return false;
    }
  }
  return true;
}

async function findNextHeader(reader: WindowReader, from: number, size: number): Promise<number | undefined> {
  for (let pos = from; pos + RECORD_HEADER_SIZE <= size; pos += RECORD_ALIGN) {
    if (decodeRecordHeader(await reader.get(pos, RECORD_HEADER_SIZE))) return pos;
  }
  return undefined;
}
