// Compaction of one closed blob file: its live records are copied, in order, into
// `data-0.<n>.compact`, which is made durable and then renamed over the blob; removed and
// superseded records are left behind, and a removal the index still remembers shrinks to its bare
// header (a TOMBSTONE without data). Reads and writes go on meanwhile: only the
// swap itself (a few small writes, one fsync, a rename) holds the backend's mutation gate.
//
// Why the copy stays correct while clients keep writing:
//  - a closed blob gets no new records, only in-place header rewrites (REMOVED marks);
//  - a record copied and then superseded or removed before the swap is found at the swap (the index
//    no longer points at it) and its copy is marked REMOVED before the rename;
//  - every record older than a tombstone is marked REMOVED on disk, durably, before a defragmentation
//    starts (see Defragmenter), so the tombstones of forgotten removals can go;
//  - the index snapshot is dropped before the rename: it names offsets in the old file.
// A crash before the rename leaves the blob as it was plus a `.compact` file the next start deletes;
// after the rename the blob is the complete compacted copy.

import fs from 'node:fs/promises';
import path from 'node:path';
import { BlobFile } from './blob-file.js';
import { closeFile, fdatasync, openFile, pread, pwriteAll, syncDir } from './file-io.js';
import type { MutationGate } from './mutation-gate.js';
import { encodeRecordHeader, RECORD_HEADER_SIZE, RecordFlag, recordSpan, type RecordHeader } from './record.js';
import { scanBlob, type ScannedRecord } from './scan.js';

export const COMPACT_SUFFIX = '.compact';
const COPY_PIECE = 1024 * 1024;

/** A record that moved from `from` in the old file to `to` in the compacted one. */
export interface MovedRecord {
  id: Buffer;
  from: number;
  to: number;
  /** A remembered removal: `header` is the bare tombstone it became. */
  removal?: RecordHeader;
}

export interface CompactionHost {
  readonly dir: string;
  readonly gate: MutationGate;
  /** What the index holds at (blob, offset) for this key: its committed record, its prepared one, its removal, or nothing. */
  liveAt(id: Buffer, blob: BlobFile, offset: number): 'committed' | 'pending' | 'removed' | undefined;
  /** The removal the index remembers for `id` (its header: time, seq), if any. */
  removalOf(id: Buffer): RecordHeader | undefined;
  /** Puts `next` in place of `old` (undefined: the blob is gone) and re-points the moved records. */
  replaceBlob(old: BlobFile, next: BlobFile | undefined, moved: readonly MovedRecord[]): void;
  /** The index snapshot names offsets in the files about to change: it must go first. */
  dropSnapshot(): Promise<void>;
}

export type CompactionOutcome =
  | { result: 'compacted' | 'deleted'; before: number; after: number }
  /** A chunked upload is still writing into the blob: it is left for a later run. */
  | { result: 'busy' | 'stopped'; before: number; after: number };

export class CompactionStopped extends Error {}

export interface CompactionControl {
  /** Checked between copied pieces: true stops the compaction (the blob stays as it is). */
  shouldStop: () => boolean;
  /** Called after each copied piece; resolves when the next may be copied (the rate limit). */
  pace: (bytes: number) => Promise<void>;
}

export async function compactBlob(host: CompactionHost, blob: BlobFile, control: CompactionControl): Promise<CompactionOutcome> {
  const before = blob.size;
  const keep: ScannedRecord[] = [];
  for (const r of (await scanBlob(blob)).records) {
    if (!r.intact) continue;
    const live = host.liveAt(r.header.id, blob, r.offset);
    if (live === 'pending') return { result: 'busy', before, after: before };
    if (live === 'committed' || live === 'removed') keep.push(r);
  }
  if (keep.length === 0) return deleteBlob(host, blob, before);

  const tmp = `${blob.path}${COMPACT_SUFFIX}`;
  const fd = await openFile(tmp, 'w+');
  let swapped = false;
  try {
    const moved: { record: ScannedRecord; to: number }[] = [];
    let end = 0;
    const piece = Buffer.allocUnsafe(COPY_PIECE);
    for (const r of keep) {
      if (r.header.flags & RecordFlag.TOMBSTONE) {
        // A remembered removal keeps its header only: its data is dead.
        await pwriteAll(fd, [encodeRecordHeader(bareTombstone(r.header))], end);
        moved.push({ record: r, to: end });
        end += RECORD_HEADER_SIZE;
        continue;
      }
      const span = recordSpan(r.header.capacity);
      for (let done = 0; done < span; ) {
        if (control.shouldStop()) throw new CompactionStopped();
        const n = Math.min(piece.length, span - done);
        // A prepared-then-committed record may end before its alignment padding: the rest reads as zeros.
        const got = await pread(blob.fd, piece, 0, n, r.offset + done);
        if (got < n) piece.fill(0, got, n);
        await pwriteAll(fd, [piece.subarray(0, n)], end + done);
        done += n;
        await control.pace(n);
      }
      moved.push({ record: r, to: end });
      end += span;
    }
    await fdatasync(fd);

    return await host.gate.exclusive(async () => {
      const stillLive: MovedRecord[] = [];
      let staleRecords = 0;
      let staleBytes = 0;
      for (const m of moved) {
        const h = m.record.header;
        const live = host.liveAt(h.id, blob, m.record.offset);
        if (live === 'committed' && !(h.flags & RecordFlag.TOMBSTONE)) {
          stillLive.push({ id: h.id, from: m.record.offset, to: m.to });
          continue;
        }
        const span = h.flags & RecordFlag.TOMBSTONE ? RECORD_HEADER_SIZE : recordSpan(h.capacity);
        staleRecords++;
        staleBytes += span;
        if (live === 'removed') {
          // Removed (before or while the copy ran) and remembered: the copy carries the removal as it is now.
          const removal = host.removalOf(h.id)!;
          const header = h.flags & RecordFlag.TOMBSTONE ? bareTombstone(removal) : { ...removal, capacity: h.capacity, size: h.size };
          await pwriteAll(fd, [encodeRecordHeader(header)], m.to);
          stillLive.push({ id: h.id, from: m.record.offset, to: m.to, removal: header });
          continue;
        }
        // Superseded (or its removal forgotten) while the copy ran: the copy must not come back at the next start.
        await pwriteAll(fd, [encodeRecordHeader({ ...h, flags: h.flags | RecordFlag.REMOVED })], m.to);
      }
      if (staleRecords > 0) await fdatasync(fd);
      await host.dropSnapshot();
      await fs.rename(tmp, blob.path);
      await syncDir(host.dir);
      swapped = true;
      const next = new BlobFile(blob.index, blob.path, fd, end);
      next.records = moved.length;
      next.removedRecords = staleRecords;
      next.removedBytes = staleBytes;
      host.replaceBlob(blob, next, stillLive);
      blob.retire();
      return { result: 'compacted' as const, before, after: end };
    });
  } catch (err) {
    if (!swapped) {
      await closeFile(fd).catch(() => undefined);
      await fs.rm(tmp, { force: true });
    }
    if (err instanceof CompactionStopped) return { result: 'stopped', before, after: before };
    throw err;
  }
}

/** A blob without a live record is deleted outright. */
function deleteBlob(host: CompactionHost, blob: BlobFile, before: number): Promise<CompactionOutcome> {
  return host.gate.exclusive(async () => {
    await host.dropSnapshot();
    await fs.rm(blob.path, { force: true });
    await syncDir(host.dir);
    host.replaceBlob(blob, undefined, []);
    blob.retire();
    return { result: 'deleted' as const, before, after: 0 };
  });
}

/** Compactions a crash interrupted before their rename: the blobs they copied are intact, so they go. */
export async function discardUnfinishedCompactions(dir: string): Promise<string[]> {
  const names = (await fs.readdir(dir)).filter((n) => /^data-0\.\d+\.compact$/.test(n));
  for (const n of names) await fs.rm(path.join(dir, n), { force: true });
  return names;
}

/** The header of a removal without its data: all a remembered removal needs to keep on disk. */
function bareTombstone(h: RecordHeader): RecordHeader {
  return { ...h, flags: (h.flags | RecordFlag.REMOVED | RecordFlag.TOMBSTONE) & ~RecordFlag.UNCOMMITTED, capacity: 0, size: 0 };
}
