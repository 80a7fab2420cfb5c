// Framing of a byte stream into messages: a 120-byte header, then `size` payload bytes (spec §0, §10).
// Used by both ends: the client's connection and the storage node's server.

import { Errno, HEADER_SIZE } from './constants.js';
import { ProtocolError } from './codec-error.js';
import { decodeHeader, encodeHeader, type Header } from './header.js';

/** A header announced more payload than the receiver accepts (`max-frame`). */
export class FrameTooLargeError extends ProtocolError {
  readonly header: Header;
  constructor(header: Header, maxFrame: number) {
    super(`frame of ${header.size} bytes exceeds the ${maxFrame}-byte limit (cmd ${header.cmd})`, Errno.EMSGSIZE);
    this.header = header;
  }
}

export type FrameHandler = (header: Header, payload: Buffer) => void;

/**
 * Incremental frame decoder. Chunks are kept as they arrive and copied at most once, into the
 * payload of the frame they complete; a payload inside a single chunk is a zero-copy view.
 */
export class FrameDecoder {
  private chunks: Buffer[] = [];
  private buffered = 0;
  private pending: Header | undefined;

  constructor(
    private readonly onFrame: FrameHandler,
    private readonly maxFrame: number,
  ) {}

  /** Bytes received but not yet delivered as a frame. */
  get bufferedBytes(): number {
    return this.buffered;
  }

  /** True while a frame has started but not completed (a peer that stops here sent a truncated frame). */
  get midFrame(): boolean {
    return this.buffered > 0 || this.pending !== undefined;
  }

  /** Bytes still missing to complete the frame in progress (0 when between frames). */
  get missingBytes(): number {
    if (this.pending) return this.pending.size - this.buffered;
    return this.buffered > 0 ? HEADER_SIZE - this.buffered : 0;
  }

  /** Feeds bytes; calls the handler for every completed frame. Throws FrameTooLargeError. */
  push(chunk: Buffer): void {
    if (chunk.length === 0) return;
    this.chunks.push(chunk);
    this.buffered += chunk.length;
    for (;;) {
      if (this.pending === undefined) {
        if (this.buffered < HEADER_SIZE) return;
        const header = decodeHeader(this.take(HEADER_SIZE));
        if (header.size > this.maxFrame) throw new FrameTooLargeError(header, this.maxFrame);
        this.pending = header;
      }
      const header = this.pending;
      if (this.buffered < header.size) return;
      this.pending = undefined;
      this.onFrame(header, header.size === 0 ? EMPTY : this.take(header.size));
    }
  }

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

const EMPTY = Buffer.alloc(0);

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
    out.push({ header, payload, raw });
  }, maxFrame);
  decoder.push(stream);
  if (decoder.midFrame) throw new ProtocolError(`stream ends inside a frame (${decoder.bufferedBytes} bytes left)`);
  return out;
}
