// The blob files of one backend, oldest first: where the next record goes (rotation at
// `blob-size`, the `blob-size-limit` check), which file an index entry names, and the fsync policy.
// Every path that writes — writes, removal, start-up repairs, compaction — goes through here.

import type { SyncPolicy } from '../../config/sync-policy.js';
import { Errno } from '../../elliptics/protocol/constants.js';
import fs from 'node:fs/promises';
import { BlobFile } from './blob-file.js';
import { StorageError } from './storage-error.js';

export interface BlobLimits {
  /** A blob file is closed for appends once it reaches this size. */
  blobSize: number;
  /** Total bytes of blob files; writes beyond it fail with -ENOSPC. 0 = no limit. */
  blobSizeLimit: number;
  sync: SyncPolicy;
  /**
   * Free bytes of the filesystem that writes leave to compaction and removals (-ENOSPC once a write
   * would eat into them), so that a full disk can still copy a blob's live records and get space
   * back. 0 = none.
   */
  freeSpaceReserve?: number;
}

/** How often the filesystem's free space is read again (allocations count it down meanwhile). */
const STATFS_EVERY_MS = 1000;

/**
 * The free space of one filesystem, shared by every backend of the process that lives on it: each
 * allocation counts it down at once (backends on one disk must not each spend the same free bytes),
 * and statfs reads the truth again every second.
 */
class FsSpace {
  avail = Infinity;
  private readAt = 0;
  private reading = false;

  constructor(private readonly dir: string) {}

  refresh(): void {
    const now = Date.now();
    if (this.reading || now - this.readAt < STATFS_EVERY_MS) return;
    this.reading = true;
    this.readAt = now;
    fs.statfs(this.dir).then(
      (st) => (this.avail = st.bavail * st.bsize),
      () => undefined,
    ).finally(() => (this.reading = false));
  }

  async read(): Promise<void> {
    const st = await fs.statfs(this.dir).catch(() => undefined);
    if (st) this.avail = st.bavail * st.bsize;
    this.readAt = Date.now();
  }
}

/** Filesystems by device number. */
const filesystems = new Map<number, FsSpace>();

export class BlobSet {
  private list: BlobFile[] = [];
  /** The filesystem the blobs live on (known once the backend started). */
  private space: FsSpace | undefined;

  constructor(
    readonly dir: string,
    private readonly limits: BlobLimits,
  ) {}

  /** Every blob, in index order (the last one takes the appends). */
  get all(): readonly BlobFile[] {
    return this.list;
  }

  get active(): BlobFile {
    return this.list[this.list.length - 1]!;
  }

  /** The blobs the index will be built from (start-up). */
  adopt(blobs: readonly BlobFile[]): void {
    this.list = [...blobs];
  }

  /** The blob file with this index (blobs are kept in index order). */
  byIndex(index: number): BlobFile {
    let lo = 0;
    let hi = this.list.length - 1;
    while (lo <= hi) {
      const mid = (lo + hi) >> 1;
      const b = this.list[mid]!;
      if (b.index === index) return b;
      if (b.index < index) lo = mid + 1;
      else hi = mid - 1;
    }
    throw new Error(`the index names blob ${BlobFile.fileName(index)} in ${this.dir}, which is not open`);
  }

  /**
   * Hands out space for a record, opening the next blob file when the current one is full.
   * `useReserve`: a removal may eat into the free-space reserve (it frees space in the end).
   */
  allocate(span: number, dataSize: number, useReserve = false): { blob: BlobFile; offset: number } {
    const limit = this.limits.blobSizeLimit;
    const used = limit > 0 ? this.baseSize() : 0;
    if (limit > 0 && used + span > limit) {
      throw new StorageError(Errno.ENOSPC, `blob-size-limit ${limit} reached (${used} used, ${dataSize} more wanted)`);
    }
    const reserve = this.limits.freeSpaceReserve ?? 0;
    const space = this.space;
    if (reserve > 0 && space) {
      space.refresh();
      if (!useReserve && space.avail - span < reserve) {
        throw new StorageError(Errno.ENOSPC, `the filesystem of ${this.dir} has ${Math.max(0, Math.round(space.avail))} bytes free, ${reserve} of them kept for compaction (free-space-reserve)`);
      }
      space.avail -= span;
    }
    let blob = this.active;
    if (blob.size > 0 && blob.size + span > this.limits.blobSize) blob = this.openNext();
    return { blob, offset: blob.allocate(span) };
  }

  /** Finds the filesystem and reads its free space (at start, before a write is judged against the reserve). */
  async readFsAvail(): Promise<void> {
    const dev = (await fs.stat(this.dir)).dev;
    let space = filesystems.get(dev);
    if (!space) filesystems.set(dev, (space = new FsSpace(this.dir)));
    this.space = space;
    await space.read();
  }

  /** Closes the active blob for appends: the next record goes to a fresh file. */
  openNext(): BlobFile {
    // Opening is synchronous from the caller's point of view: reserve the slot now, open lazily.
    const next = BlobFile.openSync(this.dir, this.active.index + 1);
    this.list.push(next);
    return next;
  }

  /** Puts `next` in place of `old` (undefined: the blob is gone). */
  replace(old: BlobFile, next: BlobFile | undefined): void {
    const at = this.list.indexOf(old);
    if (at < 0) throw new Error(`blob ${old.path} is not part of the backend in ${this.dir}`);
    if (next) this.list[at] = next;
    else this.list.splice(at, 1);
  }

  baseSize(): number {
    let n = 0;
    for (const b of this.list) n += b.size;
    return n;
  }

  async syncAll(): Promise<void> {
    for (const blob of this.list) if (blob.needsSync) await blob.sync();
  }

  /** With `sync: "always"`, the bytes written so far to `blob` reach the disk before this resolves. */
  async durable(blob: BlobFile): Promise<void> {
    if (this.limits.sync === 'always') await blob.sync();
  }

  async closeAll(): Promise<void> {
    for (const blob of this.list) await blob.close();
    this.list = [];
  }
}
