// Framing of a byte stream into messages: a 120-byte header, then `size` payload bytes (spec §0, §10).
// Used by both ends: the client's connection and the storage node's server.

import { Errno, HEADER_SIZE } from './constants.js';
import { ProtocolError } from './codec-error.js';
import { decodeHeader, encodeHeader, type Header } from './header.js';
import type { BufferPool } from '../../util/buffer-pool.js';
import { slabReader } from '../../util/slab-reader.js';
import type { OnReadOpts } from 'node:net';

/** A header announced more payload than the receiver accepts (`max-frame`). */
export class FrameTooLargeError extends ProtocolError {
  readonly header: Header;
  constructor(header: Header, maxFrame: number) {
    super(`frame of ${header.size} bytes exceeds the ${maxFrame}-byte limit (cmd ${header.cmd})`, Errno.EMSGSIZE);
    this.header = header;
  }
}

/**
 * A frame's payload as the socket delivered it: views of the received chunks, never copied unless
 * a consumer asks for contiguous bytes. A 1 MiB READ reply arrives in ~16 chunks and can be passed
 * on (to disk, to an HTTP response) chunk by chunk.
 */
export class Payload {
  private joined: Buffer | undefined;

  constructor(
    readonly parts: readonly Buffer[],
    readonly length: number,
    /** Gives pooled memory back (see `release`). */
    private recycle?: () => void,
  ) {}

  /**
   * Declares the payload's bytes unused from now on, by anyone: a large frame read into a pooled
   * buffer returns it to the pool. Optional (an unreleased payload is garbage-collected) and
   * idempotent; only the single owner of the payload may call it.
   */
  release(): void {
    const r = this.recycle;
    this.recycle = undefined;
    r?.();
  }

  static of(buf: Buffer): Payload {
    return new Payload(buf.length === 0 ? [] : [buf], buf.length);
  }

  /** All bytes contiguously (joined once, the first time, when the frame spanned several chunks). */
  get bytes(): Buffer {
    if (this.parts.length === 1) return this.parts[0]!;
    if (this.parts.length === 0) return EMPTY;
    this.joined ??= Buffer.concat(this.parts as Buffer[], this.length);
    return this.joined;
  }

  /** The first `n` bytes contiguously; copies only those bytes when they straddle chunks. */
  head(n: number): Buffer {
    const first = this.parts[0];
    if (first && first.length >= n) return first.subarray(0, n);
    if (this.joined) return this.joined.subarray(0, n);
    return Buffer.concat(this.slice(0, Math.min(n, this.length)), Math.min(n, this.length));
  }

  /** Views of bytes [start, end) without copying. */
  slice(start: number, end: number = this.length): Buffer[] {
    const out: Buffer[] = [];
    let at = 0;
    for (const p of this.parts) {
      const pEnd = at + p.length;
      if (pEnd > start && at < end) out.push(p.subarray(Math.max(0, start - at), Math.min(p.length, end - at)));
      at = pEnd;
      if (at >= end) break;
    }
    return out;
  }
}

export type FrameHandler = (header: Header, payload: Payload) => void;

/** Frames of at least `above` payload bytes are received into a buffer of their own from `pool`. */
export interface LargeFrames {
  pool: BufferPool;
  above: number;
}

/**
 * Incremental frame decoder. Chunks are kept as they arrive; a payload is handed over as views of
 * them (no copy). Only a header that straddles two chunks is copied together.
 *
 * With `large`, a big payload gets a pooled buffer of its own, and the reader can read the rest of
 * it straight there (`directTarget` / `pushDirect`): its owner can then hand the memory back
 * (`Payload.release`) instead of leaving garbage that V8 frees only much later.
 */
export class FrameDecoder {
  private chunks: Buffer[] = [];
  private buffered = 0;
  private pending: Header | undefined;
  private direct: { header: Header; buf: Buffer; filled: number } | undefined;
  /** The last frame was large: more are likely to follow. */
  private afterLarge = false;

  constructor(
    private readonly onFrame: FrameHandler,
    private readonly maxFrame: number,
    private readonly large?: LargeFrames,
  ) {}

  /** Bytes received but not yet delivered as a frame. */
  get bufferedBytes(): number {
    return this.buffered + (this.direct?.filled ?? 0);
  }

  /** True while a frame has started but not completed (a peer that stops here sent a truncated frame). */
  get midFrame(): boolean {
    return this.buffered > 0 || this.pending !== undefined || this.direct !== undefined;
  }

  /** Bytes still missing to complete the frame in progress (0 when between frames). */
  get missingBytes(): number {
    if (this.direct) return this.direct.header.size - this.direct.filled;
    if (this.pending) return this.pending.size - this.buffered;
    return this.buffered > 0 ? HEADER_SIZE - this.buffered : 0;
  }

  /** Where the next read may land directly: the unfilled rest of a large frame's own buffer. */
  directTarget(): Buffer | undefined {
    const d = this.direct;
    return d && d.buf.subarray(d.filled, d.header.size);
  }

  /**
   * How much the next read into shared memory should take, when it should be small: after a large
   * frame, about a header — if another large frame follows, its payload then goes to its own
   * buffer instead of being read into the slab and copied over.
   */
  readCap(): number | undefined {
    return this.afterLarge && !this.direct ? HEADER_SIZE + 4096 : undefined;
  }

  /** `n` bytes were read straight into `directTarget()`. */
  pushDirect(n: number): void {
    const d = this.direct!;
    d.filled += n;
    if (d.filled === d.header.size) this.finishDirect();
  }

  /** Feeds bytes; calls the handler for every completed frame. Throws FrameTooLargeError. */
  push(chunk: Buffer): void {
    if (this.direct) {
      const d = this.direct;
      const n = Math.min(chunk.length, d.header.size - d.filled);
      chunk.copy(d.buf, d.filled, 0, n);
      d.filled += n;
      if (d.filled === d.header.size) this.finishDirect();
      chunk = chunk.subarray(n);
    }
    if (chunk.length === 0) return;
    this.chunks.push(chunk);
    this.buffered += chunk.length;
    for (;;) {
      if (this.pending === undefined) {
        if (this.buffered < HEADER_SIZE) return;
        const header = decodeHeader(this.take(HEADER_SIZE));
        if (header.size > this.maxFrame) throw new FrameTooLargeError(header, this.maxFrame);
        this.afterLarge = false;
        if (this.large && header.size >= this.large.above) {
          // What of the payload is already here is copied over; the rest is read straight into it.
          const d = (this.direct = { header, buf: this.large.pool.acquire(header.size), filled: 0 });
          for (const part of this.takeParts(Math.min(this.buffered, header.size))) d.filled += part.copy(d.buf, d.filled);
          if (d.filled < header.size) return;
          this.finishDirect();
          continue;
        }
        this.pending = header;
      }
      const header = this.pending;
      if (this.buffered < header.size) return;
      this.pending = undefined;
      this.onFrame(header, header.size === 0 ? EMPTY_PAYLOAD : new Payload(this.takeParts(header.size), header.size));
    }
  }

  private finishDirect(): void {
    const { header, buf } = this.direct!;
    this.direct = undefined;
    this.afterLarge = true;
    const pool = this.large!.pool;
    this.onFrame(header, new Payload([buf.subarray(0, header.size)], header.size, () => pool.release(buf)));
  }

  /** Removes `n` bytes from the front as views of the received chunks. */
  private takeParts(n: number): Buffer[] {
    const out: Buffer[] = [];
    let left = n;
    while (left > 0) {
      const c = this.chunks[0]!;
      if (c.length <= left) {
        out.push(c);
        this.chunks.shift();
        left -= c.length;
      } else {
        out.push(c.subarray(0, left));
        this.chunks[0] = c.subarray(left);
        left = 0;
      }
    }
    this.buffered -= n;
    return out;
  }

  /** Removes `n` bytes from the front contiguously (copied only when they straddle chunks). */
  private take(n: number): Buffer {
    const first = this.chunks[0]!;
    let out: Buffer;
    if (first.length >= n) {
      out = first.subarray(0, n);
      if (first.length === n) this.chunks.shift();
      else this.chunks[0] = first.subarray(n);
    } else {
      out = Buffer.allocUnsafe(n);
      let filled = 0;
      while (filled < n) {
        const c = this.chunks[0]!;
        const want = n - filled;
        if (c.length <= want) {
          c.copy(out, filled);
          filled += c.length;
          this.chunks.shift();
        } else {
          c.copy(out, filled, 0, want);
          this.chunks[0] = c.subarray(want);
          filled += want;
        }
      }
    }
    this.buffered -= n;
    return out;
  }
}

/**
 * The `onread` of a socket whose bytes go to `decoder`: read into slabs, and a large frame's payload
 * straight into its own buffer. What the decoder throws (a bad or oversized frame) goes to `onError`,
 * once: the stream cannot be trusted after it, and nothing more is decoded.
 */
export function frameReader(decoder: FrameDecoder, onError: (err: unknown) => void): OnReadOpts {
  let failed = false;
  const guarded = (feed: () => void): void => {
    if (failed) return;
    try {
      feed();
    } catch (err) {
      failed = true;
      onError(err);
    }
  };
  return slabReader({
    push: (chunk) => guarded(() => decoder.push(chunk)),
    directTarget: () => decoder.directTarget(),
    readCap: () => decoder.readCap(),
    pushDirect: (n) => guarded(() => decoder.pushDirect(n)),
  });
}

const EMPTY = Buffer.alloc(0);
const EMPTY_PAYLOAD = new Payload([], 0);

/** One message as bytes: header (with `size` set from the payload) followed by the payload parts. */
export function encodeFrame(header: Header, ...payload: Buffer[]): Buffer[] {
  let size = 0;
  for (const p of payload) size += p.length;
  header.size = size;
  return [encodeHeader(header), ...payload];
}

/** Splits a captured byte stream into messages (for tests and tools). Throws on a truncated tail. */
export function splitFrames(stream: Buffer, maxFrame = Number.MAX_SAFE_INTEGER): { header: Header; payload: Buffer; raw: Buffer }[] {
  const out: { header: Header; payload: Buffer; raw: Buffer }[] = [];
  let at = 0;
  const decoder = new FrameDecoder((header, payload) => {
    const raw = stream.subarray(at, at + HEADER_SIZE + payload.length);
    at += raw.length;
    out.push({ header, payload: payload.bytes, raw });
  }, maxFrame);
  decoder.push(stream);
  if (decoder.midFrame) throw new ProtocolError(`stream ends inside a frame (${decoder.bufferedBytes} bytes left)`);
  return out;
}
