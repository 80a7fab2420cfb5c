// The write path of a backend: a whole object in one WRITE, a write at an offset or an append
// (composed with the old object's bytes into a new record), and the chunked PREPARE → PLAIN_WRITE…
// → COMMIT sequence into one reserved record. Every write makes a new record and flags the one it
// replaces REMOVED once the new one is durable, so a dead version never needs a tombstone.

import { IoFlags, Errno } from '../../elliptics/protocol/constants.js';
import { compareTime, type DnetTime, isEmptyTime, timeNow } from '../../elliptics/protocol/time.js';
import type { BlobFile } from './blob-file.js';
import { ChunkCrcBuilder } from './chunk-crc.js';
import { dataOffset, indexKey, recordTime, type PendingRecord, type RecordRef } from './key-index.js';
import { encodeFooter, encodeRecordHeader, footerSize, RECORD_HEADER_SIZE, RecordFlag, recordSpan, type RecordHeader } from './record.js';
import { COPY_PIECE, markRemoved, pieces, writeRecord } from './record-io.js';
import type { BackendState } from './state.js';
import { StorageError } from './storage-error.js';

export interface WriteRequest {
  id: Buffer;
  /** The bytes to store, as the chunks they arrived in. */
  data: readonly Buffer[];
  /** Total bytes in `data`. */
  length: number;
  offset: number;
  /** io_attr.num: bytes to reserve (PREPARE) or the final size (COMMIT). */
  num: number;
  ioFlags: number;
  timestamp: DnetTime;
  userFlags: bigint;
  /**
   * The chunk CRCs of `data`, when the caller has them (a WRITE for several groups computes them
   * once); used where the record is exactly `data`.
   */
  crcs?: Uint32Array;
}

export interface WriteResult {
  ref: RecordRef;
  /** True while the record is prepared but not committed. */
  pending: boolean;
}

const ZEROS = Buffer.alloc(COPY_PIECE);
/** A prepared upload older than this (by its timestamp) is taken for abandoned by a CAS_TIMESTAMP prepare. */
const ABANDONED_AFTER_S = 600;

export class WritePath {
  constructor(private readonly s: BackendState) {}

  write(w: WriteRequest): Promise<WriteResult> {
    const f = w.ioFlags;
    return this.s.gate.run(() => this.s.locks.run(indexKey(w.id), async () => {
      if (f & IoFlags.CAS_TIMESTAMP) this.refuseIfStoredIsNewer(w);
      if (f & IoFlags.PREPARE) {
        const pending = await this.prepare(w, Math.max(w.num, w.offset + w.length));
        await this.writeIntoPending(pending, w, w.offset);
        if (f & IoFlags.COMMIT) return this.commit(pending, w.offset + w.length, w);
        await this.s.blobs.durable(pending.blob);
        return { ref: pending, pending: true };
      }
      if (f & (IoFlags.PLAIN_WRITE | IoFlags.COMMIT)) {
        const pending = this.s.index.get(w.id)?.pending;
        if (pending) {
          await this.writeIntoPending(pending, w, w.offset);
          if (f & IoFlags.COMMIT) return this.commit(pending, w.num, w);
          await this.s.blobs.durable(pending.blob);
          return { ref: pending, pending: true };
        }
        // Nothing prepared: write the bytes over the committed object, keeping the rest of it.
        return this.composeWrite(w, true, f & IoFlags.COMMIT ? w.num : undefined);
      }
      return this.composeWrite(w, false, undefined);
    }));
  }

  /**
   * CAS_TIMESTAMP (spec §6.2): -EBADFD when what the key holds — its record, or its removal — is newer
   * than this write. Recovery copies with it, so a write or a removal made meanwhile always wins.
   */
  private refuseIfStoredIsNewer(w: WriteRequest): void {
    const st = this.s.index.get(w.id);
    const stored = st?.committed ?? st?.removed;
    const t = stampTime(w);
    if (stored && compareTime(recordTime(stored), t) > 0) {
      throw new StorageError(Errno.EBADFD, `the stored ${st?.committed ? 'record' : 'removal'} is newer than this write (CAS_TIMESTAMP)`);
    }
    // A chunked copy must not meet another upload of the key: a prepare does not replace a newer
    // upload still in progress (one left alone for ABANDONED_AFTER_S is not), and later steps go only
    // into the record their own prepare made (same time).
    const pending = st?.pending;
    const chunked = w.ioFlags & (IoFlags.PREPARE | IoFlags.PLAIN_WRITE | IoFlags.COMMIT);
    if (!pending || !chunked) return;
    const cmp = compareTime(recordTime(pending), t);
    const clash = w.ioFlags & IoFlags.PREPARE ? cmp > 0 && pending.header.tsec > Date.now() / 1000 - ABANDONED_AFTER_S : cmp !== 0;
    if (clash) throw new StorageError(Errno.EBADFD, 'another upload of the key is in progress (CAS_TIMESTAMP)');
  }

  private async prepare(w: WriteRequest, capacity: number): Promise<PendingRecord> {
    const st = this.s.index.get(w.id);
    if (st?.pending) await markRemoved(st.pending);
    const header: RecordHeader = {
      ...blankHeader(w.id),
      flags: RecordFlag.UNCOMMITTED | (w.ioFlags & IoFlags.NOCSUM ? RecordFlag.NOCSUM : 0),
      capacity,
      size: capacity,
      ...stamp(w),
      seq: this.s.nextSeq(),
    };
    const { blob, offset } = this.s.blobs.allocate(recordSpan(capacity), capacity);
    await giveBackOnFailure(blob, offset, recordSpan(capacity), () => writeRecord(blob, [encodeRecordHeader(header)], offset));
    blob.records++;
    const pending: PendingRecord = { blob, offset, header, crcs: undefined, builder: new ChunkCrcBuilder() };
    this.s.index.setPending(w.id, pending);
    return pending;
  }

  private async writeIntoPending(p: PendingRecord, w: WriteRequest, offset: number): Promise<void> {
    if (w.length === 0) return;
    if (offset + w.length > p.header.capacity) {
      throw new StorageError(Errno.EINVAL, `write of ${w.length} bytes at ${offset} exceeds the ${p.header.capacity} bytes prepared`);
    }
    await writeRecord(p.blob, [...w.data], dataOffset(p) + offset);
    if (p.builder && p.builder.position === offset) for (const part of w.data) p.builder.feed(part);
    else p.builder = undefined;
  }

  private async commit(p: PendingRecord, size: number, w: WriteRequest): Promise<WriteResult> {
    if (size > p.header.capacity) {
      throw new StorageError(Errno.EINVAL, `commit size ${size} exceeds the ${p.header.capacity} bytes prepared`);
    }
    const nocsum = (p.header.flags & RecordFlag.NOCSUM) !== 0;
    let crcs: Uint32Array;
    if (p.builder && p.builder.position === size) crcs = p.builder.finish();
    else crcs = await recomputeCrcs(p, size);
    const header: RecordHeader = { ...p.header, flags: nocsum ? RecordFlag.NOCSUM : 0, size, ...stamp(w), seq: this.s.nextSeq() };
    // Footer first, header last: until the header says "committed" the record stays invisible.
    if (size > 0) await writeRecord(p.blob, [encodeFooter(size, crcs)], dataOffset(p) + p.header.capacity);
    await this.s.blobs.durable(p.blob); // with sync "always", the data is on disk before the header says so
    await writeRecord(p.blob, [encodeRecordHeader(header)], p.offset);
    const ref: RecordRef = { blob: p.blob, offset: p.offset, header, crcs: nocsum ? undefined : crcs };
    const old = this.s.index.committed(header.id);
    this.s.index.setCommitted(header.id, ref);
    this.s.index.setPending(header.id, undefined);
    this.s.index.setRemoved(header.id, undefined);
    await this.s.blobs.durable(p.blob);
    // Once the new version is durable the old one is marked: it must stay dead without a tombstone.
    if (old) await markRemoved(old);
    return { ref, pending: false };
  }

  /**
   * A write that produces a new committed record: the data at `offset`, with the old object's bytes
   * kept around it when `keepOld` (offset writes, appends, plain writes without a prepare).
   */
  private async composeWrite(w: WriteRequest, plain: boolean, finalSize: number | undefined): Promise<WriteResult> {
    const old = this.s.index.committed(w.id);
    const append = (w.ioFlags & IoFlags.APPEND) !== 0;
    const offset = append ? (old?.header.size ?? 0) : w.offset;
    const end = offset + w.length;
    const keepOld = old !== undefined && (offset > 0 || append || plain);
    let size = keepOld ? Math.max(old.header.size, end) : end;
    if (finalSize !== undefined) {
      if (finalSize < end) throw new StorageError(Errno.EINVAL, `final size ${finalSize} is below the end of the write (${end})`);
      size = finalSize;
    }
    if (!Number.isSafeInteger(size)) throw new StorageError(Errno.EINVAL, 'object size out of range');
    const nocsum = (w.ioFlags & IoFlags.NOCSUM) !== 0;
    const header: RecordHeader = {
      ...blankHeader(w.id),
      flags: nocsum ? RecordFlag.NOCSUM : 0,
      capacity: size,
      size,
      ...stamp(w),
      seq: 0,
    };
    const { blob, offset: at } = this.s.blobs.allocate(recordSpan(size), size);
    header.seq = this.s.nextSeq();
    const pad = Buffer.alloc(recordSpan(size) - RECORD_HEADER_SIZE - size - footerSize(size));
    const crcs = await giveBackOnFailure(blob, at, recordSpan(size), async () => {
      if (keepOld || offset !== 0) return writeComposed(blob, at, header, w, offset, keepOld ? old : undefined, pad);
      // The common case: the whole object arrives in this request; one writev puts it on disk.
      const whole = w.crcs ?? ChunkCrcBuilder.of(w.data);
      const parts = [encodeRecordHeader(header), ...w.data];
      if (size > 0) parts.push(encodeFooter(size, whole), pad);
      await writeRecord(blob, parts, at);
      return whole;
    });
    blob.records++;
    const ref: RecordRef = { blob, offset: at, header, crcs: nocsum ? undefined : crcs };
    this.s.index.setCommitted(w.id, ref);
    this.s.index.setRemoved(w.id, undefined);
    await this.s.blobs.durable(blob);
    // Once the new version is durable the old one is marked: it must stay dead without a tombstone.
    if (old) await markRemoved(old);
    return { ref, pending: false };
  }
}

/** Runs the writes of a new record; when they fail (a full disk) its space is handed back where it can be. */
async function giveBackOnFailure<T>(blob: BlobFile, at: number, span: number, write: () => Promise<T>): Promise<T> {
  try {
    return await write();
  } catch (err) {
    blob.unallocate(at, span);
    throw err;
  }
}

async function recomputeCrcs(p: PendingRecord, size: number): Promise<Uint32Array> {
  const builder = new ChunkCrcBuilder();
  const piece = Buffer.allocUnsafe(COPY_PIECE);
  for (let at = 0; at < size; at += COPY_PIECE) {
    const n = Math.min(COPY_PIECE, size - at);
    const got = await p.blob.read(piece, 0, n, dataOffset(p) + at);
    if (got < n) piece.fill(0, got, n); // never-written bytes of a prepared record read as zeros
    builder.feed(piece.subarray(0, n));
  }
  return builder.finish();
}

/** Streams old bytes, zeros and the new data into a fresh record, in order, 1 MiB at a time. */
async function writeComposed(blob: BlobFile, at: number, header: RecordHeader, data: WriteRequest, offset: number, old: RecordRef | undefined, pad: Buffer): Promise<Uint32Array> {
  const builder = new ChunkCrcBuilder();
  let pos = at;
  const put = async (bytes: Buffer): Promise<void> => {
    await writeRecord(blob, [bytes], pos);
    builder.feed(bytes);
    pos += bytes.length;
  };
  const oldSize = old?.header.size ?? 0;
  const copyOld = async (from: number, to: number): Promise<void> => {
    if (!old) return;
    for await (const { bytes } of pieces(old, from, to)) await put(bytes);
  };
  const zeros = async (n: number): Promise<void> => {
    for (let left = n; left > 0; left -= COPY_PIECE) await put(ZEROS.subarray(0, Math.min(COPY_PIECE, left)));
  };
  await writeRecord(blob, [encodeRecordHeader(header)], pos);
  pos += RECORD_HEADER_SIZE;
  await copyOld(0, Math.min(offset, oldSize));
  await zeros(offset - Math.min(offset, oldSize));
  for (const part of data.data) await put(part);
  const end = offset + data.length;
  const tailOldEnd = Math.max(end, Math.min(oldSize, header.size));
  await copyOld(end, tailOldEnd);
  await zeros(header.size - tailOldEnd);
  const crcs = builder.finish();
  if (header.size > 0) await writeRecord(blob, [encodeFooter(header.size, crcs), pad], pos);
  return crcs;
}

export function blankHeader(id: Buffer): RecordHeader {
  return { id, flags: 0, capacity: 0, size: 0, tsec: 0, tnsec: 0, userFlags: 0n, seq: 0 };
}

/** The time a write stores: its own, or now when it carries none. */
function stampTime(w: WriteRequest): DnetTime {
  if (isEmptyTime(w.timestamp)) w.timestamp = timeNow();
  return w.timestamp;
}

function stamp(w: WriteRequest): Pick<RecordHeader, 'tsec' | 'tnsec' | 'userFlags'> {
  const t = stampTime(w);
  return { tsec: t.sec, tnsec: t.nsec, userFlags: w.userFlags };
}
