// Record-level file operations shared by the write path, removal, start-up repairs and reads:
// writing a record's parts, flagging a record REMOVED in place, reading its data in pieces.

import type { BlobFile } from './blob-file.js';
import { dataOffset, type RecordRef } from './key-index.js';
import { encodeRecordHeader, RecordFlag, recordSpan } from './record.js';
import { fromFsError } from './storage-error.js';

/** Bytes a copy or a composed write moves at a time. */
export const COPY_PIECE = 1024 * 1024;

export async function writeRecord(blob: BlobFile, parts: Buffer[], position: number): Promise<void> {
  try {
    await blob.write(parts, position);
  } catch (err) {
    throw fromFsError(err, `write to ${blob.path}`);
  }
}

/** Counts a record's space as dead in its blob's statistics. */
export function countDead(ref: RecordRef): void {
  ref.blob.removedRecords++;
  ref.blob.removedBytes += recordSpan(ref.header.capacity);
}

export async function markRemoved(ref: RecordRef): Promise<void> {
  countDead(ref);
  await writeRemovedMark(ref);
}

/** Rewrites a record's header with REMOVED set (one page write: a kill cannot tear it). */
export async function writeRemovedMark(ref: RecordRef): Promise<void> {
  ref.header = { ...ref.header, flags: ref.header.flags | RecordFlag.REMOVED };
  await writeRecord(ref.blob, [encodeRecordHeader(ref.header)], ref.offset);
}

/** The bytes [from, to) of a record's data, read 1 MiB at a time into one reused buffer. */
export async function* pieces(ref: RecordRef, from: number, to: number): AsyncGenerator<{ bytes: Buffer; at: number }> {
  if (to <= from) return;
  const piece = Buffer.allocUnsafe(Math.min(COPY_PIECE, to - from));
  for (let at = from; at < to; at += piece.length) {
    const n = Math.min(piece.length, to - at);
    try {
      await ref.blob.readExact(piece, 0, n, dataOffset(ref) + at);
    } catch (err) {
      throw fromFsError(err, `read of ${ref.blob.path}`);
    }
    yield { bytes: piece.subarray(0, n), at };
  }
}
