// The hint journal: the writes and removals that missed a group, kept durably until they are
// delivered. One append-only file (`hints.journal`) of framed records — u32 length, u32 CRC32 of the
// body, a JSON body: an added hint, or the key of a delivered one. Appends are grouped: every call
// waiting in one turn shares one write and one fdatasync, and resolves only once its records are on
// disk, so a hint acknowledged to a worker survives a kill -9 of the primary. At open the file is
// read back (a torn tail from a kill is cut off) and, once it holds mostly delivered records,
// rewritten with the pending ones only (written aside, then renamed over it).
//
// Bounded: at most `limit` pending hints; more are refused (counted in `overflowed`) and the caller
// says so — `backrunner recover` repairs what a dropped hint would have.

import { closeSync, fdatasyncSync, fsyncSync, openSync, renameSync, writeSync } from 'node:fs';
import fs from 'node:fs/promises';
import path from 'node:path';
import { crc32 } from 'node:zlib';
import type { Hint } from '../ipc/hints.js';

export const JOURNAL_FILE = 'hints.journal';
const FRAME_HEAD = 8;

/** A hint as the journal keeps it (the id in hex). */
export interface PendingHint {
  key: string;
  bucket: string;
  idHex: string;
  group: number;
  op: 'write' | 'remove';
  sec: number;
  nsec: number;
}

type JournalRecord = { a: 'add'; h: Omit<PendingHint, 'key'> } | { a: 'done'; k: string };

export function hintKey(bucket: string, idHex: string, group: number): string {
  return `${bucket}\u0000${idHex}\u0000${group}`;
}

export interface JournalStats {
  pending: number;
  bytes: number;
  /** Hints refused because the journal was full, since the primary started. */
  overflowed: number;
}

export class HintJournal {
  private readonly hints = new Map<string, PendingHint>();
  private fd: number;
  private bytes: number;
  /** Records in the file (added and delivered): the file is rewritten when most are dead. */
  private records: number;
  private queue: { buf: Buffer; done: () => void; fail: (e: Error) => void }[] = [];
  private flushing = false;
  overflowed = 0;

  private constructor(
    readonly dir: string,
    readonly limit: number,
    fd: number,
    bytes: number,
    records: number,
  ) {
    this.fd = fd;
    this.bytes = bytes;
    this.records = records;
  }

  static async open(dir: string, limit: number): Promise<HintJournal> {
    await fs.mkdir(dir, { recursive: true });
    const file = path.join(dir, JOURNAL_FILE);
    const data = await fs.readFile(file).catch((err: NodeJS.ErrnoException) => {
      if (err.code === 'ENOENT') return Buffer.alloc(0);
      throw new Error(`the hint journal ${file} cannot be read: ${err.message} (proxy.hints-dir)`);
    });
    const hints = new Map<string, PendingHint>();
    let at = 0;
    let records = 0;
    while (at + FRAME_HEAD <= data.length) {
      const len = data.readUInt32LE(at);
      const body = data.subarray(at + FRAME_HEAD, at + FRAME_HEAD + len);
      if (body.length < len || crc32(body) !== data.readUInt32LE(at + 4)) break;
      const rec = JSON.parse(body.toString('utf8')) as JournalRecord;
      if (rec.a === 'add') {
        const key = hintKey(rec.h.bucket, rec.h.idHex, rec.h.group);
        hints.set(key, { key, ...rec.h });
      } else hints.delete(rec.k);
      records++;
      at += FRAME_HEAD + len;
    }
    if (at < data.length) await fs.truncate(file, at); // a torn tail: the last append did not finish
    const j = new HintJournal(dir, limit, openSync(file, 'a'), at, records);
    for (const [k, h] of hints) j.hints.set(k, h);
    if (records > 1000 && records > 2 * hints.size) j.rewrite();
    return j;
  }

  get size(): number {
    return this.hints.size;
  }

  stats(): JournalStats {
    return { pending: this.hints.size, bytes: this.bytes, overflowed: this.overflowed };
  }

  pending(): IterableIterator<PendingHint> {
    return this.hints.values();
  }

  has(key: string): boolean {
    return this.hints.has(key);
  }

  /**
   * Adds hints durably (resolves once they are on disk). A hint for a key and group already pending
   * replaces it when it is newer. Returns the keys stored; the rest overflowed the limit.
   */
  async add(hints: readonly Hint[]): Promise<PendingHint[]> {
    const stored: PendingHint[] = [];
    const records: JournalRecord[] = [];
    for (const h of hints) {
      const idHex = Buffer.from(h.id).toString('hex');
      const key = hintKey(h.bucket, idHex, h.group);
      const prev = this.hints.get(key);
      if (prev && (prev.sec > h.sec || (prev.sec === h.sec && prev.nsec > h.nsec))) continue;
      if (!prev && this.hints.size >= this.limit) {
        this.overflowed++;
        continue;
      }
      const p: PendingHint = { key, bucket: h.bucket, idHex, group: h.group, op: h.op, sec: h.sec, nsec: h.nsec };
      this.hints.set(key, p);
      stored.push(p);
      const { key: _k, ...body } = p;
      void _k;
      records.push({ a: 'add', h: body });
    }
    if (records.length > 0) await this.append(records);
    return stored;
  }

  /** Marks hints delivered (durable with the next flush; a hint delivered twice does no harm). */
  async done(keys: readonly string[]): Promise<void> {
    const records: JournalRecord[] = [];
    for (const k of keys) if (this.hints.delete(k)) records.push({ a: 'done', k });
    if (records.length === 0) return;
    // Mostly delivered records: the file is rewritten with the pending ones instead.
    if (this.records + records.length > 10_000 && this.records + records.length > 4 * this.hints.size) this.rewrite();
    else await this.append(records);
  }

  private append(records: JournalRecord[]): Promise<void> {
    const buf = Buffer.concat(records.map(frame));
    this.records += records.length;
    return new Promise((done, fail) => {
      this.queue.push({ buf, done, fail });
      if (!this.flushing) {
        this.flushing = true;
        setImmediate(() => this.flush());
      }
    });
  }

  /** Everything queued in one write and one fdatasync (group commit). */
  private flush(): void {
    const batch = this.queue;
    this.queue = [];
    try {
      const buf = Buffer.concat(batch.map((b) => b.buf));
      for (let off = 0; off < buf.length; ) off += writeSync(this.fd, buf, off, buf.length - off);
      fdatasyncSync(this.fd);
      this.bytes += buf.length;
      for (const b of batch) b.done();
    } catch (err) {
      for (const b of batch) b.fail(err as Error);
    }
    if (this.queue.length > 0) setImmediate(() => this.flush());
    else this.flushing = false;
  }

  /**
   * The pending hints alone, written aside and renamed over the journal — synchronously, so that no
   * append can land in the file being replaced (appends queued meanwhile add records again: harmless).
   */
  private rewrite(): void {
    const file = path.join(this.dir, JOURNAL_FILE);
    const tmp = `${file}.tmp`;
    const body = Buffer.concat([...this.hints.values()].map(({ key: _k, ...h }) => frame({ a: 'add', h })));
    const fd = openSync(tmp, 'w');
    try {
      for (let off = 0; off < body.length; ) off += writeSync(fd, body, off, body.length - off);
      fdatasyncSync(fd);
    } finally {
      closeSync(fd);
    }
    renameSync(tmp, file);
    const dirFd = openSync(this.dir, 'r');
    try {
      fsyncSync(dirFd);
    } finally {
      closeSync(dirFd);
    }
    closeSync(this.fd);
    this.fd = openSync(file, 'a');
    this.bytes = body.length;
    this.records = this.hints.size;
  }

  close(): void {
    closeSync(this.fd);
  }
}

function frame(rec: JournalRecord): Buffer {
  const body = Buffer.from(JSON.stringify(rec));
  const out = Buffer.allocUnsafe(FRAME_HEAD + body.length);
  out.writeUInt32LE(body.length, 0);
  out.writeUInt32LE(crc32(body), 4);
  body.copy(out, FRAME_HEAD);
  return out;
}
