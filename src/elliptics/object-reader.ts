// Chunked, consumer-driven reading of one object: the first chunk is read when the reader opens
// (trying groups in order; its reply gives the object size and timestamp), then each chunk is
// requested while the previous one is being consumed — never more than one ahead.

import { EllipticsError } from './errors.js';
import { Errno, IoFlags, RecordFlags, type DnetTime } from './protocol/index.js';
import type { ReadReply } from './requests.js';
import type { Session } from './session.js';

export interface ReadOptions {
  offset?: number;
  /** Bytes to read from `offset`; 0 = to the end of the object. */
  size?: number;
  /** Bytes per READ (default 1 MiB). */
  chunkSize?: number;
  ioFlags?: number;
  /** Group order; the session's groups when unset. */
  groups?: readonly number[];
  /** Called when a later chunk had to come from another group than the one serving the object. */
  onFailover?: (from: number, to: number, at: number) => void;
  /**
   * A chunk the reader yields is valid only until the next one is asked for (or the reader is
   * closed): its memory is then reused for later replies. For consumers that pass each chunk on
   * before asking for more (the proxy's GET); without it, chunks stay valid and are garbage-collected.
   */
  recycle?: boolean;
}

export const DEFAULT_READ_CHUNK = 1024 * 1024;

export class ObjectReader implements AsyncIterable<Buffer> {
  /** The group serving the object (later chunks fail over to the others). */
  group: number;
  readonly totalSize: number;
  readonly offset: number;
  /** End of the range being read (exclusive). */
  readonly end: number;
  readonly timestamp: DnetTime;
  readonly recordFlags: number;
  readonly userFlags: bigint;
  private readonly chunkSize: number;
  private readonly ioFlags: number;
  private readonly groups: readonly number[];
  private readonly recycle: boolean;
  private readonly onFailover: ReadOptions['onFailover'];
  private started = false;

  private constructor(
    private readonly session: Session,
    private readonly id: Buffer,
    opts: ReadOptions,
    group: number,
    private readonly first: ReadReply,
  ) {
    this.group = group;
    this.offset = opts.offset ?? 0;
    this.totalSize = first.io.totalSize;
    this.end = opts.size ? Math.min(this.offset + opts.size, this.totalSize) : this.totalSize;
    this.timestamp = first.io.timestamp;
    this.recordFlags = first.io.recordFlags;
    this.userFlags = first.io.userFlags;
    this.chunkSize = opts.chunkSize ?? DEFAULT_READ_CHUNK;
    this.groups = opts.groups ?? session.groups;
    this.recycle = opts.recycle ?? false;
    this.onFailover = opts.onFailover;
    // After the first read verified what it read, records with a single whole-object checksum are
    // read without verification (it would re-hash the whole object per chunk); chunked checksums
    // keep being verified chunk by chunk (spec backrunner.md §13.4).
    const base = opts.ioFlags ?? session.opts.ioFlags ?? 0;
    this.ioFlags = first.io.recordFlags & RecordFlags.CHUNKED_CSUM ? base : base | IoFlags.NOCSUM;
  }

  /** What the first read found in the groups it did not serve from (read-repair). */
  get misses(): ReadReply['misses'] {
    return this.first.misses;
  }

  static async open(session: Session, id: Buffer, opts: ReadOptions = {}): Promise<ObjectReader> {
    const chunk = opts.chunkSize ?? DEFAULT_READ_CHUNK;
    const size = opts.size ? Math.min(opts.size, chunk) : chunk;
    const first = await session.readId(id, opts.groups ?? session.groups, { offset: opts.offset ?? 0, size, ioFlags: opts.ioFlags ?? session.opts.ioFlags ?? 0 }, 'read');
    return new ObjectReader(session, id, opts, first.group, first);
  }

  /**
   * The whole range when the first READ already brought all of it (small objects), so a caller
   * can reply in one write without iterating; undefined when more reads are needed.
   */
  get complete(): Buffer | undefined {
    const want = this.end - this.offset;
    if (this.started || want <= 0 || Math.min(this.first.io.size, want) < want) return undefined;
    const parts = this.first.parts;
    const whole = parts.length === 1 ? parts[0]! : Buffer.concat(parts);
    return whole.length > want ? whole.subarray(0, want) : whole.length === want ? whole : undefined;
  }

  /** Ends a reader whose chunks were not (all) iterated: the first reply's memory may be reused. */
  close(): void {
    if (this.started) return;
    this.started = true;
    if (this.recycle) this.first.release();
  }

  /** Bytes the reader will yield. */
  get length(): number {
    return Math.max(0, this.end - this.offset);
  }

  /**
   * Reads `size` bytes at `pos` from the serving group, failing over to the others in order. A
   * reply of another version of the object (size or timestamp differ: another replica's, or the
   * object overwritten meanwhile) must not continue the stream: its bytes would be spliced into the
   * wrong object.
   */
  private async fetch(pos: number, size: number): Promise<ReadReply> {
    const order = [this.group, ...this.groups.filter((g) => g !== this.group)];
    const reply = await this.session.readId(this.id, order, { offset: pos, size, ioFlags: this.ioFlags }, `read at ${pos}`);
    const t = reply.io.timestamp;
    if (reply.io.totalSize !== this.totalSize || t.sec !== this.timestamp.sec || t.nsec !== this.timestamp.nsec) {
      // Another replica holds another version, or the object was overwritten while it was read:
      // either way its bytes must not be spliced into the ones already given out.
      reply.release();
      const where = reply.group !== this.group ? `group ${reply.group} holds another version of the object than group ${this.group} did` : `the object was overwritten in group ${this.group} while it was read`;
      throw new EllipticsError(Errno.ESTALE, `${where} (${reply.io.totalSize} bytes, was ${this.totalSize}): the stream cannot continue`);
    }
    if (reply.group !== this.group) this.onFailover?.(this.group, reply.group, pos);
    this.group = reply.group;
    return reply;
  }

  async *[Symbol.asyncIterator](): AsyncIterator<Buffer> {
    if (this.started) throw new Error('an ObjectReader can be iterated once');
    this.started = true;
    let pos = this.offset;
    let pending: Promise<ReadReply> | undefined = Promise.resolve(this.first);
    let current: ReadReply | undefined;
    try {
      while (pos < this.end && pending) {
        const reply: ReadReply = (current = await pending);
        const got = Math.min(reply.io.size, this.end - pos);
        if (got <= 0) throw new EllipticsError(Errno.ENODATA, `object ended at ${pos} of ${this.end} bytes`);
        const after = pos + got;
        // Ask for the next chunk now, so it travels while this one is consumed.
        pending = after < this.end ? this.fetch(after, Math.min(this.chunkSize, this.end - after)) : undefined;
        pending?.catch(() => undefined); // observed on the next turn; do not report it as unhandled meanwhile
        let left = got;
        for (const part of reply.parts) {
          if (left <= 0) break;
          const piece = part.length > left ? part.subarray(0, left) : part;
          left -= piece.length;
          yield piece;
        }
        // The consumer asked for more: it is done with this reply.
        if (this.recycle) reply.release();
        current = undefined;
        pos = after;
      }
    } finally {
      if (this.recycle) {
        current?.release();
        // A chunk fetched ahead that nobody will read.
        pending?.then((r) => r.release(), () => undefined);
      }
    }
  }
}
