// One backend: a directory of blob files serving one group. This is the storage API the node's
// command handlers call; it knows nothing about the wire. The work is done by its parts, one
// concept each, over one shared state (state.ts):
//
//   write-path.ts    writes: whole objects, offsets and appends, PREPARE / PLAIN_WRITE / COMMIT
//   read-path.ts     reads of a range, verified per 64 KiB chunk; SHA-512 on request
//   removal.ts       removal in place: the record becomes a TOMBSTONE with the removal's time
//   walk.ts          a walk over the keys (ITERATOR)
//   index-loader.ts  start-up: the index from the snapshot and the blobs' tails, or a full scan
//   housekeeping.ts  fsync and snapshot timers, what defragmentation asks, space statistics
//   blob-set.ts      the blob files: allocation, rotation, limits, durability
//   backend-dir.ts   the directory's lock, ring ids and clean-stop marker

import fs from 'node:fs/promises';
import path from 'node:path';
import type { SyncPolicy } from '../../config/sync-policy.js';
import { Errno, RecordFlags } from '../../elliptics/protocol/constants.js';
import { type DnetTime, timeNow } from '../../elliptics/protocol/time.js';
import { BufferPool } from '../../util/buffer-pool.js';
import type { Logger } from '../../util/logger.js';
import { leaveCleanly, loadIds, lockDir, takeCleanMarker } from './backend-dir.js';
import type { BlobFile } from './blob-file.js';
import { ChunkVerifier } from './chunk-verifier.js';
import type { MovedRecord } from './compaction.js';
import { Defragmenter, type DefragHost } from './defrag.js';
import { Housekeeping, type BackendSummary } from './housekeeping.js';
import { loadIndex } from './index-loader.js';
import { recordTime, type RecordRef } from './key-index.js';
import type { MutationGate } from './mutation-gate.js';
import { ReadPath, type LocateOptions, type Located, type ReadResult } from './read-path.js';
import { RecordFlag, type RecordHeader } from './record.js';
import { removeKey, type RemoveOptions } from './removal.js';
import { BackendState } from './state.js';
import { StorageError } from './storage-error.js';
import { KeyWalk, type WalkOptions } from './walk.js';
import { WritePath, type WriteRequest, type WriteResult } from './write-path.js';

export type { BackendSummary, ReadResult, WriteRequest, WriteResult };

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
  /** Seconds a removal is remembered (to order it against writes in other groups); 0: for ever. */
  tombstoneTtl?: number;
  /** Free filesystem bytes writes leave to compaction and removals (see BlobLimits); 0: none. */
  freeSpaceReserve?: number;
  log?: Logger;
}

/** Defaults of the housekeeping settings (the node config declares the same keys with these). */
export const DEFRAG_DEFAULTS = { percentage: 25, timeout: 300, snapshotInterval: 300 } as const;
/** A removal is remembered 30 days: time enough for hints and `backrunner recover` to reach every replica. */
export const DEFAULT_TOMBSTONE_TTL = 30 * 24 * 3600;
/** Room a full disk keeps for compaction: enough to copy the live records of a small blob. */
export const DEFAULT_FREE_SPACE_RESERVE = 64 * 1024 * 1024;

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
  readonly defrag: Defragmenter;
  /** How the last start found the index: from a snapshot (and how many tail bytes it scanned) or by a full scan. */
  startedFrom: { snapshot: boolean; records: number; scannedBytes: number; ms: number } = { snapshot: false, records: 0, scannedBytes: 0, ms: 0 };

  private readonly state: BackendState;
  private readonly writes: WritePath;
  private readonly reads: ReadPath;
  private readonly chores: Housekeeping;
  private readonly log: Logger | undefined;

  constructor(private readonly opts: BackendOptions) {
    this.log = opts.log;
    this.id = opts.id;
    this.group = opts.group;
    this.dir = path.resolve(opts.dir);
    this.readOnly = opts.readOnly;
    this.delay = opts.delay;
    this.state = new BackendState(this.dir, { blobSize: opts.blobSize, blobSizeLimit: opts.blobSizeLimit, sync: opts.sync, freeSpaceReserve: opts.freeSpaceReserve ?? 0 }, opts.tombstoneTtl ?? DEFAULT_TOMBSTONE_TTL);
    this.writes = new WritePath(this.state);
    this.reads = new ReadPath(this.state, new ChunkVerifier(opts.verifyTtl), opts.buffers ?? new BufferPool(), opts.log);
    this.chores = new Housekeeping(this.state, {
      sync: opts.sync,
      defragPercentage: opts.defragPercentage ?? DEFRAG_DEFAULTS.percentage,
      defragTimeout: opts.defragTimeout ?? DEFRAG_DEFAULTS.timeout,
      defragRateLimit: opts.defragRateLimit ?? 0,
      snapshotInterval: opts.snapshotInterval ?? DEFRAG_DEFAULTS.snapshotInterval,
      verifyTtl: opts.verifyTtl,
    }, opts.log);
    this.state.invalidateSnapshot = () => this.chores.dropSnapshot();
    this.defrag = new Defragmenter(this, { timeoutSeconds: this.chores.settings.defragTimeout, rateLimit: this.chores.settings.defragRateLimit, log: opts.log });
  }

  get options(): Readonly<BackendOptions> {
    return this.opts;
  }

  /** The defragmentation and snapshot settings, defaults filled in. */
  get housekeeping(): Readonly<{ defragPercentage: number; defragTimeout: number; defragRateLimit: number; snapshotInterval: number }> {
    return this.chores.settings;
  }

  /** Absolute path prefix of the blob files (`<dir>/data`), as eblob's `data` option. */
  get dataPrefix(): string {
    return path.join(this.dir, 'data');
  }

  get gate(): MutationGate {
    return this.state.gate;
  }

  get recordsCorrupted(): number {
    return this.state.recordsCorrupted;
  }

  // ---------------------------------------------------------------------------------------------
  // Life cycle

  async start(): Promise<void> {
    if (this.enabled) return;
    this.lastStart = timeNow();
    try {
      await fs.mkdir(this.dir, { recursive: true });
      await lockDir(this.dir);
      this.ids = await loadIds(this.dir);
      const loaded = await loadIndex(this.state, await takeCleanMarker(this.dir), this.log);
      this.chores.snapshotSeq = loaded.snapshotSeq;
      await this.state.blobs.readFsAvail();
      this.startedFrom = loaded.startedFrom;
      this.chores.startTimers();
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
    this.enabled = false;
    // A clean stop leaves a snapshot (taken once the mutations in flight are done): the next start
    // reads it instead of every record.
    await this.chores.stop();
    await this.state.blobs.closeAll();
    this.state.index = this.state.newIndex();
    await leaveCleanly(this.dir);
  }

  // ---------------------------------------------------------------------------------------------
  // Reads

  /** The committed record of `id`; -ENOENT when absent. */
  committed(id: Buffer): RecordRef {
    this.assertEnabled();
    return this.reads.committed(id);
  }

  /** LOOKUP: a real node refuses zero-size records with -ENOENT. */
  lookup(id: Buffer): RecordRef {
    const ref = this.committed(id);
    if (ref.header.size === 0) throw new StorageError(Errno.ENOENT, 'zero-size record');
    return ref;
  }

  read(id: Buffer, offset: number, size: number, verify: boolean, headroom: number): Promise<ReadResult> {
    this.assertEnabled();
    return this.reads.read(id, offset, size, verify, headroom);
  }

  /** A window checked as `read` checks it, its bytes left on disk (FlagsHigh.LOCATE); a small one read (see ReadPath.locate). */
  locate(id: Buffer, offset: number, size: number, opts: LocateOptions): Promise<Located | { read: ReadResult; keep: boolean }> {
    this.assertEnabled();
    return this.reads.locate(id, offset, size, opts);
  }

  /** The live record whose data starts at `dataOffset` of blob file `file`, pinned (a redirect target). */
  liveRecordAt(file: string, dataOffset: number): Promise<{ ref: RecordRef; unpin: () => void } | undefined> {
    if (!this.enabled) return Promise.resolve(undefined);
    return this.reads.liveRecordAt(file, dataOffset);
  }

  /** A walk over the keys as they are now (ITERATOR); see walk.ts. */
  walk(opts: WalkOptions): KeyWalk {
    this.assertEnabled();
    return new KeyWalk(this.state.index, opts);
  }

  /** SHA-512 of the whole object, verifying its chunks on the way (LOOKUP with the CHECKSUM cflag). */
  checksum(ref: RecordRef): Promise<Buffer> {
    return this.reads.checksum(ref);
  }

  // ---------------------------------------------------------------------------------------------
  // Mutations

  write(w: WriteRequest): Promise<WriteResult> {
    this.assertWritable();
    return this.writes.write(w);
  }

  /** Removes `id` in place, remembering when (the DEL's timestamp, else now). */
  async remove(id: Buffer, opts: RemoveOptions = {}): Promise<void> {
    this.assertWritable();
    await removeKey(this.state, id, opts);
  }

  /** When `id` was removed, while the removal is remembered and nothing was written since. */
  removedAt(id: Buffer): DnetTime | undefined {
    this.assertEnabled();
    const ref = this.state.index.removed(id);
    return ref && recordTime(ref);
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

  liveAt(id: Buffer, blob: BlobFile, offset: number): 'committed' | 'pending' | 'removed' | undefined {
    const st = this.state.index.peek(id);
    const at = (ref: RecordRef | undefined): boolean => ref !== undefined && ref.blob === blob && ref.offset === offset;
    if (at(st?.committed)) return 'committed';
    if (at(st?.pending)) return 'pending';
    if (at(st?.removed)) return 'removed';
    return undefined;
  }

  removalOf(id: Buffer): RecordHeader | undefined {
    return this.state.index.removed(id)?.header;
  }

  replaceBlob(old: BlobFile, next: BlobFile | undefined, moved: readonly MovedRecord[]): void {
    this.state.blobs.replace(old, next);
    for (const m of moved) {
      if (m.removal) {
        const ref = this.state.index.removed(m.id);
        if (ref && ref.blob === old && ref.offset === m.from) this.state.index.setRemoved(m.id, { blob: next!, offset: m.to, header: m.removal, crcs: undefined });
        continue;
      }
      this.state.index.relocate(m.id, old, m.from, next!, m.to);
    }
  }

  dropSnapshot(): Promise<void> {
    return this.chores.dropSnapshot();
  }

  defragTargets(level: number): Promise<BlobFile[]> {
    return this.chores.defragTargets(level);
  }

  wantsDefrag(): boolean {
    return this.chores.wantsDefrag();
  }

  saveSnapshot(): Promise<void> {
    return this.chores.saveSnapshot();
  }

  syncAll(): Promise<void> {
    return this.state.blobs.syncAll();
  }

  // ---------------------------------------------------------------------------------------------
  // Statistics

  baseSize(): number {
    return this.state.blobs.baseSize();
  }

  summary(): BackendSummary {
    return this.chores.summary();
  }

  /** Number of live keys (committed records). */
  get keys(): number {
    return this.state.index.committedCount();
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
