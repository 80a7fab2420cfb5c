// The node's side of one TCP connection (a client or a peer node): framing in, replies out, and
// backpressure — reading stops while the client does not drain what it asked for.
//
// Bytes are read into 1 MiB slabs, and the payload of a large frame (a WRITE of a big object)
// straight into a pooled buffer that goes back to the pool once its command is done: reading into
// the fresh 64 KiB chunks of a 'data' event cost twice the CPU per byte, most of it collecting them.

import net from 'node:net';
import { type DnetAddr, encodeHeader, FrameDecoder, frameReader, HEADER_SIZE, type Header, type Payload } from '../elliptics/protocol/index.js';
import type { BufferPool } from '../util/buffer-pool.js';
import { readAcceptedWith } from '../util/slab-reader.js';
import { CommandStats } from './command-stats.js';

/** Stop reading requests while this many reply bytes wait in the socket. */
const PAUSE_ABOVE = 32 * 1024 * 1024;
/** Payloads from this size on are read into a buffer of their own (from the pool). */
const LARGE_FRAME = 256 * 1024;

export interface ServerConnectionOptions {
  maxFrame: number;
  /** Where the payloads of large frames are read to; Payload.release gives them back. */
  frames: BufferPool;
  onFrame: (conn: ServerConnection, h: Header, payload: Payload) => void;
  /** Undecodable bytes, or a frame above maxFrame (FrameTooLargeError): reading has stopped. */
  onBadInput: (conn: ServerConnection, err: unknown) => void;
}

export class ServerConnection {
  readonly remote: string;
  /** The socket (a new object for the accepted one, see readAcceptedWith). */
  readonly socket: net.Socket;
  /** Completed REVERSE_LOOKUP: receives UPDATE_IDS pushes. */
  idsSent = false;
  /** Addresses of a peer node that JOINed over this connection. */
  joined: DnetAddr[] | undefined;
  readonly stats = new CommandStats();
  /** Writes handed to the socket (a held batch of replies counts once). */
  socketWrites = 0;
  private readonly decoder: FrameDecoder;
  private paused = false;
  /** Replies are held (corked) until this turn's microtasks have run: holdReplies. */
  private holding = false;
  /** A reply was queued while holding. */
  private held = false;
  closed = false;

  /** `accepted` comes from a server listening with pauseOnConnect. */
  constructor(accepted: net.Socket, opts: ServerConnectionOptions) {
    // A client on the Unix socket has no address: it is a process of this host.
    this.remote = accepted.remoteAddress ? `${accepted.remoteAddress.replace(/^::ffff:/, '')}:${accepted.remotePort ?? 0}` : 'local';
    const onFrame = (h: Header, p: Payload): void => {
      this.holdReplies();
      opts.onFrame(this, h, p);
    };
    const decoder = (this.decoder = new FrameDecoder(onFrame, opts.maxFrame, { pool: opts.frames, above: LARGE_FRAME }));
    this.socket = readAcceptedWith(accepted, frameReader(decoder, (err) => {
      this.socket.pause();
      opts.onBadInput(this, err);
    }));
    this.socket.setNoDelay(true);
    this.socket.setKeepAlive(true, 10_000);
    this.socket.on('close', () => (this.closed = true));
    this.socket.on('drain', () => {
      if (this.paused) {
        this.paused = false;
        this.socket.resume();
      }
    });
  }

  /**
   * Called for each frame decoded: replies to the requests of one socket read leave in one writev.
   * A pipelining client sends several requests per read (the proxy's workers send what one turn of
   * their loop produced), and the replies of those served from memory or the page cache are ready before this turn's
   * microtasks run out; one send to the kernel instead of one each saves most of the per-reply
   * cost on loopback, where the sender also runs the receiver's TCP path. The socket is uncorked
   * by a tick queued from the first microtask: Node runs it once every microtask has run, so no
   * reply waits for anything but the synchronous work of its own turn (replies that wait on the
   * disk go out on their own, as before).
   */
  private holdReplies(): void {
    if (this.holding) return;
    this.holding = true;
    this.socket.cork();
    queueMicrotask(this.releaseSoon);
  }

  private readonly releaseSoon = (): void => {
    process.nextTick(this.releaseReplies);
  };
  private readonly releaseReplies = (): void => {
    this.holding = false;
    if (this.held) this.socketWrites++;
    this.held = false;
    this.socket.uncork();
  };

  private counted(): void {
    if (this.holding) this.held = true;
    else this.socketWrites++;
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
    this.counted();
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
   * Writes bytes that already hold a complete encoded message (header included). Replies are held
   * only until this turn's microtasks have run (holdReplies), never to the next turn of the loop:
   * that measured slower (bench/node), as it turns a pipelined client into lock-step rounds.
   */
  sendRaw(message: Buffer, written?: () => void): void {
    if (this.closed) {
      written?.();
      return;
    }
    this.counted();
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
