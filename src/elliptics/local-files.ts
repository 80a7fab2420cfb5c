// Reads from the blob files of our storage node on the same host (FlagsHigh.LOCATE): the node checks
// a window and says where it lies, this reads it from the file. The node's bytes never cross a
// socket, so a large GET costs one copy from the page cache instead of four.
//
// Why the bytes are the right ones: committed records are never changed in place (an overwrite is
// a new record, a removal flips a flag in the header, a compaction writes a new file and renames it
// over the old one). So the reader compares the record header in the file, read with the data,
// byte for byte with the header the node saw: equal, and the data that follows is that record's.
// Superseded, removed or moved meanwhile, and the headers differ: the caller reads through the node.
//
// Descriptors are kept open per path (one open per file, not per read) and dropped when their file
// was replaced or deleted — checked when a header does not match, and by a sweep every second, so the
// space of a compacted-away blob comes back about when the compaction ends (a full disk needs it).
// A descriptor is closed only once no read uses it (its number could otherwise be reused by another
// file mid-read).
//
// When the node says it read the window's bytes a moment ago (FlagsHigh.WARM), they are in the page
// cache and the read is done on the event loop: libuv's thread pool costs a handoff each way (five
// futex calls and an eventfd per read, measured), more than copying 1 MiB from the cache. A window
// the node did not just read may have to come from the disk, and that must not stall the loop.

import fs from 'node:fs';
import { promisify } from 'node:util';
import type { IoAttr } from './protocol/io-attr.js';
import type { Location } from './protocol/location.js';
import { BufferPool } from '../util/buffer-pool.js';
import { KeptLocations } from './kept-locations.js';

const read = promisify(fs.read);
const open = promisify(fs.open);
const fstat = promisify(fs.fstat);
const stat = promisify(fs.stat);

interface Descriptor {
  fd: number;
  ino: number;
  users: number;
  stale: boolean;
}

/** Memory for the reads (returned by ReadReply.release once the bytes were sent). */
const buffers = new BufferPool(16 * 1024 * 1024);

/** The largest warm read done on the event loop (a window of the client's 1 MiB reads and its record header fit). */
const INLINE_READ_MAX = 2 * 1024 * 1024;

export interface LocalRead {
  /** The window's bytes. */
  data: Buffer;
  /** Gives the memory back once nothing refers to `data`. */
  release: () => void;
}

/** readRecord on the event loop (a buffer not given back when a read throws is left to the GC). */
function readRecordSync(fd: number, loc: Location, windowOffset: number, length: number): LocalRead | undefined {
  const h = loc.header.length;
  if (windowOffset === 0) {
    const buf = buffers.acquire(h + length);
    return recordRead(buf, loc, length, fs.readSync(fd, buf, 0, h + length, loc.recordOffset));
  }
  const head = Buffer.allocUnsafe(h);
  const buf = buffers.acquire(length);
  const got = fs.readSync(fd, buf, 0, length, loc.recordOffset + h + windowOffset);
  return windowRead(head, fs.readSync(fd, head, 0, h, loc.recordOffset), buf, length, got, loc);
}

/** `buf` holds the record header and the window after it (`n` bytes read): the window, if the header is the one the node saw. */
function recordRead(buf: Buffer, loc: Location, length: number, n: number): LocalRead | undefined {
  const h = loc.header.length;
  const release = (): void => buffers.release(buf);
  if (n !== h + length || !buf.subarray(0, h).equals(loc.header)) {
    release();
    return undefined;
  }
  return { data: buf.subarray(h, h + length), release };
}

/** The header and the window read apart: the window, if both are whole and the header is the one the node saw. */
function windowRead(head: Buffer, headBytes: number, buf: Buffer, length: number, bytes: number, loc: Location): LocalRead | undefined {
  const release = (): void => buffers.release(buf);
  if (headBytes !== head.length || bytes !== length || !head.equals(loc.header)) {
    release();
    return undefined;
  }
  return { data: buf.subarray(0, length), release };
}

export class LocalFiles {
  private readonly open = new Map<string, Descriptor>();
  /** Files preopen is opening. */
  private readonly opening = new Set<string>();
  private readonly timer: NodeJS.Timeout;
  /** Windows the node let us keep (FlagsHigh.KEEP), read again with readKept. */
  readonly kept = new KeptLocations();
  /** Reads served from the files, and those that fell back to the node (a header that differed, a file gone). */
  served = 0;
  missed = 0;
  /** Of the served reads, those done on the event loop (warm), and of those the ones the node was not asked for (kept). */
  inline = 0;
  keptReads = 0;

  constructor(
    /** Only files below this directory are opened (the node's own). */
    private readonly root: string,
    sweepMs = 1000,
  ) {
    this.timer = setInterval(() => void this.sweep(), sweepMs);
    this.timer.unref();
  }

  /**
   * The bytes [windowOffset, +length) of the record the node located, read from its file; undefined
   * when the record there is no longer the one the node checked (then read through the node).
   * `warm`: the node read these bytes a moment ago (FlagsHigh.WARM).
   */
  async read(loc: Location, windowOffset: number, length: number, warm = false): Promise<LocalRead | undefined> {
    if (!loc.path.startsWith(this.root)) return this.miss();
    for (let attempt = 0; attempt < 2; attempt++) {
      let d: Descriptor | undefined;
      try {
        d = await this.acquire(loc.path, attempt > 0);
      } catch {
        return this.miss(); // the file is gone (compacted away, deleted)
      }
      try {
        const inline = warm && loc.header.length + length <= INLINE_READ_MAX;
        const got = inline ? readRecordSync(d.fd, loc, windowOffset, length) : await this.readRecord(d.fd, loc, windowOffset, length);
        if (got) {
          this.served++;
          if (inline) this.inline++;
          return got;
        }
        // Another file under that name now, or the record changed: look again with a fresh descriptor.
        d.stale = true;
      } catch {
        d.stale = true;
      } finally {
        this.releaseDescriptor(loc.path, d);
      }
    }
    return this.miss();
  }

  /**
   * A kept window (KeptLocations) read again without asking the node, on the event loop (the node
   * verified its bytes within the verify-ttl, so it read them then) — or undefined: the record there
   * is no longer that one (superseded, removed), or the file is no longer the node's (its last link
   * is gone: a compaction renamed another over it, and the node's changes since went there — checked
   * after the read, so a replacement made before the read began is always seen), or it is not open
   * yet (it is opened now, in the background: a read never waits on an open here).
   */
  readKept(loc: Location, windowOffset: number, length: number): LocalRead | undefined {
    if (!loc.path.startsWith(this.root) || loc.header.length + length > INLINE_READ_MAX) return undefined;
    const d = this.open.get(loc.path);
    if (!d || d.stale) {
      this.preopen(loc.path);
      return undefined;
    }
    d.users++;
    try {
      const got = readRecordSync(d.fd, loc, windowOffset, length);
      if (got && fs.fstatSync(d.fd).nlink > 0) {
        this.served++;
        this.inline++;
        this.keptReads++;
        return got;
      }
      if (got) {
        got.release();
        d.stale = true;
      }
      return undefined;
    } catch {
      d.stale = true;
      return undefined;
    } finally {
      this.releaseDescriptor(loc.path, d);
    }
  }

  /**
   * Keeps a window the node let us keep (FlagsHigh.KEEP) for readKept — one that may be read on the
   * event loop — and opens its file meanwhile, so that the next read finds it open.
   */
  keep(group: number, id: Buffer, asked: { offset: number; size: number; ioFlags: number }, io: IoAttr, loc: Location): void {
    if (!loc.path.startsWith(this.root) || loc.header.length + io.size > INLINE_READ_MAX) return;
    this.kept.keep(group, id, asked.offset, asked.size, asked.ioFlags, io, loc);
    this.preopen(loc.path);
  }

  /** Opens the file in the background, unless it is open. */
  private preopen(path: string): void {
    const d = this.open.get(path);
    if ((d && !d.stale) || this.opening.has(path) || !path.startsWith(this.root)) return;
    this.opening.add(path);
    this.acquire(path, false).then(
      (opened) => this.releaseDescriptor(path, opened),
      () => undefined,
    ).finally(() => this.opening.delete(path));
  }

  private miss(): undefined {
    this.missed++;
    return undefined;
  }

  /** Header and window in one read when the window starts the data, else two. */
  private async readRecord(fd: number, loc: Location, windowOffset: number, length: number): Promise<LocalRead | undefined> {
    const h = loc.header.length;
    if (windowOffset === 0) {
      const buf = buffers.acquire(h + length);
      return recordRead(buf, loc, length, (await read(fd, buf, 0, h + length, loc.recordOffset)).bytesRead);
    }
    const head = Buffer.allocUnsafe(h);
    const buf = buffers.acquire(length);
    const [a, b] = await Promise.all([read(fd, head, 0, h, loc.recordOffset), read(fd, buf, 0, length, loc.recordOffset + h + windowOffset)]);
    return windowRead(head, a.bytesRead, buf, length, b.bytesRead, loc);
  }

  private async acquire(path: string, fresh: boolean): Promise<Descriptor> {
    let d = this.open.get(path);
    if (d && (d.stale || fresh)) {
      d.stale = true;
      this.open.delete(path);
      this.closeIfUnused(d);
      d = undefined;
    }
    if (!d) {
      const fd = await open(path, 'r');
      const opened: Descriptor = { fd, ino: (await fstat(fd)).ino, users: 0, stale: false };
      // Another read may have opened it meanwhile: keep one.
      const other = this.open.get(path);
      if (other && !other.stale) {
        fs.close(fd, () => undefined);
        d = other;
      } else {
        this.open.set(path, opened);
        d = opened;
      }
    }
    d.users++;
    return d;
  }

  private releaseDescriptor(path: string, d: Descriptor): void {
    d.users--;
    if (d.stale && this.open.get(path) === d) this.open.delete(path);
    this.closeIfUnused(d);
  }

  private closeIfUnused(d: Descriptor): void {
    if (d.stale && d.users === 0 && d.fd >= 0) {
      const fd = d.fd;
      d.fd = -1;
      fs.close(fd, () => undefined);
    }
  }

  /** Drops descriptors of files replaced (a compaction's rename) or deleted since they were opened. */
  private async sweep(): Promise<void> {
    for (const [path, d] of [...this.open]) {
      let gone = false;
      try {
        const [now, held] = await Promise.all([stat(path), fstat(d.fd)]);
        gone = now.ino !== d.ino || held.nlink === 0;
      } catch {
        gone = true;
      }
      if (gone && this.open.get(path) === d) {
        d.stale = true;
        this.open.delete(path);
        this.closeIfUnused(d);
      }
    }
  }

  close(): void {
    clearInterval(this.timer);
    this.kept.clear();
    for (const d of this.open.values()) {
      d.stale = true;
      this.closeIfUnused(d);
    }
    this.open.clear();
  }
}
