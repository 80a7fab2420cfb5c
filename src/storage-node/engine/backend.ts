// One backend: a directory of blob files serving one group. This is the storage API the node's
// command handlers call; it knows nothing about the wire.

import { createHash, randomBytes } from 'node:crypto';
import fs from 'node:fs/promises';
import path from 'node:path';
import { Errno, ID_SIZE, IoFlags, RecordFlags } from '../../elliptics/protocol/constants.js';
import { type DnetTime, isEmptyTime, timeNow } from '../../elliptics/protocol/time.js';
import { BlobFile } from './blob-file.js';
import { ChunkCrcBuilder } from './chunk-crc.js';
import { ChunkVerifier } from './chunk-verifier.js';
import { BufferPool } from '../../util/buffer-pool.js';
import { ftruncate } from './file-io.js';
import { KeyLock } from './key-lock.js';
import { dataOffset, indexKey, KeyIndex, type PendingRecord, type RecordRef } from './key-index.js';
import {
  CHUNK_SIZE, encodeFooter, encodeRecordHeader, footerSize, RECORD_HEADER_SIZE, RecordFlag, recordSpan,
  type RecordHeader,
} from './record.js';
import { scanBlob } from './scan.js';
import { fromFsError, StorageError } from './storage-error.js';

export type SyncPolicy = 'always' | number;

export interface BackendOptions {
  id: number;
  group: number;
  dir: string;
  /** A blob file is closed for appends once it reaches this size. */
  blobSize: number;
  /** Total bytes of blob files; writes beyond it fail with -ENOSPC. 0 = no limit. */
  blobSizeLimit: number;
  /** "always": fsync before every acknowledgement; N: fsync every N seconds (0: leave it to the kernel). */
  sync: SyncPolicy;
  readOnly: boolean;
  /** Milliseconds every command on this backend waits before it runs. */
  delay: number;
  /** Seconds a verified chunk is trusted without re-hashing (0: verify every read). */
  verifyTtl: number;
  /** Shared pool of large read buffers (one per node). */
  buffers?: BufferPool;
}

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
}

export interface WriteResult {
  ref: RecordRef;
  /** True while the record is prepared but not committed. */
  pending: boolean;
}

export interface ReadResult {
  /** Holds the data at `start`, with at least `headroom` free bytes in front of it. */
  buf: Buffer;
  start: number;
  length: number;
  ref: RecordRef;
  /** Returns `buf` to the pool; call once nothing refers to it (the socket has taken the bytes). */
  release: () => void;
}

export interface BackendSummary {
  recordsTotal: number;
  recordsRemoved: number;
  recordsRemovedSize: number;
  recordsCorrupted: number;
  baseSize: number;
  blobs: { name: string; records: number; removed: number; removedSize: number; size: number }[];
}

/** How much of each blob's tail is re-verified after an unclean shutdown (a power loss may reorder writeback). */
const UNCLEAN_VERIFY_TAIL = 64 * 1024 * 1024;
const COPY_PIECE = 1024 * 1024;
const ZEROS = Buffer.alloc(COPY_PIECE);

export class Backend {
  readonly id: number;
  readonly group: number;
  readonly dir: string;
  readOnly: boolean;
  delay: number;
  enabled = false;
  lastStart: DnetTime = { sec: 0, nsec: 0 };
  lastStartErr = 0;
  /** Ring points this backend announces (persisted in `<dir>/ids`). */
  ids: Buffer[] = [];
  recordsCorrupted = 0;

  private blobs: BlobFile[] = [];
  private index = new KeyIndex();
  private readonly locks = new KeyLock();
  private seq = 0;
  private syncTimer: NodeJS.Timeout | undefined;
  private readonly verifier: ChunkVerifier;
  private readonly buffers: BufferPool;

  constructor(private readonly opts: BackendOptions) {
    this.verifier = new ChunkVerifier(opts.verifyTtl);
    this.buffers = opts.buffers ?? new BufferPool();
    this.id = opts.id;
    this.group = opts.group;
    this.dir = path.resolve(opts.dir);
    this.readOnly = opts.readOnly;
    this.delay = opts.delay;
  }

  get options(): Readonly<BackendOptions> {
    return this.opts;
  }

  /** Absolute path prefix of the blob files (`<dir>/data`), as eblob's `data` option. */
  get dataPrefix(): string {
    return path.join(this.dir, 'data');
  }

  // ---------------------------------------------------------------------------------------------
  // Life cycle

  async start(): Promise<void> {
    if (this.enabled) return;
    this.lastStart = timeNow();
    try {
      await fs.mkdir(this.dir, { recursive: true });
      await this.lockDir();
      this.ids = await this.loadIds();
      const clean = await fs.rm(path.join(this.dir, 'clean')).then(() => true, () => false);
      await this.loadBlobs(clean);
      if (typeof this.opts.sync === 'number' && this.opts.sync > 0) {
        this.syncTimer = setInterval(() => void this.syncAll().catch(() => undefined), this.opts.sync * 1000);
        this.syncTimer.unref();
      }
      this.enabled = true;
      this.lastStartErr = 0;
    } catch (err) {
      this.lastStartErr = err instanceof StorageError ? err.status : Errno.EIO;
      throw err;
    }
  }

  async stop(): Promise<void> {
    if (!this.enabled) return;
    this.enabled = false;
    if (this.syncTimer) clearInterval(this.syncTimer);
    this.syncTimer = undefined;
    for (const blob of this.blobs) await blob.close();
    this.blobs = [];
    this.index = new KeyIndex();
    await fs.writeFile(path.join(this.dir, 'clean'), `${process.pid}\n`);
    await fs.rm(path.join(this.dir, 'lock'), { force: true });
  }

  private async lockDir(): Promise<void> {
    const lock = path.join(this.dir, 'lock');
    const other = Number((await fs.readFile(lock, 'utf8').catch(() => '')).trim());
    if (other && other !== process.pid && isAlive(other)) {
      throw new StorageError(Errno.EBUSY, `backend directory ${this.dir} is in use by process ${other}`);
    }
    await fs.writeFile(lock, `${process.pid}\n`);
  }

  private async loadIds(): Promise<Buffer[]> {
    const file = path.join(this.dir, 'ids');
    const existing = await fs.readFile(file).catch(() => undefined);
    if (existing && existing.length > 0 && existing.length % ID_SIZE === 0) {
      const ids: Buffer[] = [];
      for (let at = 0; at < existing.length; at += ID_SIZE) ids.push(Buffer.from(existing.subarray(at, at + ID_SIZE)));
      return ids;
    }
    const id = randomBytes(ID_SIZE);
    const tmp = `${file}.tmp`;
    const fh = await fs.open(tmp, 'w');
    await fh.writeFile(id);
    await fh.sync();
    await fh.close();
    await fs.rename(tmp, file);
    return [id];
  }

  private async loadBlobs(clean: boolean): Promise<void> {
    const names = (await fs.readdir(this.dir)).filter((n) => /^data-0\.\d+$/.test(n));
    const indexes = names.map((n) => Number(n.slice('data-0.'.length))).sort((a, b) => a - b);
    if (indexes.length === 0) indexes.push(0);
    const pendingSeen: PendingRecord[] = [];
    const tombstones = new Map<string, number>();
    for (const n of indexes) {
      const blob = await BlobFile.open(this.dir, n, 0);
      const scan = await scanBlob(blob, clean ? 0 : UNCLEAN_VERIFY_TAIL);
      if (scan.tornTail > 0) await ftruncate(blob.fd, scan.end);
      blob.resetEnd(scan.end);
      this.recordsCorrupted += scan.damagedRegions;
      for (const r of scan.records) {
        const h = r.header;
        this.seq = Math.max(this.seq, h.seq);
        blob.records++;
        const span = recordSpan(h.capacity);
        const dead = (h.flags & (RecordFlag.REMOVED | RecordFlag.TOMBSTONE)) !== 0 || !r.intact;
        if (!r.intact) this.recordsCorrupted++;
        if (h.flags & RecordFlag.TOMBSTONE) {
          const key = indexKey(h.id);
          tombstones.set(key, Math.max(tombstones.get(key) ?? 0, h.seq));
        }
        if (dead) {
          blob.removedRecords++;
          blob.removedBytes += span;
          continue;
        }
        const ref: RecordRef = { blob, offset: r.offset, header: h, crcs: r.crcs };
        if (h.flags & RecordFlag.UNCOMMITTED) {
          pendingSeen.push({ ...ref, builder: undefined });
          continue;
        }
        const prev = this.index.committed(h.id);
        if (prev && prev.header.seq > h.seq) this.countDead(ref);
        else {
          if (prev) this.countDead(prev);
          this.index.setCommitted(h.id, ref);
        }
      }
      this.blobs.push(blob);
    }
    // Deletions shadow older copies that were never marked removed (a crash between the two writes).
    for (const st of [...this.index.values()]) {
      const c = st.committed;
      if (c && (tombstones.get(indexKey(c.header.id)) ?? -1) > c.header.seq) {
        this.countDead(c);
        this.index.setCommitted(c.header.id, undefined);
      }
    }
    for (const p of pendingSeen) {
      const committedSeq = this.index.committed(p.header.id)?.header.seq ?? -1;
      const deletedSeq = tombstones.get(indexKey(p.header.id)) ?? -1;
      const prev = this.index.get(p.header.id)?.pending;
      if (p.header.seq > committedSeq && p.header.seq > deletedSeq && (!prev || prev.header.seq < p.header.seq)) {
        if (prev) this.countDead(prev);
        this.index.setPending(p.header.id, p);
      } else this.countDead(p);
    }
  }

  private countDead(ref: RecordRef): void {
    ref.blob.removedRecords++;
    ref.blob.removedBytes += recordSpan(ref.header.capacity);
  }

  async syncAll(): Promise<void> {
    for (const blob of this.blobs) if (blob.needsSync) await blob.sync();
  }

  private async durable(blob: BlobFile): Promise<void> {
    if (this.opts.sync === 'always') await blob.sync();
  }

  // ---------------------------------------------------------------------------------------------
  // Reads

  /** The committed record of `id`; -ENOENT when absent. */
  committed(id: Buffer): RecordRef {
    this.assertEnabled();
    const ref = this.index.committed(id);
    if (!ref) throw new StorageError(Errno.ENOENT, 'no such key');
    return ref;
  }

  /** LOOKUP: a real node refuses zero-size records with -ENOENT. */
  lookup(id: Buffer): RecordRef {
    const ref = this.committed(id);
    if (ref.header.size === 0) throw new StorageError(Errno.ENOENT, 'zero-size record');
    return ref;
  }

  async read(id: Buffer, offset: number, size: number, verify: boolean, headroom: number): Promise<ReadResult> {
    const ref = this.committed(id);
    const total = ref.header.size;
    if (offset !== 0 && offset >= total) {
      throw new StorageError(Errno.E2BIG, `offset ${offset} is beyond the ${total}-byte object`);
    }
    const length = Math.min(size === 0 ? Infinity : size, total - offset);
    const crcs = verify ? ref.crcs : undefined;
    const from = crcs ? Math.floor(offset / CHUNK_SIZE) * CHUNK_SIZE : offset;
    const to = crcs ? Math.min(total, Math.ceil((offset + length) / CHUNK_SIZE) * CHUNK_SIZE) : offset + length;
    const buf = this.buffers.acquire(headroom + (to - from));
    const release = (): void => this.buffers.release(buf);
    try {
      await ref.blob.readExact(buf, headroom, to - from, dataOffset(ref) + from);
      if (crcs) this.verifier.verify(ref, buf.subarray(headroom, headroom + (to - from)), from);
    } catch (err) {
      release();
      throw fromFsError(err, `read of ${ref.blob.path}`);
    }
    return { buf, start: headroom + (offset - from), length, ref, release };
  }

  /** SHA-512 of the whole object, verifying its chunks on the way (LOOKUP with the CHECKSUM cflag). */
  async checksum(ref: RecordRef): Promise<Buffer> {
    const hash = createHash('sha512');
    for await (const { bytes, at } of pieces(ref, 0, ref.header.size)) {
      this.verifier.verify(ref, bytes, at);
      hash.update(bytes);
    }
    return hash.digest();
  }

  // ---------------------------------------------------------------------------------------------
  // Writes

  write(w: WriteRequest): Promise<WriteResult> {
    this.assertWritable();
    const f = w.ioFlags;
    return this.locks.run(indexKey(w.id), async () => {
      if (f & IoFlags.PREPARE) {
        const pending = await this.prepare(w, Math.max(w.num, w.offset + w.length));
        await this.writeIntoPending(pending, w, w.offset);
        if (f & IoFlags.COMMIT) return this.commit(pending, w.offset + w.length, w);
        await this.durable(pending.blob);
        return { ref: pending, pending: true };
      }
      if (f & (IoFlags.PLAIN_WRITE | IoFlags.COMMIT)) {
        const pending = this.index.get(w.id)?.pending;
        if (pending) {
          await this.writeIntoPending(pending, w, w.offset);
          if (f & IoFlags.COMMIT) return this.commit(pending, w.num, w);
          await this.durable(pending.blob);
          return { ref: pending, pending: true };
        }
        // Nothing prepared: write the bytes over the committed object, keeping the rest of it.
        return this.composeWrite(w, true, f & IoFlags.COMMIT ? w.num : undefined);
      }
      return this.composeWrite(w, false, undefined);
    });
  }

  async remove(id: Buffer): Promise<void> {
    this.assertWritable();
    await this.locks.run(indexKey(id), async () => {
      const st = this.index.get(id);
      if (!st?.committed && !st?.pending) throw new StorageError(Errno.ENOENT, 'no such key');
      const tombstone: RecordHeader = { ...blankHeader(id), flags: RecordFlag.TOMBSTONE, seq: ++this.seq };
      const { blob, offset } = this.allocate(RECORD_HEADER_SIZE, 0);
      await this.writeRecord(blob, [encodeRecordHeader(tombstone)], offset);
      blob.records++;
      blob.removedRecords++;
      blob.removedBytes += RECORD_HEADER_SIZE;
      if (st.committed) await this.markRemoved(st.committed);
      if (st.pending) await this.markRemoved(st.pending);
      this.index.delete(id);
      await this.durable(blob);
    });
  }

  private async prepare(w: WriteRequest, capacity: number): Promise<PendingRecord> {
    const st = this.index.get(w.id);
    if (st?.pending) this.countDead(st.pending);
    const header: RecordHeader = {
      ...blankHeader(w.id),
      flags: RecordFlag.UNCOMMITTED | (w.ioFlags & IoFlags.NOCSUM ? RecordFlag.NOCSUM : 0),
      capacity,
      size: capacity,
      ...stamp(w),
      seq: ++this.seq,
    };
    const { blob, offset } = this.allocate(recordSpan(capacity), capacity);
    await this.writeRecord(blob, [encodeRecordHeader(header)], offset);
    blob.records++;
    const pending: PendingRecord = { blob, offset, header, crcs: undefined, builder: new ChunkCrcBuilder() };
    this.index.setPending(w.id, pending);
    return pending;
  }

  private async writeIntoPending(p: PendingRecord, w: WriteRequest, offset: number): Promise<void> {
    if (w.length === 0) return;
    if (offset + w.length > p.header.capacity) {
      throw new StorageError(Errno.EINVAL, `write of ${w.length} bytes at ${offset} exceeds the ${p.header.capacity} bytes prepared`);
    }
    await this.writeRecord(p.blob, [...w.data], dataOffset(p) + offset);
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
    else crcs = await this.recomputeCrcs(p, size);
    const header: RecordHeader = { ...p.header, flags: nocsum ? RecordFlag.NOCSUM : 0, size, ...stamp(w), seq: ++this.seq };
    // Footer first, header last: until the header says "committed" the record stays invisible.
    if (size > 0) await this.writeRecord(p.blob, [encodeFooter(size, crcs)], dataOffset(p) + p.header.capacity);
    await this.durable(p.blob); // with sync "always", the data is on disk before the header says so
    await this.writeRecord(p.blob, [encodeRecordHeader(header)], p.offset);
    const ref: RecordRef = { blob: p.blob, offset: p.offset, header, crcs: nocsum ? undefined : crcs };
    const old = this.index.committed(header.id);
    this.index.setCommitted(header.id, ref);
    this.index.setPending(header.id, undefined);
    // The old version is not rewritten on disk: its lower sequence number loses at every rebuild.
    if (old) this.countDead(old);
    await this.durable(p.blob);
    return { ref, pending: false };
  }

  private async recomputeCrcs(p: PendingRecord, size: number): Promise<Uint32Array> {
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

  /**
   * A write that produces a new committed record: the data at `offset`, with the old object's bytes
   * kept around it when `keepOld` (offset writes, appends, plain writes without a prepare).
   */
  private async composeWrite(w: WriteRequest, plain: boolean, finalSize: number | undefined): Promise<WriteResult> {
    const old = this.index.committed(w.id);
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
    const { blob, offset: at } = this.allocate(recordSpan(size), size);
    header.seq = ++this.seq;
    const pad = Buffer.alloc(recordSpan(size) - RECORD_HEADER_SIZE - size - footerSize(size));
    let crcs: Uint32Array;
    if (!keepOld && offset === 0) {
      // The common case: the whole object arrives in this request; one writev puts it on disk.
      crcs = chunkCrcsOf(w.data);
      const parts = [encodeRecordHeader(header), ...w.data];
      if (size > 0) parts.push(encodeFooter(size, crcs), pad);
      await this.writeRecord(blob, parts, at);
    } else {
      crcs = await this.writeComposed(blob, at, header, w, offset, keepOld ? old : undefined, pad);
    }
    blob.records++;
    const ref: RecordRef = { blob, offset: at, header, crcs: nocsum ? undefined : crcs };
    this.index.setCommitted(w.id, ref);
    if (old) this.countDead(old);
    await this.durable(blob);
    return { ref, pending: false };
  }

  /** Streams old bytes, zeros and the new data into a fresh record, in order, 1 MiB at a time. */
  private async writeComposed(blob: BlobFile, at: number, header: RecordHeader, data: WriteRequest, offset: number, old: RecordRef | undefined, pad: Buffer): Promise<Uint32Array> {
    const builder = new ChunkCrcBuilder();
    let pos = at;
    const put = async (bytes: Buffer): Promise<void> => {
      await this.writeRecord(blob, [bytes], pos);
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
    await this.writeRecord(blob, [encodeRecordHeader(header)], pos);
    pos += RECORD_HEADER_SIZE;
    await copyOld(0, Math.min(offset, oldSize));
    await zeros(offset - Math.min(offset, oldSize));
    for (const part of data.data) await put(part);
    const end = offset + data.length;
    const tailOldEnd = Math.max(end, Math.min(oldSize, header.size));
    await copyOld(end, tailOldEnd);
    await zeros(header.size - tailOldEnd);
    const crcs = builder.finish();
    if (header.size > 0) await this.writeRecord(blob, [encodeFooter(header.size, crcs), pad], pos);
    return crcs;
  }

  private async markRemoved(ref: RecordRef): Promise<void> {
    ref.header = { ...ref.header, flags: ref.header.flags | RecordFlag.REMOVED };
    await this.writeRecord(ref.blob, [encodeRecordHeader(ref.header)], ref.offset);
    this.countDead(ref);
  }

  private async writeRecord(blob: BlobFile, parts: Buffer[], position: number): Promise<void> {
    try {
      await blob.write(parts, position);
    } catch (err) {
      throw fromFsError(err, `write to ${blob.path}`);
    }
  }

  /** Hands out space for a record, opening the next blob file when the current one is full. */
  private allocate(span: number, dataSize: number): { blob: BlobFile; offset: number } {
    const limit = this.opts.blobSizeLimit;
    const used = limit > 0 ? this.baseSize() : 0;
    if (limit > 0 && used + span > limit) {
      throw new StorageError(Errno.ENOSPC, `blob-size-limit ${limit} reached (${used} used, ${dataSize} more wanted)`);
    }
    let blob = this.blobs[this.blobs.length - 1]!;
    if (blob.size > 0 && blob.size + span > this.opts.blobSize) {
      blob = this.openNextBlob();
    }
    return { blob, offset: blob.allocate(span) };
  }

  private openNextBlob(): BlobFile {
    // Opening is synchronous from the caller's point of view: reserve the slot now, open lazily.
    const last = this.blobs[this.blobs.length - 1]!;
    const next = BlobFile.openSync(this.dir, last.index + 1);
    this.blobs.push(next);
    return next;
  }

  private assertEnabled(): void {
    if (!this.enabled) throw new StorageError(Errno.ENOTSUP, `backend ${this.id} is disabled`);
  }

  private assertWritable(): void {
    this.assertEnabled();
    if (this.readOnly) throw new StorageError(Errno.EROFS, `backend ${this.id} is read-only`);
  }

  // ---------------------------------------------------------------------------------------------
  // Statistics

  baseSize(): number {
    let n = 0;
    for (const b of this.blobs) n += b.size;
    return n;
  }

  summary(): BackendSummary {
    const blobs = this.blobs.map((b) => ({
      name: BlobFile.fileName(b.index),
      records: b.records,
      removed: b.removedRecords,
      removedSize: b.removedBytes,
      size: b.size,
    }));
    return {
      recordsTotal: blobs.reduce((n, b) => n + b.records, 0),
      recordsRemoved: blobs.reduce((n, b) => n + b.removed, 0),
      recordsRemovedSize: blobs.reduce((n, b) => n + b.removedSize, 0),
      recordsCorrupted: this.recordsCorrupted,
      baseSize: this.baseSize(),
      blobs,
    };
  }

  /** Number of live keys (committed records). */
  get keys(): number {
    let n = 0;
    for (const st of this.index.values()) if (st.committed) n++;
    return n;
  }
}

/** The record flags a real node reports for a record: EXTHDR, chunked checksums, UNCOMMITTED. */
export function wireRecordFlags(ref: RecordRef, pending: boolean): number {
  let flags = RecordFlags.EXTHDR;
  if (ref.header.flags & RecordFlag.NOCSUM) flags |= RecordFlags.NOCSUM;
  else flags |= RecordFlags.CHUNKED_CSUM;
  if (pending) flags |= RecordFlags.UNCOMMITTED;
  return flags;
}

function blankHeader(id: Buffer): RecordHeader {
  return { id, flags: 0, capacity: 0, size: 0, tsec: 0, tnsec: 0, userFlags: 0n, seq: 0 };
}

function stamp(w: WriteRequest): Pick<RecordHeader, 'tsec' | 'tnsec' | 'userFlags'> {
  const t = isEmptyTime(w.timestamp) ? timeNow() : w.timestamp;
  return { tsec: t.sec, tnsec: t.nsec, userFlags: w.userFlags };
}

function chunkCrcsOf(data: readonly Buffer[]): Uint32Array {
  const b = new ChunkCrcBuilder();
  for (const part of data) b.feed(part);
  return b.finish();
}

/** The bytes [from, to) of a record's data, read 1 MiB at a time into one reused buffer. */
async function* pieces(ref: RecordRef, from: number, to: number): AsyncGenerator<{ bytes: Buffer; at: number }> {
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

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

