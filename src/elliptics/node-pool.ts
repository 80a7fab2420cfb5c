// A pool of connections to one node: `size` handshaken connections, requests go to the one with the
// fewest transactions in flight, dead connections are redialled with back-off. While no connection
// is up, requests fail at once with -ENXIO instead of waiting for a reconnect.

import { Connection, type ConnectionOptions, type HandshakeResult, type Packet, type RequestOptions } from './connection.js';
import { EllipticsError } from './errors.js';
import { Errno, formatAddr, formatEndpoint, type BackendIds, type Header, type ProtocolVersion } from './protocol/index.js';
import type { Logger } from '../util/logger.js';

export interface NodePoolOptions {
  host: string;
  port: number;
  size: number;
  version: ProtocolVersion;
  connection: ConnectionOptions;
  log: Logger;
  /** Every successful handshake: the node's addresses and backends (routes). */
  onIdentity: (pool: NodePool, hs: HandshakeResult) => void;
  /** UPDATE_IDS pushed by the node. */
  onUpdateIds: (pool: NodePool, backends: BackendIds[]) => void;
  /** The last live connection went away. */
  onDown?: (pool: NodePool) => void;
}

const BACKOFF_MIN_MS = 100;
const BACKOFF_MAX_MS = 5000;

interface Slot {
  conn: Connection | undefined;
  dialing: boolean;
  backoff: number;
  timer: NodeJS.Timeout | undefined;
}

export class NodePool {
  /** `host:port` as dialled. */
  readonly endpoint: string;
  private readonly slots: Slot[];
  private closed = false;
  private lastError: EllipticsError | undefined;
  /** The node's first advertised address (`ip:port:family`), known after a handshake. */
  address: string | undefined;

  constructor(private readonly opts: NodePoolOptions) {
    this.endpoint = formatEndpoint(opts);
    this.slots = Array.from({ length: Math.max(1, opts.size) }, () => ({ conn: undefined, dialing: false, backoff: BACKOFF_MIN_MS, timer: undefined }));
  }

  /** Dials every slot; resolves once one connection is up, rejects if none could be made. */
  async start(): Promise<void> {
    const attempts = this.slots.map((s) => this.dial(s));
    const results = await Promise.allSettled(attempts);
    if (!this.alive) {
      const first = results.find((r) => r.status === 'rejected') as PromiseRejectedResult | undefined;
      throw first?.reason instanceof Error ? first.reason : new EllipticsError(Errno.ENXIO, `${this.endpoint}: no connection`);
    }
  }

  get alive(): boolean {
    return this.slots.some((s) => s.conn !== undefined && !s.conn.closed);
  }

  /** "up" while a connection is live, "down" otherwise. */
  get state(): string {
    return this.alive ? 'up' : 'down';
  }

  get connections(): number {
    return this.slots.filter((s) => s.conn && !s.conn.closed).length;
  }

  get inFlight(): number {
    let n = 0;
    for (const s of this.slots) if (s.conn && !s.conn.closed) n += s.conn.inFlight;
    return n;
  }

  /** The live connection with the fewest transactions in flight. */
  pick(): Connection {
    let best: Connection | undefined;
    for (const s of this.slots) {
      const c = s.conn;
      if (!c || c.closed) continue;
      if (!best || c.inFlight < best.inFlight) best = c;
    }
    if (!best) {
      throw new EllipticsError(Errno.ENXIO, `node ${this.address ?? this.endpoint} is not connected${this.lastError ? ` (${this.lastError.message})` : ''}`);
    }
    return best;
  }

  request(header: Header, payload: readonly Buffer[] = [], opts: RequestOptions = {}): Promise<Packet[]> {
    let conn: Connection;
    try {
      conn = this.pick();
    } catch (err) {
      return Promise.reject(err);
    }
    return conn.request(header, payload, opts);
  }

  private async dial(slot: Slot): Promise<void> {
    if (this.closed || slot.dialing) return;
    slot.dialing = true;
    let conn: Connection | undefined;
    try {
      conn = await Connection.open(this.opts.host, this.opts.port, this.opts.connection);
      const hs = await conn.handshake(this.opts.version);
      if (this.closed) {
        conn.destroy();
        return;
      }
      slot.conn = conn;
      slot.backoff = BACKOFF_MIN_MS;
      this.address = formatAddr(hs.identity.addrs[hs.addrIndex]!);
      conn.on('update-ids', (b) => this.opts.onUpdateIds(this, b));
      conn.on('close', (reason) => this.onClose(slot, conn!, reason));
      this.opts.onIdentity(this, hs);
    } catch (err) {
      conn?.destroy();
      this.lastError = err instanceof EllipticsError ? err : new EllipticsError(Errno.ECONNREFUSED, (err as Error).message);
      this.scheduleRedial(slot);
      throw this.lastError;
    } finally {
      slot.dialing = false;
    }
  }

  private onClose(slot: Slot, conn: Connection, reason: EllipticsError): void {
    if (slot.conn !== conn) return;
    slot.conn = undefined;
    this.lastError = reason;
    if (this.closed) return;
    if (!this.alive) {
      this.opts.log.warn({ node: this.address ?? this.endpoint, reason: reason.message }, 'lost every connection to the node; redialling');
      this.opts.onDown?.(this);
    }
    this.scheduleRedial(slot);
  }

  private scheduleRedial(slot: Slot): void {
    if (this.closed || slot.timer) return;
    const wait = slot.backoff;
    slot.backoff = Math.min(BACKOFF_MAX_MS, slot.backoff * 2);
    slot.timer = setTimeout(() => {
      slot.timer = undefined;
      this.dial(slot).catch(() => undefined);
    }, wait);
    slot.timer.unref();
  }

  close(): void {
    this.closed = true;
    for (const s of this.slots) {
      if (s.timer) clearTimeout(s.timer);
      s.timer = undefined;
      s.conn?.destroy();
      s.conn = undefined;
    }
  }
}
