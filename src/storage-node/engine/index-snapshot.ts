// The index snapshot of one backend (`<dir>/index.snapshot`): the live records of every blob (and
// the remembered removals) as they were at a quiet moment, so a start reads one file instead of every record of every blob,
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
import { closeFile, fdatasync, openFile, pwriteAll, syncDir } from './file-io.js';
import { readHeaderNumbers, readNum, writeHeaderNumbers, writeNum, type RecordHeader } from './record.js';

export const SNAPSHOT_FILE = 'index.snapshot';
const MAGIC = Buffer.from('BRIXSNP1');
const END_MAGIC = Buffer.from('BRIXEND1');
/** 2: entries may be remembered removals (flag TOMBSTONE); a version-1 snapshot is ignored (full scan). */
const VERSION = 2;
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
  count: number;
  /** `count` entries, encoded as they come (the writer pauses at every MiB written). */
  entries: Iterable<SnapshotEntry>;
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
    writeNum(buf, at + 24, snap.count);
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
    let entriesWritten = 0;
    for (const e of snap.entries) {
      entriesWritten++;
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
    if (entriesWritten !== snap.count) throw new Error(`index snapshot: ${entriesWritten} entries where ${snap.count} were announced`);
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

/** A snapshot as read back: its entries stay packed in the file's bytes (see SnapshotEntries). */
export interface LoadedSnapshot {
  seq: number;
  blobs: SnapshotBlob[];
  entries: SnapshotEntries;
}

/**
 * The entries of a snapshot as read, left in the file's bytes: a start with a million records
 * builds no object per record. `entry(n)` decodes one when it is needed.
 */
export class SnapshotEntries {
  /** `buf` as 32-bit words, when it is aligned for that (entries start on 4-byte boundaries). */
  private readonly words: Uint32Array | undefined;

  constructor(
    private readonly buf: Buffer,
    /** Byte position of each entry in `buf`. */
    private readonly starts: Float64Array,
  ) {
    const littleEndian = new Uint8Array(new Uint32Array([1]).buffer)[0] === 1;
    this.words = littleEndian && buf.byteOffset % 4 === 0 ? new Uint32Array(buf.buffer, buf.byteOffset, buf.length >>> 2) : undefined;
  }

  get count(): number {
    return this.starts.length;
  }

  flags(n: number): number {
    return this.buf.readUInt32LE(this.starts[n]! + 68);
  }

  /** Whether entries `n` and `m` name the same id. */
  sameId(n: number, m: number): boolean {
    const a = this.starts[n]!;
    const b = this.starts[m]!;
    return this.buf.compare(this.buf, b, b + 64, a, a + 64) === 0;
  }

  /** Whether entry `n` is the record of `id` (64 bytes). */
  idEquals(n: number, id: Buffer): boolean {
    const at = this.starts[n]!;
    return id.compare(this.buf, at, at + 64, 0, 64) === 0;
  }

  /** The hash of entry `n`'s id, as `idHash` computes it for an id buffer. */
  hash(n: number): number {
    const w = this.words;
    if (!w) return idHash(this.buf, this.starts[n]!);
    const at = this.starts[n]! >>> 2;
    let h = HASH_SEED;
    for (let i = 0; i < 16; i++) h = Math.imul(h ^ w[at + i]!, HASH_PRIME) ^ (h >>> 15);
    return h >>> 0;
  }

  entry(n: number): SnapshotEntry {
    const at = this.starts[n]!;
    const e = this.buf;
    const count = e.readUInt32LE(at + 128);
    let crcs: Uint32Array | undefined;
    if (count !== NO_CRCS) {
      crcs = new Uint32Array(count);
      for (let c = 0; c < count; c++) crcs[c] = e.readUInt32LE(at + ENTRY_FIXED + 4 * c);
    }
    return {
      blobIndex: e.readUInt32LE(at + 64),
      offset: readNum(e, at + 72),
      header: readHeaderNumbers(e, at, Buffer.from(e.subarray(at, at + 64)), e.readUInt32LE(at + 68)),
      crcs,
    };
  }
}

/** A 32-bit hash of the 64-byte id at `at` (every word mixed in: ids need not be uniform). */
export function idHash(buf: Buffer, at = 0): number {
  let h = HASH_SEED;
  for (let i = 0; i < 64; i += 4) h = Math.imul(h ^ buf.readUInt32LE(at + i), HASH_PRIME) ^ (h >>> 15);
  return h >>> 0;
}

const HASH_SEED = 0x811c9dc5;
const HASH_PRIME = 0x01000193;

/** The snapshot, or why it cannot be used (undefined when there is none). */
export async function readSnapshot(dir: string): Promise<LoadedSnapshot | { unusable: string } | undefined> {
  let bytes: Buffer;
  try {
    bytes = await fs.promises.readFile(path.join(dir, SNAPSHOT_FILE));
  } catch (err) {
    // None is normal; one that cannot be read (e.g. above the 2 GiB a single read takes) is said so.
    return (err as NodeJS.ErrnoException).code === 'ENOENT' ? undefined : { unusable: (err as Error).message };
  }
  const size = bytes.length;
  if (size < HEAD_SIZE + TRAILER_SIZE) return { unusable: 'too short' };
  const body = size - TRAILER_SIZE;
  if (!bytes.subarray(body + 4).equals(END_MAGIC)) return { unusable: 'no end marker (the write did not finish)' };
  if (bytes.readUInt32LE(body) !== crc32(bytes.subarray(0, body))) return { unusable: 'checksum mismatch' };
  if (!bytes.subarray(0, 8).equals(MAGIC)) return { unusable: 'not an index snapshot' };
  if (bytes.readUInt32LE(8) !== VERSION) return { unusable: `version ${bytes.readUInt32LE(8)} is not ${VERSION}` };
  const blobCount = bytes.readUInt32LE(12);
  const seq = readNum(bytes, 16);
  const entryCount = readNum(bytes, 24);
  let at = HEAD_SIZE;
  if (at + blobCount * BLOB_SIZE > body) return { unusable: 'truncated' };
  const blobs: SnapshotBlob[] = [];
  for (let i = 0; i < blobCount; i++, at += BLOB_SIZE) {
    const b = bytes;
    blobs.push({ index: b.readUInt32LE(at), inode: readNum(b, at + 4), covered: readNum(b, at + 12), fileBytes: readNum(b, at + 20), records: readNum(b, at + 28), removedRecords: readNum(b, at + 36), removedBytes: readNum(b, at + 44) });
  }
  if (entryCount > (body - at) / ENTRY_FIXED) return { unusable: 'truncated' };
  const starts = new Float64Array(entryCount);
  for (let i = 0; i < entryCount; i++) {
    if (at + ENTRY_FIXED > body) return { unusable: 'truncated' };
    starts[i] = at;
    const count = bytes.readUInt32LE(at + 128);
    at += ENTRY_FIXED + (count === NO_CRCS ? 0 : 4 * count);
  }
  if (at !== body) return { unusable: at > body ? 'truncated' : 'bytes after the last entry' };
  return { seq, blobs, entries: new SnapshotEntries(bytes, starts) };
}
