// A streaming write of an object of known size (spec §6.3, DESIGN §2). Small objects go as one
// WRITE to every group. Larger ones are cut into chunks: PREPARE (reserving the whole size) with the
// first, PLAIN_WRITE for the middle ones, COMMIT with the last. Every group advances on its own
// (a failed group is dropped, as the C++ client does), and at most `maxInFlight` bytes are sent but
// not yet acknowledged by every group still alive: the slowest replica holds the producer back,
// memory does not grow with the object.

import { EllipticsError } from './errors.js';
import { Errno, IoFlags, timeNow, type DnetTime } from './protocol/index.js';
import { writeRequest } from './requests.js';
import type { GroupResult } from './group-result.js';
import type { Session } from './session.js';

export interface WriteStreamOptions {
  /** Where the data goes inside the object (the object ends at offset + size). */
  offset?: number;
  /** Bytes per WRITE (default 1 MiB). */
  chunkSize?: number;
  /** Bytes sent but not acknowledged by all groups (default 8 MiB, at least one chunk). */
  maxInFlight?: number;
  ioFlags?: number;
  timestamp?: DnetTime;
  /** Stored with the record (recovery keeps the source's). */
  userFlags?: bigint;
  /**
   * Called with each buffer given to write() once no request refers to it any more (acknowledged
   * or failed in every group, or dropped by abort): the producer may reuse its memory.
   */
  release?: (buf: Buffer) => void;
}

export const DEFAULT_WRITE_CHUNK = 1024 * 1024;
export const DEFAULT_MAX_IN_FLIGHT = 8 * 1024 * 1024;

type StepKind = 'prepare' | 'plain' | 'commit';

interface GroupState {
  group: number;
  failed: GroupResult | undefined;
  prepared: Promise<void> | undefined;
  plains: Promise<void>[];
  result: GroupResult | undefined;
  /** Steps outstanding, since when, and the µs during which at least one was (storage time). */
  outstanding: number;
  since: number;
  busy: number;
}

export class ObjectWriter {
  readonly size: number;
  private readonly offset: number;
  private readonly chunkSize: number;
  readonly maxInFlight: number;
  private readonly ioFlags: number;
  /** One timestamp for the whole upload and every replica. */
  private readonly timestamp: DnetTime;
  private readonly groups: GroupState[];
  /** Bytes not yet sent: views, and the buffer given to write() each comes from. */
  private buffered: { view: Buffer; origin: Buffer }[] = [];
  /** Buffers given to write() → references (still buffered, or in a step not yet settled). */
  private readonly refs = new Map<Buffer, number>();
  private bufferedLen = 0;
  private received = 0;
  /** Object offset where the next step starts. */
  private nextOffset: number;
  private steps = 0;
  private readonly sends: Promise<void>[] = [];
  private waiters: (() => void)[] = [];
  private aborted: EllipticsError | undefined;
  private ended = false;
  /** Bytes sent and not yet acknowledged by every live group. */
  inFlight = 0;
  /** The most bytes ever in flight (tests assert it stays within the bound). */
  peakInFlight = 0;

  constructor(
    private readonly session: Session,
    /** The key's id. */
    readonly id: Buffer,
    size: number,
    private readonly opts: WriteStreamOptions = {},
  ) {
    if (!Number.isSafeInteger(size) || size < 0) throw new EllipticsError(Errno.EINVAL, `invalid object size ${size}`);
    this.size = size;
    this.offset = opts.offset ?? 0;
    this.nextOffset = this.offset;
    this.chunkSize = Math.max(1, opts.chunkSize ?? DEFAULT_WRITE_CHUNK);
    this.maxInFlight = Math.max(this.chunkSize, opts.maxInFlight ?? DEFAULT_MAX_IN_FLIGHT);
    this.ioFlags = opts.ioFlags ?? session.opts.ioFlags ?? 0;
    this.timestamp = opts.timestamp ?? timeNow();
    if (session.groups.length === 0) throw new EllipticsError(Errno.ENXIO, 'write: the session has no groups');
    // Groups on a suspect or down node (while others are healthy) fail at once instead of holding the upload.
    const skipped = session.unhealthyGroups(id);
    this.groups = session.groups.map((group) => ({ group, failed: skipped.get(group), prepared: undefined, plains: [], result: undefined, outstanding: 0, since: 0, busy: 0 }));
  }

  private get single(): boolean {
    return this.size <= this.chunkSize;
  }

  /** Accepts the next bytes; resolves when the producer may send more (backpressure). */
  async write(chunk: Buffer): Promise<void> {
    if (this.aborted) throw this.aborted;
    if (this.ended) throw new EllipticsError(Errno.EINVAL, 'write after end');
    if (this.received + chunk.length > this.size) {
      const err = new EllipticsError(Errno.EINVAL, `body longer than the announced ${this.size} bytes`);
      this.abort(err);
      throw err;
    }
    if (chunk.length === 0) return;
    this.buffered.push({ view: chunk, origin: chunk });
    if (this.opts.release) this.refs.set(chunk, (this.refs.get(chunk) ?? 0) + 1);
    this.bufferedLen += chunk.length;
    this.received += chunk.length;
    if (this.single) return;
    // Send whole chunks, except the one that ends the object: it goes with COMMIT.
    while (this.bufferedLen > this.chunkSize || (this.bufferedLen === this.chunkSize && this.received < this.size)) {
      await this.room(this.chunkSize);
      const { parts, origins } = this.take(this.chunkSize);
      this.emit(this.steps === 0 ? 'prepare' : 'plain', parts, origins);
    }
  }

  /** Waits until `bytes` more can be in flight without passing the bound. */
  private async room(bytes: number): Promise<void> {
    while (this.inFlight + bytes > this.maxInFlight) {
      await new Promise<void>((resolve) => this.waiters.push(resolve));
      if (this.aborted) throw this.aborted;
    }
  }

  /** Sends what is left and resolves with each group's result (COMMIT's, or the step that failed). */
  async end(): Promise<GroupResult[]> {
    if (this.aborted) throw this.aborted;
    this.ended = true;
    if (this.received !== this.size) {
      const err = new EllipticsError(Errno.EINVAL, `body ended after ${this.received} of ${this.size} bytes`);
      this.abort(err);
      throw err;
    }
    if (this.single) {
      const { parts, origins } = this.take(this.bufferedLen);
      const results = await this.session.writeId(this.id, parts, { offset: this.offset, ioFlags: this.ioFlags, timestamp: this.timestamp, userFlags: this.opts.userFlags });
      if (results.every(bytesConsumed)) this.unref(origins);
      return results;
    }
    await this.room(this.bufferedLen);
    const { parts, origins } = this.take(this.bufferedLen);
    this.emit('commit', parts, origins);
    await Promise.all(this.sends);
    return this.groups.map((g) => ({ ...(g.result ?? g.failed!), micros: g.busy }));
  }

  /** The groups where the storage failed a step, with their storage time (after a write failed everywhere). */
  failures(): GroupResult[] {
    return this.groups.filter((g) => g.failed).map((g) => ({ ...g.failed!, micros: g.busy }));
  }

  /** Stops sending; pending and future writes fail with `reason`. Prepared records stay uncommitted. */
  abort(reason: EllipticsError): void {
    if (this.aborted) return;
    this.aborted = reason;
    // What was never sent is free now; steps in flight let go of theirs when they settle.
    const dropped = this.buffered.map((b) => b.origin);
    this.buffered = [];
    this.bufferedLen = 0;
    this.unref(dropped);
    this.wake();
  }

  /** Drops one reference to each buffer; a buffer nothing refers to goes back to the producer. */
  private unref(origins: readonly Buffer[]): void {
    const release = this.opts.release;
    if (!release) return;
    for (const o of origins) {
      const n = (this.refs.get(o) ?? 1) - 1;
      if (n > 0) this.refs.set(o, n);
      else {
        this.refs.delete(o);
        release(o);
      }
    }
  }

  /**
   * Removes exactly `n` buffered bytes as views (no copy), with the buffers they come from: the
   * step holds one reference to each until it settles; a buffer fully taken loses its "buffered" one.
   */
  private take(n: number): { parts: Buffer[]; origins: Buffer[] } {
    const parts: Buffer[] = [];
    const origins: Buffer[] = [];
    const emptied: Buffer[] = [];
    let left = n;
    while (left > 0) {
      const b = this.buffered[0]!;
      origins.push(b.origin);
      if (b.view.length <= left) {
        parts.push(b.view);
        this.buffered.shift();
        emptied.push(b.origin);
        left -= b.view.length;
      } else {
        parts.push(b.view.subarray(0, left));
        this.buffered[0] = { view: b.view.subarray(left), origin: b.origin };
        left = 0;
      }
    }
    this.bufferedLen -= n;
    if (this.opts.release) for (const o of origins) this.refs.set(o, (this.refs.get(o) ?? 0) + 1);
    this.unref(emptied);
    return { parts, origins };
  }

  private emit(kind: StepKind, parts: Buffer[], origins: Buffer[]): void {
    let len = 0;
    for (const p of parts) len += p.length;
    const at = this.nextOffset;
    this.nextOffset += len;
    this.steps++;
    this.inFlight += len;
    this.peakInFlight = Math.max(this.peakInFlight, this.inFlight);
    const live = this.groups.filter((g) => !g.failed);
    const all = Promise.all(live.map((g) => this.sendStep(g, kind, parts, at, len))).then((consumed) => {
      this.inFlight -= len;
      if (consumed.every(Boolean)) this.unref(origins);
      if (this.groups.every((g) => g.failed)) this.abort(lastFailure(this.groups));
      this.wake();
    });
    this.sends.push(all);
  }

  /** One step to one group; resolves with whether the step's bytes are done with (see bytesConsumed). */
  private sendStep(g: GroupState, kind: StepKind, parts: Buffer[], at: number, len: number): Promise<boolean> {
    const total = this.offset + this.size;
    const run = async (): Promise<boolean> => {
      // PREPARE must be in place before data lands in it; COMMIT waits for every plain write.
      if (kind !== 'prepare') await g.prepared;
      if (kind === 'commit') await Promise.all(g.plains);
      if (g.failed || this.aborted) return true;
      const [flags, num] =
        kind === 'prepare' ? [IoFlags.PREPARE | IoFlags.PLAIN_WRITE, total]
        : kind === 'plain' ? [IoFlags.PLAIN_WRITE, at + len]
        : [IoFlags.COMMIT | IoFlags.PLAIN_WRITE, total];
      if (g.outstanding++ === 0) g.since = performance.now();
      const r = await this.session.resultOf(g.group, this.id, (t) => writeRequest(t, parts, { offset: at, num, ioFlags: this.ioFlags | flags, timestamp: this.timestamp, userFlags: this.opts.userFlags }), `write (${kind})`);
      if (--g.outstanding === 0) g.busy += Math.round((performance.now() - g.since) * 1000);
      if (r.error) g.failed = r;
      else if (kind === 'commit') g.result = r;
      return bytesConsumed(r);
    };
    const p = run();
    if (kind === 'prepare') g.prepared = p.then(() => undefined);
    if (kind === 'plain') g.plains.push(p.then(() => undefined));
    return p;
  }

  private wake(): void {
    const w = this.waiters;
    this.waiters = [];
    for (const f of w) f();
  }
}

/**
 * Whether a request's bytes can no longer be sent: the node answered (it had read the whole frame),
 * or the request never left. After a timeout they may still wait in the socket's queue, and memory
 * reused then would reach the node as this write's data: such buffers are never handed back.
 */
function bytesConsumed(r: GroupResult): boolean {
  return r.status !== Errno.ETIMEDOUT;
}

function lastFailure(groups: readonly GroupState[]): EllipticsError {
  const failed = groups.filter((g) => g.failed);
  return failed[failed.length - 1]?.failed?.error ?? new EllipticsError(Errno.EIO, 'write failed in every group');
}
