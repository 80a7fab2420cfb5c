// One append-only blob file (`data-0.<n>`): space is handed out front to back, records are written
// at their reserved positions, and fsyncs are batched so concurrent writers share one.

import fs from 'node:fs';
import path from 'node:path';
import { closeFile, fdatasync, openFile, pread, preadExact, pwriteAllSync } from './file-io.js';
import { WriteLane } from './write-lane.js';

/** Largest read served inline (see readExact). */
const INLINE_READ_MAX = 64 * 1024;
/** Largest write done inline (see write). */
const INLINE_WRITE_MAX = 64 * 1024;

export class BlobFile {
  /** End of the space handed out so far (the file may be shorter while writes are in flight). */
  private end: number;
  /** Writes completed so far, and how many of them an fdatasync has covered. */
  private writesDone = 0;
  private writesSynced = 0;
  private syncing: Promise<void> | undefined;
  /** Bytes of records that are removed or superseded (dead space). */
  removedBytes = 0;
  removedRecords = 0;
  records = 0;
  /** Reads in progress; a retired file (replaced by its compacted copy) closes when they are done. */
  private pins = 0;
  private retired = false;
  /** The larger writes, one at a time (write-lane.ts). */
  private readonly lane: WriteLane;

  constructor(
    readonly index: number,
    readonly path: string,
    readonly fd: number,
    size: number,
  ) {
    this.end = size;
    this.lane = new WriteLane(fd);
  }

  static fileName(index: number): string {
    return `data-0.${index}`;
  }

  static async open(dir: string, index: number, size: number): Promise<BlobFile> {
    const file = path.resolve(dir, BlobFile.fileName(index));
    const fd = await openFile(file, 'a+');
    // 'a+' would force appends; reopen for positional writes now that the file surely exists.
    await closeFile(fd);
    return new BlobFile(index, file, await openFile(file, 'r+'), size);
  }

  /** Creates the next blob file of a backend (rotation happens on the write path, so synchronously). */
  static openSync(dir: string, index: number): BlobFile {
    const file = path.resolve(dir, BlobFile.fileName(index));
    fs.closeSync(fs.openSync(file, 'a'));
    return new BlobFile(index, file, fs.openSync(file, 'r+'), 0);
  }

  get size(): number {
    return this.end;
  }

  /** Reserves `span` bytes and returns where they start. */
  allocate(span: number): number {
    const at = this.end;
    this.end += span;
    return at;
  }

  /**
   * Gives back space handed out at `at` whose write failed (a full disk), when nothing was handed
   * out after it; otherwise it stays a hole that the next start skips.
   */
  unallocate(at: number, span: number): void {
    if (this.end === at + span) this.end = at;
  }

  /** Cuts the file back to `size` after a startup scan found a torn tail. */
  resetEnd(size: number): void {
    this.end = size;
  }

  /**
   * Writes the buffers at `position`. Up to INLINE_WRITE_MAX bytes are written synchronously, as
   * small reads are read: into the page cache that takes microseconds, while the thread-pool hop
   * costs several times that (bench/node: 4 KiB writes, 16 in flight, 12–15k → 26–28k ops/s).
   * Durability is the same: either way the write is acknowledged once the kernel has the bytes.
   * Larger ones go to the thread pool one at a time per file, contiguous ones together (WriteLane),
   * and so do small ones while the lane is writing.
   */
  async write(buffers: readonly Buffer[], position: number): Promise<void> {
    let total = 0;
    for (const b of buffers) total += b.length;
    // While the lane writes, an inline write would wait for the file's lock on the event loop.
    if (total <= INLINE_WRITE_MAX && !this.lane.busy) pwriteAllSync(this.fd, buffers, position);
    else await this.lane.write(buffers, position, total);
    this.writesDone++;
  }

  /**
   * Reads exactly `length` bytes. Reads up to INLINE_READ_MAX bytes are done synchronously: from the
   * page cache they take a few microseconds, while a hop through libuv's thread pool costs more
   * than the copy itself (a 4 KiB read runs ~1.8x faster this way, see bench/node).
   */
  readExact(buf: Buffer, offset: number, length: number, position: number): Promise<void> {
    if (length <= INLINE_READ_MAX) {
      try {
        let done = 0;
        while (done < length) {
          const n = fs.readSync(this.fd, buf, offset + done, length - done, position + done);
          if (n === 0) throw Object.assign(new Error(`short read at ${position + done}`), { code: 'ENODATA' });
          done += n;
        }
        return Promise.resolve();
      } catch (err) {
        return Promise.reject(err);
      }
    }
    return preadExact(this.fd, buf, offset, length, position);
  }

  read(buf: Buffer, offset: number, length: number, position: number): Promise<number> {
    return pread(this.fd, buf, offset, length, position);
  }

  /**
   * Makes every write that completed before this call durable. Callers that arrive while an
   * fdatasync runs share the next one (group commit).
   */
  async sync(): Promise<void> {
    const target = this.writesDone;
    while (this.writesSynced < target) {
      if (this.syncing) {
        await this.syncing.catch(() => undefined);
        continue;
      }
      const covers = this.writesDone;
      this.syncing = fdatasync(this.fd).then(
        () => {
          this.writesSynced = Math.max(this.writesSynced, covers);
          this.syncing = undefined;
        },
        (err: unknown) => {
          this.syncing = undefined;
          throw err;
        },
      );
      await this.syncing;
    }
  }

  get needsSync(): boolean {
    return this.writesSynced < this.writesDone;
  }

  async close(): Promise<void> {
    await this.sync().catch(() => undefined);
    await closeFile(this.fd);
  }

  /** Marks a read that uses the descriptor: a retired file stays open until its reads are done. */
  pin(): void {
    this.pins++;
  }

  unpin(): void {
    if (--this.pins === 0 && this.retired) void closeFile(this.fd).catch(() => undefined);
  }

  /**
   * The file was replaced (a compacted copy renamed over it, or it was deleted): reads that started
   * on it finish on the old bytes, then the descriptor is closed.
   */
  retire(): void {
    if (this.retired) return;
    this.retired = true;
    if (this.pins === 0) void closeFile(this.fd).catch(() => undefined);
  }

  /** The descriptor's inode: an index snapshot is valid for a blob only while it is the same file. */
  inode(): Promise<number> {
    return new Promise((resolve, reject) => fs.fstat(this.fd, (err, st) => (err ? reject(err) : resolve(st.ino))));
  }
}
