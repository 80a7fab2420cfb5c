// The node's side of one TCP connection (a client or a peer node): framing in, replies out, and
// backpressure — reading stops while the client does not drain what it asked for.

import type net from 'node:net';
import { type DnetAddr, encodeHeader, FrameDecoder, HEADER_SIZE, type Header, type Payload } from '../elliptics/protocol/index.js';
import { CommandStats } from './command-stats.js';

/** Stop reading requests while this many reply bytes wait in the socket. */
const PAUSE_ABOVE = 32 * 1024 * 1024;

export class ServerConnection {
  readonly remote: string;
  /** Completed REVERSE_LOOKUP: receives UPDATE_IDS pushes. */
  idsSent = false;
  /** Addresses of a peer node that JOINed over this connection. */
  joined: DnetAddr[] | undefined;
  readonly stats = new CommandStats();
  private readonly decoder: FrameDecoder;
  private paused = false;
  closed = false;

  constructor(
    private readonly socket: net.Socket,
    maxFrame: number,
    onFrame: (conn: ServerConnection, h: Header, payload: Payload) => void,
  ) {
    this.remote = `${(socket.remoteAddress ?? '?').replace(/^::ffff:/, '')}:${socket.remotePort ?? 0}`;
    this.decoder = new FrameDecoder((h, p) => onFrame(this, h, p), maxFrame);
    socket.setNoDelay(true);
    socket.setKeepAlive(true, 10_000);
    socket.on('close', () => (this.closed = true));
    socket.on('drain', () => {
      if (this.paused) {
        this.paused = false;
        socket.resume();
      }
    });
  }

  /** Feeds received bytes; throws what the frame decoder throws (FrameTooLargeError). */
  push(chunk: Buffer): void {
    this.decoder.push(chunk);
  }

  get midFrame(): boolean {
    return this.decoder.midFrame;
  }

  get queuedBytes(): number {
    return this.socket.writableLength;
  }

  /** Writes one message; `payload` parts follow the header without being copied together. */
  send(header: Header, ...payload: Buffer[]): void {
    if (this.closed) return;
    let size = 0;
    for (const p of payload) size += p.length;
    header.size = size;
    const head = encodeHeader(header, Buffer.allocUnsafe(HEADER_SIZE));
    if (payload.length === 0) this.socket.write(head);
    else {
      this.socket.cork();
      this.socket.write(head);
      for (const p of payload) if (p.length > 0) this.socket.write(p);
      this.socket.uncork();
    }
    this.applyBackpressure();
  }

  /**
   * Writes bytes that already hold a complete encoded message (header included). Replies go out
   * as soon as they are ready: batching them per event-loop turn measured slower (bench/node),
   * because it turns a pipelined client into lock-step rounds.
   */
  sendRaw(message: Buffer, written?: () => void): void {
    if (this.closed) {
      written?.();
      return;
    }
    // The callback runs once the kernel has the bytes (or the write failed): the buffer is free.
    this.socket.write(message, written);
    this.applyBackpressure();
  }

  private applyBackpressure(): void {
    if (!this.paused && this.socket.writableLength > PAUSE_ABOVE) {
      this.paused = true;
      this.socket.pause();
    }
  }

  /** Resolves once the socket's queue has drained (at once when it is empty, or the connection closed). */
  drained(): Promise<void> {
    if (this.closed || this.socket.writableLength === 0) return Promise.resolve();
    return new Promise((resolve) => {
      const done = (): void => {
        this.socket.off('drain', done);
        this.socket.off('close', done);
        resolve();
      };
      this.socket.on('drain', done);
      this.socket.on('close', done);
    });
  }

  /** Flushes what is queued, then closes. */
  end(): void {
    this.closed = true;
    this.socket.end();
  }

  destroy(): void {
    this.closed = true;
    this.socket.destroy();
  }
}
