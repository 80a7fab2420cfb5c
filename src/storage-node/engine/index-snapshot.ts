// The index snapshot of one backend (`<dir>/index.snapshot`): the live records of every blob as
// they were at a quiet moment, so a start reads one file instead of every record of every blob,
// then scans only what each blob gained since (its tail).
//
//   magic "BRIXSNP1"  u32 version  u32 blob count  u64 seq  u64 entry count
//   blob  × count: u32 index  u64 inode  u64 covered (bytes the snapshot accounts for)
//                  u64 file bytes (the file's length then: a reserved tail may not be written yet)
//                  u64 records  u64 removed records  u64 removed bytes
//   entry × count: id[64]  u32 blob index  u32 record flags  u64 offset  u64 capacity  u64 size
//                  u64 tsec  u64 tnsec  u64 user flags  u64 seq  u32 CRC count (0xffffffff: none)  CRCs
//   u32 crc32 of everything before it  magic "BRIXEND1"
//
// A blob is trusted only while it is the same file (inode) and at least `file bytes` long; the
// writer makes the blobs durable before the snapshot names them. A snapshot that fails its
// checksum, or names another layout, is ignored: the backend scans everything as before.

import fs from 'node:fs';
import path from 'node:path';
import { crc32 } from 'node:zlib';
import { closeFile, fdatasync, openFile, pread, pwriteAll } from './file-io.js';
import { readHeaderNumbers, readNum, writeHeaderNumbers, writeNum, type RecordHeader } from './record.js';

export const SNAPSHOT_FILE = 'index.snapshot';
const MAGIC = Buffer.from('BRIXSNP1');
const END_MAGIC = Buffer.from('BRIXEND1');
const VERSION = 1;
const HEAD_SIZE = 8 + 4 + 4 + 8 + 8;
const BLOB_SIZE = 4 + 8 * 6;
const ENTRY_FIXED = 64 + 4 + 4 + 8 * 7 + 4;
const TRAILER_SIZE = 4 + 8;
const NO_CRCS = 0xffff_ffff;
const CHUNK = 1024 * 1024;

export interface SnapshotBlob {
  index: number;
  inode: number;
  covered: number;
  fileBytes: number;
  records: number;
  removedRecords: number;
  removedBytes: number;
}

export interface SnapshotEntry {
  blobIndex: number;
  offset: number;
  header: RecordHeader;
  crcs: Uint32Array | undefined;
}

export interface IndexSnapshot {
  seq: number;
  blobs: SnapshotBlob[];
  entries: SnapshotEntry[];
}

/**
 * Writes the snapshot into a temporary file next to the blobs and makes it durable; `installSnapshot`
 * then renames it over the current one (the caller decides whether it still describes the files).
 */
export async function writeSnapshotTemp(dir: string, snap: IndexSnapshot): Promise<number> {
  const tmp = path.join(dir, `${SNAPSHOT_FILE}.tmp`);
  const fd = await openFile(tmp, 'w');
  let written = 0;
  let crc = 0;
  let buf = Buffer.allocUnsafe(CHUNK);
  let at = 0;
  const flush = async (): Promise<void> => {
    if (at === 0) return;
    const out = buf.subarray(0, at);
    crc = crc32(out, crc);
    await pwriteAll(fd, [out], written);
    written += at;
    buf = Buffer.allocUnsafe(CHUNK);
    at = 0;
  };
  const room = async (n: number): Promise<void> => {
    if (at + n > buf.length) await flush();
    if (n > buf.length) buf = Buffer.allocUnsafe(n);
  };
  try {
    await room(HEAD_SIZE + BLOB_SIZE * snap.blobs.length);
    MAGIC.copy(buf, at);
    buf.writeUInt32LE(VERSION, at + 8);
    buf.writeUInt32LE(snap.blobs.length, at + 12);
    writeNum(buf, at + 16, snap.seq);
    writeNum(buf, at + 24, snap.entries.length);
    at += HEAD_SIZE;
    for (const b of snap.blobs) {
      buf.writeUInt32LE(b.index, at);
      writeNum(buf, at + 4, b.inode);
      writeNum(buf, at + 12, b.covered);
      writeNum(buf, at + 20, b.fileBytes);
      writeNum(buf, at + 28, b.records);
      writeNum(buf, at + 36, b.removedRecords);
      writeNum(buf, at + 44, b.removedBytes);
      at += BLOB_SIZE;
    }
    for (const e of snap.entries) {
      const n = e.crcs ? e.crcs.length : 0;
      await room(ENTRY_FIXED + 4 * n);
      const h = e.header;
      h.id.copy(buf, at, 0, 64);
      buf.writeUInt32LE(e.blobIndex, at + 64);
      buf.writeUInt32LE(h.flags >>> 0, at + 68);
      writeNum(buf, at + 72, e.offset);
      writeHeaderNumbers(buf, at, h);
      buf.writeUInt32LE(e.crcs ? n : NO_CRCS, at + 128);
      at += ENTRY_FIXED;
      for (let i = 0; i < n; i++, at += 4) buf.writeUInt32LE(e.crcs![i]!, at);
    }
    await flush();
    const trailer = Buffer.alloc(TRAILER_SIZE);
    trailer.writeUInt32LE(crc, 0);
    END_MAGIC.copy(trailer, 4);
    await pwriteAll(fd, [trailer], written);
    written += TRAILER_SIZE;
    await fdatasync(fd);
  } finally {
    await closeFile(fd);
  }
  return written;
}

export async function installSnapshot(dir: string): Promise<void> {
  await fs.promises.rename(path.join(dir, `${SNAPSHOT_FILE}.tmp`), path.join(dir, SNAPSHOT_FILE));
  await syncDir(dir);
}

/** Removes the snapshot (before a change it could no longer describe, e.g. a compaction). */
export async function dropSnapshot(dir: string): Promise<void> {
  await fs.promises.rm(path.join(dir, SNAPSHOT_FILE), { force: true });
  await fs.promises.rm(path.join(dir, `${SNAPSHOT_FILE}.tmp`), { force: true });
  await syncDir(dir);
}

/** The snapshot, or why it cannot be used (undefined when there is none). */
export async function readSnapshot(dir: string): Promise<IndexSnapshot | { unusable: string } | undefined> {
  const file = path.join(dir, SNAPSHOT_FILE);
  let fd: number;
  try {
    fd = await openFile(file, 'r');
  } catch {
    return undefined;
  }
  try {
    const size = (await fs.promises.stat(file)).size;
    if (size < HEAD_SIZE + TRAILER_SIZE) return { unusable: 'too short' };
    const reader = new ChunkReader(fd, size - TRAILER_SIZE);
    const head = await reader.take(HEAD_SIZE);
    if (!head.subarray(0, 8).equals(MAGIC)) return { unusable: 'not an index snapshot' };
    if (head.readUInt32LE(8) !== VERSION) return { unusable: `version ${head.readUInt32LE(8)} is not ${VERSION}` };
    const blobCount = head.readUInt32LE(12);
    const seq = readNum(head, 16);
    const entryCount = readNum(head, 24);
    const blobs: SnapshotBlob[] = [];
    for (let i = 0; i < blobCount; i++) {
      const b = await reader.take(BLOB_SIZE);
      blobs.push({ index: b.readUInt32LE(0), inode: readNum(b, 4), covered: readNum(b, 12), fileBytes: readNum(b, 20), records: readNum(b, 28), removedRecords: readNum(b, 36), removedBytes: readNum(b, 44) });
    }
    const entries: SnapshotEntry[] = [];
    for (let i = 0; i < entryCount; i++) {
      const e = await reader.take(ENTRY_FIXED);
      const count = e.readUInt32LE(128);
      const header = readHeaderNumbers(e, 0, Buffer.from(e.subarray(0, 64)), e.readUInt32LE(68));
      const blobIndex = e.readUInt32LE(64);
      const offset = readNum(e, 72);
      let crcs: Uint32Array | undefined;
      if (count !== NO_CRCS) {
        const raw = await reader.take(4 * count);
        crcs = new Uint32Array(count);
        for (let c = 0; c < count; c++) crcs[c] = raw.readUInt32LE(4 * c);
      }
      entries.push({ blobIndex, offset, header, crcs });
    }
    if (!reader.atEnd) return { unusable: 'bytes after the last entry' };
    const trailer = Buffer.alloc(TRAILER_SIZE);
    await pread(fd, trailer, 0, TRAILER_SIZE, size - TRAILER_SIZE);
    if (!trailer.subarray(4).equals(END_MAGIC)) return { unusable: 'no end marker (the write did not finish)' };
    if (trailer.readUInt32LE(0) !== reader.crc) return { unusable: 'checksum mismatch' };
    return { seq, blobs, entries };
  } catch (err) {
    return { unusable: (err as Error).message };
  } finally {
    await closeFile(fd);
  }
}

/** Sequential reads of a file's first `limit` bytes through a 1 MiB window, with a running CRC. */
class ChunkReader {
  private buf = Buffer.alloc(0);
  private at = 0;
  private fileAt = 0;
  crc = 0;

  constructor(
    private readonly fd: number,
    private readonly limit: number,
  ) {}

  get atEnd(): boolean {
    return this.at === this.buf.length && this.fileAt === this.limit;
  }

  async take(n: number): Promise<Buffer> {
    if (this.at + n > this.buf.length) {
      const rest = this.buf.subarray(this.at);
      const want = Math.min(Math.max(CHUNK, n) - rest.length, this.limit - this.fileAt);
      if (rest.length + want < n) throw new Error('truncated');
      const next = Buffer.allocUnsafe(rest.length + want);
      rest.copy(next, 0);
      const got = await pread(this.fd, next, rest.length, want, this.fileAt);
      if (got < want) throw new Error('truncated');
      this.crc = crc32(next.subarray(rest.length), this.crc);
      this.fileAt += want;
      this.buf = next;
      this.at = 0;
    }
    const out = this.buf.subarray(this.at, this.at + n);
    this.at += n;
    return out;
  }
}

export async function syncDir(dir: string): Promise<void> {
  const fd = await openFile(dir, fs.constants.O_RDONLY | fs.constants.O_DIRECTORY);
  try {
    await fdatasync(fd).catch(() => undefined);
  } finally {
    await closeFile(fd);
  }
}
