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
import { fileSize, ftruncate, syncDir } from './file-io.js';
import { KeyLock } from './key-lock.js';
import { dataOffset, indexKey, KeyIndex, type PendingRecord, type RecordRef } from './key-index.js';
import {
  CHUNK_SIZE, encodeFooter, encodeRecordHeader, footerSize, RECORD_HEADER_SIZE, RecordFlag, recordSpan,
  type RecordHeader,
} from './record.js';
import { readRecordAt, scanBlob, type ScannedRecord } from './scan.js';
import { fromFsError, StorageError } from './storage-error.js';
import { discardUnfinishedCompactions, type MovedRecord } from './compaction.js';
import { DefragLevel, Defragmenter, wantDefrag, type DefragHost } from './defrag.js';
import {
  dropSnapshot, installSnapshot, readSnapshot, writeSnapshotTemp, type IndexSnapshot, type SnapshotBlob, type SnapshotEntries,
} from './index-snapshot.js';
import { SnapshotKeys } from './snapshot-keys.js';
import { MutationGate } from './mutation-gate.js';
import type { Logger } from '../../util/logger.js';
import type { SyncPolicy } from '../../config/sync-policy.js';


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
  /** A blob wants defragmentation once this % of its bytes is dead (eblob's default: 25). */
  defragPercentage?: number;
  /** Seconds between automatic defragmentation checks; 0: only when asked (BACKEND_CONTROL). */
  defragTimeout?: number;
  /** Bytes per second a defragmentation may copy; 0: no limit. */
  defragRateLimit?: number;
  /** Seconds between index snapshots while the index changes; 0: only at a clean stop. */
  snapshotInterval?: number;
  log?: Logger;
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
  /** Sum of the blobs' want_defrag codes, as eblob sums its per-blob statistics. */
  wantDefrag: number;
  blobs: { name: string; records: number; removed: number; removedSize: number; size: number; wantDefrag: number }[];
}

export const DEFRAG_DEFAULTS = { percentage: 25, timeout: 300, snapshotInterval: 300 } as const;
/** The automatic trigger leaves a blob alone until this much of it is dead (a fresh blob is not worth a copy). */
const AUTO_DEFRAG_MIN_BYTES = 1024 * 1024;

/** How much of each blob's tail is re-verified after an unclean shutdown (a power loss may reorder writeback). */
const UNCLEAN_VERIFY_TAIL = 64 * 1024 * 1024;
const COPY_PIECE = 1024 * 1024;
const ZEROS = Buffer.alloc(COPY_PIECE);

export class Backend implements DefragHost {
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

  readonly gate = new MutationGate();
  readonly defrag: Defragmenter;
  /** How the last start found the index: from a snapshot (and how many tail bytes it scanned) or by a full scan. */
  startedFrom: { snapshot: boolean; records: number; scannedBytes: number; ms: number } = { snapshot: false, records: 0, scannedBytes: 0, ms: 0 };

  private blobs: BlobFile[] = [];
  private index = new KeyIndex();
  private readonly locks = new KeyLock();
  private seq = 0;
  private syncTimer: NodeJS.Timeout | undefined;
  private snapshotTimer: NodeJS.Timeout | undefined;
  /** `seq` when the last snapshot was captured: a snapshot is written again only after a change. */
  private snapshotSeq = -1;
  /** Bumped whenever blob files are replaced: a snapshot captured before is not installed. */
  private layoutGeneration = 0;
  private savingSnapshot: Promise<void> | undefined;
  private readonly verifier: ChunkVerifier;
  private readonly buffers: BufferPool;
  private readonly log: Logger | undefined;
  /** The defragmentation and snapshot settings, defaults filled in. */
  readonly housekeeping: { defragPercentage: number; defragTimeout: number; defragRateLimit: number; snapshotInterval: number };

  constructor(private readonly opts: BackendOptions) {
    this.log = opts.log;
    this.housekeeping = {
      defragPercentage: opts.defragPercentage ?? DEFRAG_DEFAULTS.percentage,
      defragTimeout: opts.defragTimeout ?? DEFRAG_DEFAULTS.timeout,
      defragRateLimit: opts.defragRateLimit ?? 0,
      snapshotInterval: opts.snapshotInterval ?? DEFRAG_DEFAULTS.snapshotInterval,
    };
    this.defrag = new Defragmenter(this, { timeoutSeconds: this.housekeeping.defragTimeout, rateLimit: this.housekeeping.defragRateLimit, log: opts.log });
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
      const every = this.housekeeping.snapshotInterval;
      if (every > 0) {
        this.snapshotTimer = setInterval(() => {
          if (this.seq !== this.snapshotSeq) void this.saveSnapshot().catch((err: unknown) => this.log?.warn({ err: (err as Error).message }, 'index snapshot failed'));
        }, every * 1000);
        this.snapshotTimer.unref();
      }
      this.enabled = true;
      this.defrag.startAuto();
      this.lastStartErr = 0;
    } catch (err) {
      this.lastStartErr = err instanceof StorageError ? err.status : Errno.EIO;
      throw err;
    }
  }

  async stop(): Promise<void> {
    if (!this.enabled) return;
    await this.defrag.halt();
    if (this.snapshotTimer) clearInterval(this.snapshotTimer);
    this.snapshotTimer = undefined;
    this.enabled = false;
    // A clean stop leaves a snapshot (taken once the mutations in flight are done): the next start
    // reads it instead of every record.
    // (None when the one on disk is still current: nothing was written or compacted since.)
    if (this.snapshotSeq !== this.seq) {
      await this.saveSnapshot().catch((err: unknown) => this.log?.warn({ err: (err as Error).message }, 'index snapshot at stop failed; the next start scans the blobs'));
    }
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
    await syncDir(this.dir);
    return [id];
  }

  /**
   * Rebuilds the index: from the index snapshot plus each blob's tail when the snapshot still
   * describes the files, else from every record. Records that lost to a newer version or to a
   * tombstone are marked REMOVED on disk (a crash can leave them unmarked): a dead record must
   * never need a tombstone to stay dead once compaction drops the tombstones.
   */
  private async loadBlobs(clean: boolean): Promise<void> {
    const t0 = performance.now();
    const discarded = await discardUnfinishedCompactions(this.dir);
    if (discarded.length > 0) this.log?.warn({ files: discarded }, 'unfinished compactions discarded (the blobs they copied are intact)');
    const names = (await fs.readdir(this.dir)).filter((n) => /^data-0\.\d+$/.test(n));
    const indexes = names.map((n) => Number(n.slice('data-0.'.length))).sort((a, b) => a - b);
    if (indexes.length === 0) indexes.push(0);
    const blobs: BlobFile[] = [];
    for (const n of indexes) blobs.push(await BlobFile.open(this.dir, n, 0));
    const snap = await this.usableSnapshot(blobs);
    this.blobs.length = 0;
    this.blobs.push(...blobs);
    // The snapshot's committed records go into the index packed; its prepared ones are read again.
    const preparedByBlob = new Map<number, number[]>();
    if (snap) {
      const committed: number[] = [];
      for (let n = 0; n < snap.entries.count; n++) {
        if (!(snap.entries.flags(n) & RecordFlag.UNCOMMITTED)) committed.push(n);
        else {
          const blobIndex = snap.entries.entry(n).blobIndex;
          const list = preparedByBlob.get(blobIndex);
          if (list) list.push(n);
          else preparedByBlob.set(blobIndex, [n]);
        }
      }
      this.index.adoptPacked(new SnapshotKeys(snap.entries, committed), (i) => this.blobByIndex(i));
    }

    const pendingSeen: PendingRecord[] = [];
    /** Per key, the newest tombstone seen: its seq, and the id. */
    const tombstones = new Map<string, { seq: number; id: Buffer }>();
    const losers: RecordRef[] = [];
    const lose = (ref: RecordRef): void => {
      this.countDead(ref);
      losers.push(ref);
    };
    /** One record; `counted`: found by the scan (the blob's counters do not include it yet). */
    const admit = (blob: BlobFile, r: ScannedRecord, counted: boolean): void => {
      const h = r.header;
      this.seq = Math.max(this.seq, h.seq);
      if (counted) blob.records++;
      const dead = (h.flags & (RecordFlag.REMOVED | RecordFlag.TOMBSTONE)) !== 0 || !r.intact;
      if (!r.intact) this.recordsCorrupted++;
      if (h.flags & RecordFlag.TOMBSTONE) {
        const key = indexKey(h.id);
        if ((tombstones.get(key)?.seq ?? -1) < h.seq) tombstones.set(key, { seq: h.seq, id: h.id });
      }
      if (dead) {
        blob.removedRecords++;
        blob.removedBytes += recordSpan(h.capacity);
        return;
      }
      const ref: RecordRef = { blob, offset: r.offset, header: h, crcs: r.crcs };
      if (h.flags & RecordFlag.UNCOMMITTED) {
        pendingSeen.push({ ...ref, builder: undefined });
        return;
      }
      const prev = this.index.committed(h.id);
      if (prev && prev.header.seq > h.seq) lose(ref);
      else {
        if (prev) lose(prev);
        this.index.setCommitted(h.id, ref);
      }
    };

    let scannedBytes = 0;
    for (const blob of blobs) {
      const covered = snap?.blobs.get(blob.index);
      if (covered) {
        blob.records = covered.records;
        blob.removedRecords = covered.removedRecords;
        blob.removedBytes = covered.removedBytes;
        for (const n of preparedByBlob.get(blob.index) ?? []) {
          // A prepared record may have been committed or removed in place since: read its header again.
          const e = snap!.entries.entry(n);
          const r = await readRecordAt(blob, e.offset);
          if (r) admit(blob, r, false);
          else this.countDead({ blob, offset: e.offset, header: e.header, crcs: undefined });
        }
      }
      const from = covered?.covered ?? 0;
      const scan = await scanBlob(blob, clean ? 0 : UNCLEAN_VERIFY_TAIL, from);
      scannedBytes += scan.end + scan.tornTail - from;
      if (scan.tornTail > 0) await ftruncate(blob.fd, scan.end);
      blob.resetEnd(scan.end);
      this.recordsCorrupted += scan.damagedRegions;
      for (const r of scan.records) admit(blob, r, true);
    }
    if (snap) this.seq = Math.max(this.seq, snap.seq);
    // Deletions shadow older copies that were never marked removed (a crash between the two writes).
    for (const t of tombstones.values()) {
      const c = this.index.committed(t.id);
      if (c && t.seq > c.header.seq) {
        lose(c);
        this.index.setCommitted(t.id, undefined);
      }
    }
    for (const p of pendingSeen) {
      const committedSeq = this.index.committed(p.header.id)?.header.seq ?? -1;
      const deletedSeq = tombstones.get(indexKey(p.header.id))?.seq ?? -1;
      const prev = this.index.get(p.header.id)?.pending;
      if (p.header.seq > committedSeq && p.header.seq > deletedSeq && (!prev || prev.header.seq < p.header.seq)) {
        if (prev) lose(prev);
        this.index.setPending(p.header.id, p);
      } else lose(p);
    }
    for (const ref of losers) await this.writeRemovedMark(ref);
    if (losers.length > 0) {
      await this.syncAll();
      this.log?.info({ records: losers.length }, 'records that lost to newer versions marked removed');
    }
    this.snapshotSeq = snap ? snap.seq : -1;
    this.startedFrom = { snapshot: snap !== undefined, records: this.index.size, scannedBytes, ms: Math.round(performance.now() - t0) };
  }

  /** The snapshot when it still describes every blob it names; else undefined (logged). */
  private async usableSnapshot(blobs: readonly BlobFile[]): Promise<{ seq: number; blobs: Map<number, SnapshotBlob>; entries: SnapshotEntries } | undefined> {
    const snap = await readSnapshot(this.dir);
    if (!snap) return undefined;
    const ignore = (why: string): undefined => {
      this.log?.warn({ dir: this.dir, why }, 'index snapshot ignored: every blob is scanned');
      return undefined;
    };
    if ('unusable' in snap) return ignore(snap.unusable);
    const byIndex = new Map(blobs.map((b) => [b.index, b]));
    for (const s of snap.blobs) {
      const blob = byIndex.get(s.index);
      if (!blob) return ignore(`blob ${BlobFile.fileName(s.index)} is gone`);
      if ((await blob.inode()) !== s.inode) return ignore(`blob ${BlobFile.fileName(s.index)} was replaced`);
      if ((await fileSize(blob.fd)) < s.fileBytes) return ignore(`blob ${BlobFile.fileName(s.index)} is shorter than the snapshot says`);
    }
    return { seq: snap.seq, blobs: new Map(snap.blobs.map((b) => [b.index, b])), entries: snap.entries };
  }

  /** The blob file with this index (blobs are kept in index order). */
  private blobByIndex(index: number): BlobFile {
    let lo = 0;
    let hi = this.blobs.length - 1;
    while (lo <= hi) {
      const mid = (lo + hi) >> 1;
      const b = this.blobs[mid]!;
      if (b.index === index) return b;
      if (b.index < index) lo = mid + 1;
      else hi = mid - 1;
    }
    throw new Error(`backend ${this.id}: the index names blob ${BlobFile.fileName(index)}, which is not open`);
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
    const blob = ref.blob;
    blob.pin(); // a compaction may replace the file meanwhile: this read finishes on the old one
    try {
      await blob.readExact(buf, headroom, to - from, dataOffset(ref) + from);
      if (crcs) this.verifier.verify(ref, buf.subarray(headroom, headroom + (to - from)), from);
    } catch (err) {
      release();
      throw fromFsError(err, `read of ${blob.path}`);
    } finally {
      blob.unpin();
    }
    return { buf, start: headroom + (offset - from), length, ref, release };
  }

  /** SHA-512 of the whole object, verifying its chunks on the way (LOOKUP with the CHECKSUM cflag). */
  async checksum(ref: RecordRef): Promise<Buffer> {
    const hash = createHash('sha512');
    const blob = ref.blob;
    blob.pin();
    try {
      for await (const { bytes, at } of pieces(ref, 0, ref.header.size)) {
        this.verifier.verify(ref, bytes, at);
        hash.update(bytes);
      }
    } finally {
      blob.unpin();
    }
    return hash.digest();
  }

  // ---------------------------------------------------------------------------------------------
  // Writes

  write(w: WriteRequest): Promise<WriteResult> {
    this.assertWritable();
    const f = w.ioFlags;
    return this.gate.run(() => this.locks.run(indexKey(w.id), async () => {
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
    }));
  }

  async remove(id: Buffer): Promise<void> {
    this.assertWritable();
    await this.gate.run(() => this.locks.run(indexKey(id), async () => {
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
    }));
  }

  private async prepare(w: WriteRequest, capacity: number): Promise<PendingRecord> {
    const st = this.index.get(w.id);
    if (st?.pending) await this.markRemoved(st.pending);
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
    await this.durable(p.blob);
    // Once the new version is durable the old one is marked: it must stay dead without a tombstone.
    if (old) await this.markRemoved(old);
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
    await this.durable(blob);
    // Once the new version is durable the old one is marked: it must stay dead without a tombstone.
    if (old) await this.markRemoved(old);
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
    this.countDead(ref);
    await this.writeRemovedMark(ref);
  }

  /** Rewrites a record's header with REMOVED set (one page write: a kill cannot tear it). */
  private async writeRemovedMark(ref: RecordRef): Promise<void> {
    ref.header = { ...ref.header, flags: ref.header.flags | RecordFlag.REMOVED };
    await this.writeRecord(ref.blob, [encodeRecordHeader(ref.header)], ref.offset);
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
  // Defragmentation (DefragHost) and index snapshots

  /** BACKEND_CONTROL start defrag: 0 or -EALREADY. */
  startDefrag(level: number): number {
    this.assertEnabled();
    return this.defrag.start(level);
  }

  stopDefrag(): number {
    return this.defrag.stop();
  }

  liveAt(id: Buffer, blob: BlobFile, offset: number): 'committed' | 'pending' | undefined {
    const st = this.index.get(id);
    if (st?.committed && st.committed.blob === blob && st.committed.offset === offset) return 'committed';
    if (st?.pending && st.pending.blob === blob && st.pending.offset === offset) return 'pending';
    return undefined;
  }

  replaceBlob(old: BlobFile, next: BlobFile | undefined, moved: readonly MovedRecord[]): void {
    const at = this.blobs.indexOf(old);
    if (at < 0) throw new Error(`blob ${old.path} is not part of backend ${this.id}`);
    if (next) this.blobs[at] = next;
    else this.blobs.splice(at, 1);
    for (const m of moved) {
      const ref = this.index.committed(m.id);
      if (!ref || ref.blob !== old || ref.offset !== m.from) continue;
      this.index.setCommitted(m.id, { blob: next!, offset: m.to, header: ref.header, crcs: ref.crcs });
    }
  }

  async dropSnapshot(): Promise<void> {
    this.layoutGeneration++;
    this.snapshotSeq = -1;
    await dropSnapshot(this.dir);
  }

  defragTargets(level: number): Promise<BlobFile[]> {
    return this.gate.exclusive(async () => {
      const pct = this.housekeeping.defragPercentage;
      const wanted = (b: BlobFile): boolean => (level === DefragLevel.FULL ? b.removedRecords > 0 : wantDefrag(b, pct) !== 0);
      const active = this.blobs[this.blobs.length - 1]!;
      // The blob being appended to is closed when it needs the work too: new writes go to a fresh one.
      if (active.size > 0 && wanted(active)) this.openNextBlob();
      return this.blobs.slice(0, -1).filter(wanted);
    });
  }

  wantsDefrag(): boolean {
    const pct = this.housekeeping.defragPercentage;
    // Worth a pass when the blobs past the threshold together hold enough dead bytes to matter.
    let dead = 0;
    for (const b of this.blobs) if (wantDefrag(b, pct) !== 0) dead += b.removedBytes;
    return dead >= AUTO_DEFRAG_MIN_BYTES;
  }

  /**
   * Captures the index with the mutation gate closed (every allocated record is written), makes the
   * blobs durable, writes the snapshot, and installs it unless blob files changed meanwhile.
   */
  saveSnapshot(): Promise<void> {
    this.savingSnapshot ??= this.writeSnapshotNow().finally(() => (this.savingSnapshot = undefined));
    return this.savingSnapshot;
  }

  private async writeSnapshotNow(): Promise<void> {
    const t0 = performance.now();
    const { snap, generation } = await this.gate.exclusive(async () => ({ snap: await this.captureSnapshot(), generation: this.layoutGeneration }));
    await this.syncAll();
    const bytes = await writeSnapshotTemp(this.dir, snap);
    const installed = await this.gate.exclusive(async () => {
      if (generation !== this.layoutGeneration) return false;
      await installSnapshot(this.dir);
      return true;
    });
    if (installed) this.snapshotSeq = snap.seq;
    this.log?.debug({ records: snap.count, bytes, installed, ms: Math.round(performance.now() - t0) }, 'index snapshot written');
  }

  private async captureSnapshot(): Promise<IndexSnapshot> {
    const blobs = [];
    for (const b of this.blobs) {
      blobs.push({ index: b.index, inode: await b.inode(), covered: b.size, fileBytes: await fileSize(b.fd), records: b.records, removedRecords: b.removedRecords, removedBytes: b.removedBytes });
    }
    return { seq: this.seq, blobs, ...this.index.capture() };
  }

  // ---------------------------------------------------------------------------------------------
  // Statistics

  baseSize(): number {
    let n = 0;
    for (const b of this.blobs) n += b.size;
    return n;
  }

  summary(): BackendSummary {
    const pct = this.housekeeping.defragPercentage;
    const blobs = this.blobs.map((b) => ({
      name: BlobFile.fileName(b.index),
      records: b.records,
      removed: b.removedRecords,
      removedSize: b.removedBytes,
      size: b.size,
      wantDefrag: wantDefrag(b, pct),
    }));
    return {
      wantDefrag: blobs.reduce((n, b) => n + b.wantDefrag, 0),
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
    return this.index.committedCount();
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

