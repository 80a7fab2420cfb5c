// One TCP connection to an Elliptics node: framing, transaction ids, per-transaction inactivity
// deadlines, the REVERSE_LOOKUP handshake, and UPDATE_IDS pushes. The bottom rung of the client
// ladder (connection → node pool → cluster → session).

import { EventEmitter } from 'node:events';
import net from 'node:net';
import {
  Command, CommandFlags, Errno, HEADER_SIZE, type ProtocolVersion,
  decodeIdContainer, decodeNodeIdentity, decodeVersion, encodeHeader, encodeVersion, formatVersion, FrameDecoder, frameReader,
  isReply, Payload, isSupportedVersion, makeAddr, makeHeader, addrEquals, replyHeader, replyTrans,
  type BackendIds, type Header, type NodeIdentity, ProtocolError,
} from './protocol/index.js';
import { EllipticsError } from './errors.js';
import { BufferPool } from '../util/buffer-pool.js';

/**
 * Replies this big (a READ of 256 KiB or more) are received into a pooled buffer of their own,
 * which a streaming reader hands back once the bytes were passed on (ObjectReader `recycle`).
 */
const LARGE_REPLY = 256 * 1024;
const replyBuffers = new BufferPool(8 * 1024 * 1024);

/** One received message. `body` keeps the payload as received chunks; `payload` joins them. */
export class Packet {
  constructor(
    readonly header: Header,
    readonly body: Payload,
  ) {}

  get payload(): Buffer {
    return this.body.bytes;
  }
}

export interface ConnectionOptions {
  /** Largest reply frame accepted; a bigger one closes the connection. */
  maxFrame: number;
  /** Default inactivity deadline of a transaction, re-armed by every packet of it. */
  timeoutMs: number;
  connectTimeoutMs?: number;
  /**
   * Reach the node through this Unix-domain socket instead of host:port (our embedded node, on this
   * host): the same protocol, a third less CPU per byte each way than TCP over loopback (bench/node).
   */
  socketPath?: string;
}

export interface RequestOptions {
  timeoutMs?: number;
  /** Called for every packet of the transaction as it arrives (the final one included). */
  onPacket?: (p: Packet) => void;
  /** Keep packets out of the resolved array (streaming consumers that use onPacket). */
  discard?: boolean;
}

interface Pending {
  packets: Packet[];
  deadline: number;
  timeoutMs: number;
  onPacket: ((p: Packet) => void) | undefined;
  discard: boolean;
  resolve: (packets: Packet[]) => void;
  reject: (err: Error) => void;
}

export interface HandshakeResult {
  /** The version the node answered with (its own). */
  version: ProtocolVersion;
  identity: NodeIdentity;
  /** Index of the dialled address in the node's address list. */
  addrIndex: number;
}

/** Process-wide transaction counter, as the C library keeps it (0 is reserved for the handshake). */
let nextTrans = 1;

export interface ConnectionEvents {
  close: [err: EllipticsError];
  'update-ids': [backends: BackendIds[]];
  /** A transaction got no reply within its deadline: the node may be hung. */
  stall: [timeoutMs: number];
}

export class Connection extends EventEmitter<ConnectionEvents> {
  private readonly pending = new Map<number, Pending>();
  private sweeper: NodeJS.Timeout | undefined;
  private corked = false;
  /** Socket writes so far (batches): requests issued in one event-loop turn share one. */
  flushes = 0;
  private closedWith: EllipticsError | undefined;
  /** When the node last sent anything (ms since the epoch). */
  lastHeard = Date.now();
  /** `ip:port` of the node, for messages. */
  readonly remote: string;

  private constructor(
    private readonly socket: net.Socket,
    private readonly opts: ConnectionOptions,
    remote: string,
    /** The node's address this connection reaches (the one it must list in the handshake). */
    private readonly dialled: { host: string; port: number },
  ) {
    super();
    this.remote = remote;
    socket.on('error', (err: NodeJS.ErrnoException) => this.destroy(socketError(err, this.remote)));
    socket.on('close', () => this.destroy(new EllipticsError(Errno.ECONNRESET, `${this.remote}: connection closed`)));
  }

  /** Opens a TCP connection (keepalive on, Nagle off), or one to opts.socketPath; without the handshake. */
  static open(host: string, port: number, opts: ConnectionOptions): Promise<Connection> {
    return new Promise((resolve, reject) => {
      // The decoder exists before the connection object (onread is set at connect); bytes can only arrive after 'connect'.
      let conn: Connection | undefined;
      const decoder = new FrameDecoder((h, p) => conn!.onFrame(h, p), opts.maxFrame, { pool: replyBuffers, above: LARGE_REPLY });
      const onread = frameReader(decoder, (err: unknown) => {
        const status = err instanceof ProtocolError ? err.status : Errno.EPROTO;
        conn?.destroy(new EllipticsError(status, `${conn.remote}: ${(err as Error).message}`));
      });
      const remote = `${host}:${port}`;
      const where = opts.socketPath ? `${remote} (unix socket ${opts.socketPath})` : remote;
      const socket = opts.socketPath
        ? net.connect({ path: opts.socketPath, onread })
        : net.connect({ host, port, noDelay: true, keepAlive: true, keepAliveInitialDelay: 10_000, onread });
      const timer = setTimeout(() => {
        socket.destroy();
        reject(new EllipticsError(Errno.ETIMEDOUT, `connect to ${where} timed out`));
      }, opts.connectTimeoutMs ?? 5000);
      socket.once('connect', () => {
        clearTimeout(timer);
        socket.removeAllListeners('error');
        // Over TCP the address actually connected to (a hostname resolved); over the Unix socket the one it stands for.
        // (A socket the node already hung up on has no address left: the handshake will fail on it.)
        const address = socket.remoteAddress;
        const dialled = opts.socketPath || !address ? { host, port } : { host: address.replace(/^::ffff:/, ''), port: socket.remotePort ?? port };
        conn = new Connection(socket, opts, remote, dialled);
        resolve(conn);
      });
      socket.once('error', (err: NodeJS.ErrnoException) => {
        clearTimeout(timer);
        reject(socketError(err, where));
      });
    });
  }

  get closed(): boolean {
    return this.closedWith !== undefined;
  }

  get inFlight(): number {
    return this.pending.size;
  }

  /** Bytes queued in the socket that the kernel has not taken yet. */
  get writeQueue(): number {
    return this.socket.writableLength;
  }

  get localPort(): number {
    return this.socket.localPort ?? 0;
  }

  /**
   * REVERSE_LOOKUP (spec §5.1): announce our version, learn the node's addresses and ring points.
   * A node that rejects the version closes the socket without a reply.
   */
  async handshake(version: ProtocolVersion, timeoutMs = this.opts.timeoutMs): Promise<HandshakeResult> {
    const header = makeHeader({ cmd: Command.REVERSE_LOOKUP, id: encodeVersion(version), flags: CommandFlags.DIRECT | CommandFlags.NOLOCK });
    let packets: Packet[];
    try {
      packets = await this.transact(0, header, [], { timeoutMs });
    } catch (err) {
      if (err instanceof EllipticsError && err.status === Errno.ECONNRESET) {
        throw new EllipticsError(Errno.EPROTO, `${this.remote} closed the connection instead of answering the handshake; it probably does not accept protocol version ${formatVersion(version)} (set elliptics.protocol-version to what the cluster runs)`);
      }
      throw err;
    }
    const reply = packets[packets.length - 1]!;
    if (reply.header.status !== 0) throw new EllipticsError(reply.header.status, `${this.remote}: handshake refused`);
    const theirs = decodeVersion(reply.header.id);
    if (!isSupportedVersion(theirs)) {
      throw new EllipticsError(Errno.EPROTO, `${this.remote} speaks protocol ${formatVersion(theirs)}; supported are 2.26 and 3.0`);
    }
    let identity: NodeIdentity;
    try {
      identity = decodeNodeIdentity(reply.payload);
    } catch (err) {
      throw new EllipticsError(Errno.EPROTO, `${this.remote}: bad handshake payload: ${(err as Error).message}`);
    }
    const dialled = makeAddr(this.dialled.host, this.dialled.port);
    const addrIndex = identity.addrs.findIndex((a) => addrEquals(a, dialled));
    if (addrIndex < 0) {
      throw new EllipticsError(Errno.EPROTO, `${this.remote} does not list the address we dialled among its addresses (${identity.addrs.map((a) => `${a.host}:${a.port}`).join(', ')})`);
    }
    return { version: theirs, identity, addrIndex };
  }

  /** Sends a request with a fresh transaction id; resolves with every packet of the reply. */
  request(header: Header, payload: readonly Buffer[] = [], opts: RequestOptions = {}): Promise<Packet[]> {
    const trans = nextTrans++;
    if (nextTrans > Number.MAX_SAFE_INTEGER) nextTrans = 1;
    return this.transact(trans, header, payload, opts);
  }

  /** Sends a packet that expects no reply (UPDATE_IDS, JOIN). */
  send(header: Header, payload: readonly Buffer[] = []): void {
    if (this.closedWith) throw this.closedWith;
    this.write(header, payload);
  }

  private transact(trans: number, header: Header, payload: readonly Buffer[], opts: RequestOptions): Promise<Packet[]> {
    if (this.closedWith) return Promise.reject(this.closedWith);
    header.trans = BigInt(trans);
    return new Promise<Packet[]>((resolve, reject) => {
      const timeoutMs = opts.timeoutMs ?? this.opts.timeoutMs;
      this.pending.set(trans, {
        packets: [],
        deadline: Date.now() + timeoutMs,
        timeoutMs,
        onPacket: opts.onPacket,
        discard: opts.discard ?? false,
        resolve,
        reject,
      });
      this.armSweeper();
      this.write(header, payload);
    });
  }

  private write(header: Header, payload: readonly Buffer[]): void {
    let size = 0;
    for (const p of payload) size += p.length;
    header.size = size;
    if (!this.corked) {
      // Requests issued in one turn of the event loop leave in one writev.
      this.corked = true;
      this.flushes++;
      this.socket.cork();
      setImmediate(this.flush);
    }
    this.socket.write(encodeHeader(header, Buffer.allocUnsafe(HEADER_SIZE)));
    for (const p of payload) if (p.length > 0) this.socket.write(p);
  }

  private readonly flush = (): void => {
    this.corked = false;
    this.socket.uncork();
  };

  /** Stops reading replies (the kernel's window then holds the node back); resumeReading undoes it. */
  pauseReading(): void {
    this.socket.pause();
  }

  resumeReading(): void {
    this.socket.resume();
  }

  /** Re-arms the deadlines of every pending transaction (a consumer that paused reading was busy, the node was not silent). */
  touch(): void {
    const now = Date.now();
    for (const p of this.pending.values()) p.deadline = now + p.timeoutMs;
  }

  /** Resolves once the socket's write buffer has drained (or at once when it is empty). */
  drained(): Promise<void> {
    if (this.socket.writableLength === 0 || this.closedWith) return Promise.resolve();
    return new Promise((resolve) => {
      const done = (): void => {
        this.socket.off('drain', done);
        this.off('close', done);
        resolve();
      };
      this.socket.on('drain', done);
      this.on('close', done);
    });
  }

  private onFrame(header: Header, payload: Payload): void {
    this.lastHeard = Date.now();
    if (!isReply(header)) {
      this.onUnsolicited(header, payload.bytes);
      return;
    }
    const trans = Number(replyTrans(header));
    const p = this.pending.get(trans);
    if (!p) return; // late reply of a transaction that already timed out
    const packet = new Packet(header, payload);
    p.deadline = Date.now() + p.timeoutMs;
    if (!p.discard) p.packets.push(packet);
    const last = (header.flags & CommandFlags.MORE) === 0;
    if (last) this.pending.delete(trans);
    try {
      p.onPacket?.(packet);
    } catch (err) {
      if (last) settle(p, err as Error);
      return;
    }
    if (last) settle(p, undefined);
  }

  private onUnsolicited(header: Header, payload: Buffer): void {
    if (header.cmd === Command.UPDATE_IDS) {
      try {
        this.emit('update-ids', decodeIdContainer(payload, 0));
      } catch {
        // A malformed push changes nothing; the next ROUTE_LIST / handshake refresh corrects the routes.
      }
      return;
    }
    if (header.flags & CommandFlags.NEED_ACK) {
      this.write(replyHeader(header, { status: Errno.ENOTSUP }), []);
    }
  }

  private armSweeper(): void {
    if (this.sweeper) return;
    this.sweeper = setInterval(() => this.sweep(), 50);
    this.sweeper.unref();
  }

  private sweep(): void {
    const now = Date.now();
    let stalled = 0;
    for (const [trans, p] of this.pending) {
      if (p.deadline <= now) {
        this.pending.delete(trans);
        stalled = p.timeoutMs;
        settle(p, new EllipticsError(Errno.ETIMEDOUT, `${this.remote}: no reply within ${p.timeoutMs} ms`));
      }
    }
    if (stalled) this.emit('stall', stalled);
    if (this.pending.size === 0 && this.sweeper) {
      clearInterval(this.sweeper);
      this.sweeper = undefined;
    }
  }

  /** Closes the socket; every pending transaction fails with `reason`. */
  destroy(reason: EllipticsError = new EllipticsError(Errno.ECONNRESET, `${this.remote}: connection closed locally`)): void {
    if (this.closedWith) return;
    this.closedWith = reason;
    if (this.sweeper) clearInterval(this.sweeper);
    this.sweeper = undefined;
    this.socket.destroy();
    const failed = [...this.pending.values()];
    this.pending.clear();
    for (const p of failed) settle(p, reason);
    this.emit('close', reason);
  }

  /** Closes gracefully after the queued bytes are written. */
  end(): void {
    if (this.closedWith) return;
    this.socket.end();
  }
}

const SETTLED = (): void => undefined;

/**
 * Ends a transaction (with its packets, or `err`) and lets go of what it held. A Map's old hash
 * tables keep the entries they had when it grew, and V8's scavenger counts an old table that was
 * promoted as a root until the next full collection: a settled entry that still held its caller's
 * promise kept that whole request alive and got it promoted, and the tables after it in turn
 * (workers promoted ~3 KB per small read and collected the old generation 6–8 times a second).
 */
function settle(p: Pending, err: Error | undefined): void {
  const { resolve, reject, packets } = p;
  p.resolve = SETTLED;
  p.reject = SETTLED;
  p.onPacket = undefined;
  p.packets = [];
  if (err) reject(err);
  else resolve(packets);
}

/** Socket error codes as the errno a node would have answered with. */
const SOCKET_ERRNO: Readonly<Record<string, number>> = {
  ECONNREFUSED: Errno.ECONNREFUSED,
  ECONNRESET: Errno.ECONNRESET,
  ETIMEDOUT: Errno.ETIMEDOUT,
  EPIPE: Errno.ECONNRESET,
  EHOSTUNREACH: Errno.ENXIO,
  ENETUNREACH: Errno.ENXIO,
  ENOTFOUND: Errno.ENXIO,
  EAI_AGAIN: Errno.ENXIO,
};

function socketError(err: NodeJS.ErrnoException, where: string): EllipticsError {
  const status = SOCKET_ERRNO[err.code ?? ''] ?? Errno.ECONNRESET;
  return new EllipticsError(status, `${where}: ${err.code ?? err.message}`);
}
