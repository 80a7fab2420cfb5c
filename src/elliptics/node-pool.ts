// A pool of connections to one node: `size` handshaken connections, requests go to the one with the
// fewest transactions in flight, dead connections are redialled with back-off and jitter. While no
// connection is up, requests fail at once with -ENXIO instead of waiting for a reconnect.
//
// Node health: a node that lets a transaction pass its deadline is *suspect* — it may be hung
// (SIGSTOP, a disk that stopped answering). It is probed in the background with a cheap command
// (BACKEND_STATUS, the protocol's liveness ping) under a short deadline, with back-off, and is *up*
// again as soon as a probe answers. Callers ask `state` to prefer healthy replicas and not to queue
// behind a suspect node. One log line when a node turns bad, one when it recovers.

import { Connection, type ConnectionOptions, type HandshakeResult, type Packet, type RequestOptions } from './connection.js';
import { EllipticsError } from './errors.js';
import { Errno, formatAddr, formatEndpoint, type BackendIds, type Header, type ProtocolVersion } from './protocol/index.js';
import { backendStatusRequest } from './requests.js';
import type { Logger } from '../util/logger.js';

export type NodeState = 'up' | 'suspect' | 'down';

export interface NodePoolOptions {
  host: string;
  port: number;
  size: number;
  /** Transactions that may be in flight to the node; more fail at once with -EBUSY (the caller sheds load). */
  maxPending: number;
  version: ProtocolVersion;
  connection: ConnectionOptions;
  log: Logger;
  /** Every successful handshake: the node's addresses and backends (routes). */
  onIdentity: (pool: NodePool, hs: HandshakeResult) => void;
  /** UPDATE_IDS pushed by the node. */
  onUpdateIds: (pool: NodePool, backends: BackendIds[]) => void;
  /** The last live connection went away. */
  onDown?: (pool: NodePool) => void;
  /** This pool found the node unresponsive (not when told so by `markSuspect(…, true)`). */
  onSuspect?: (pool: NodePool, why: string) => void;
}

const BACKOFF_MIN_MS = 100;
const BACKOFF_MAX_MS = 5000;
/** Deadline of a health probe, and its back-off between attempts. */
export const PROBE_TIMEOUT_MS = 1000;
/** A node silent this long (no traffic) gets a liveness probe, so a hang shows without requests. */
const HEARTBEAT_MS = 2000;
const PROBE_MIN_MS = 250;
const PROBE_MAX_MS = 2000;

interface Slot {
  conn: Connection | undefined;
  dialing: boolean;
  backoff: number;
  timer: NodeJS.Timeout | undefined;
}

/** ±20 % so that many pools (workers × nodes) do not redial or probe in lock-step. */
function jitter(ms: number): number {
  return Math.round(ms * (0.8 + Math.random() * 0.4));
}

export class NodePool {
  /** `host:port` as dialled. */
  readonly endpoint: string;
  private readonly slots: Slot[];
  private closed = false;
  private lastError: EllipticsError | undefined;
  /** The node's first advertised address (`ip:port:family`), known after a handshake. */
  address: string | undefined;
  /** Set while the node is suspect: why, and the probe schedule. */
  private suspect: { since: number; why: string; backoff: number; timer: NodeJS.Timeout | undefined } | undefined;
  /** Whether the last reported state was down (to log the recovery once). */
  private reportedDown = false;
  private heartbeat: NodeJS.Timeout | undefined;
  private beating = false;

  constructor(private readonly opts: NodePoolOptions) {
    this.endpoint = formatEndpoint(opts);
    this.slots = Array.from({ length: Math.max(1, opts.size) }, () => ({ conn: undefined, dialing: false, backoff: BACKOFF_MIN_MS, timer: undefined }));
  }

  /** Dials every slot; resolves once one connection is up, rejects if none could be made. */
  async start(): Promise<void> {
    this.heartbeat ??= setInterval(() => void this.beat(), HEARTBEAT_MS);
    this.heartbeat.unref();
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

  /** up: connected and answering; suspect: connected, but a request went unanswered; down: not connected. */
  get state(): NodeState {
    if (!this.alive) return 'down';
    return this.suspect ? 'suspect' : 'up';
  }

  get connections(): number {
    return this.slots.filter((s) => s.conn && !s.conn.closed).length;
  }

  get inFlight(): number {
    let n = 0;
    for (const s of this.slots) if (s.conn && !s.conn.closed) n += s.conn.inFlight;
    return n;
  }

  private get name(): string {
    return this.address ?? this.endpoint;
  }

  /**
   * A handshaken connection of its own, outside the pool (a walk that paces itself by not reading
   * its socket must not hold up other requests). The caller closes it.
   */
  async dedicated(timeoutMs?: number): Promise<Connection> {
    const conn = await Connection.open(this.opts.host, this.opts.port, { ...this.opts.connection, ...(timeoutMs ? { timeoutMs } : {}) });
    try {
      await conn.handshake(this.opts.version);
    } catch (err) {
      conn.destroy();
      throw err;
    }
    return conn;
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
      throw new EllipticsError(Errno.ENXIO, `node ${this.name} is not connected${this.lastError ? ` (${this.lastError.message})` : ''}`);
    }
    return best;
  }

  request(header: Header, payload: readonly Buffer[] = [], opts: RequestOptions = {}): Promise<Packet[]> {
    return this.send(header, payload, opts, true);
  }

  /** `bounded`: refused with -EBUSY when maxPending transactions wait already (pings never are). */
  private send(header: Header, payload: readonly Buffer[], opts: RequestOptions, bounded: boolean): Promise<Packet[]> {
    let conn: Connection;
    try {
      conn = this.pick();
    } catch (err) {
      return Promise.reject(err);
    }
    if (bounded && this.opts.maxPending !== Infinity && this.inFlight >= this.opts.maxPending) {
      return Promise.reject(new EllipticsError(Errno.EBUSY, `node ${this.name} has ${this.inFlight} requests in flight (elliptics.max-pending-per-node)`));
    }
    return conn.request(header, payload, opts);
  }

  /** Why requests should not wait on this node now (undefined when it is up). */
  get unhealthy(): string | undefined {
    if (this.suspect) return `node ${this.name} is suspect (${this.suspect.why}; being probed)`;
    if (!this.alive) return `node ${this.name} is not connected`;
    return undefined;
  }

  /**
   * A transaction to this node went unanswered (or, `told`, another process sharing the node found
   * so): probe it until it answers again. A node that is fine answers the first probe.
   */
  markSuspect(why: string, told = false): void {
    if (this.suspect || this.closed || !this.alive) return;
    this.suspect = { since: Date.now(), why, backoff: PROBE_MIN_MS, timer: undefined };
    this.opts.log.warn({ node: this.name, why }, told ? 'storage node suspect (reported by another worker); probing it' : 'storage node suspect: it did not answer in time; probing it');
    this.scheduleProbe();
    if (!told) this.opts.onSuspect?.(this, why);
  }

  private scheduleProbe(): void {
    const s = this.suspect;
    if (!s || this.closed) return;
    const wait = jitter(s.backoff);
    s.backoff = Math.min(PROBE_MAX_MS, s.backoff * 2);
    s.timer = setTimeout(() => void this.probe(), wait);
    s.timer.unref();
  }

  private async probe(): Promise<void> {
    const s = this.suspect;
    if (!s || this.closed) return;
    s.timer = undefined;
    try {
      await this.ping();
      this.suspect = undefined;
      this.opts.log.info({ node: this.name, suspectForMs: Date.now() - s.since }, 'storage node answers again');
    } catch {
      // Still hung (or gone: then the connection loss takes over and the probe stops).
      if (this.alive) this.scheduleProbe();
      else this.clearSuspect();
    }
  }

  /** A liveness probe when the node has been silent: a hung node turns suspect even without traffic. */
  private async beat(): Promise<void> {
    if (this.beating || this.suspect || this.closed || !this.alive) return;
    let heard = 0;
    for (const s of this.slots) if (s.conn && !s.conn.closed) heard = Math.max(heard, s.conn.lastHeard);
    if (Date.now() - heard < HEARTBEAT_MS) return;
    this.beating = true;
    try {
      await this.ping(); // a timeout marks the node suspect ('stall')
    } catch {
      // the connection's stall or close event has done what there is to do
    } finally {
      this.beating = false;
    }
  }

  /** The protocol's liveness ping: BACKEND_STATUS under a short deadline (never refused as excess load). */
  private ping(): Promise<Packet[]> {
    const r = backendStatusRequest();
    return this.send(r.header, r.payload, { timeoutMs: PROBE_TIMEOUT_MS }, false);
  }

  private clearSuspect(): void {
    if (this.suspect?.timer) clearTimeout(this.suspect.timer);
    this.suspect = undefined;
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
      conn.on('stall', (ms) => this.markSuspect(`no reply within ${ms} ms`));
      if (this.reportedDown) {
        this.reportedDown = false;
        this.opts.log.info({ node: this.name }, 'storage node connected again');
      }
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
      this.clearSuspect();
      if (!this.reportedDown) {
        this.reportedDown = true;
        this.opts.log.warn({ node: this.name, reason: reason.message }, 'lost every connection to the storage node; redialling');
      }
      this.opts.onDown?.(this);
    }
    this.scheduleRedial(slot);
  }

  private scheduleRedial(slot: Slot): void {
    if (this.closed || slot.timer) return;
    const wait = jitter(slot.backoff);
    slot.backoff = Math.min(BACKOFF_MAX_MS, slot.backoff * 2);
    slot.timer = setTimeout(() => {
      slot.timer = undefined;
      this.dial(slot).catch(() => undefined);
    }, wait);
    slot.timer.unref();
  }

  close(): void {
    this.closed = true;
    if (this.heartbeat) clearInterval(this.heartbeat);
    this.clearSuspect();
    for (const s of this.slots) {
      if (s.timer) clearTimeout(s.timer);
      s.timer = undefined;
      s.conn?.destroy();
      s.conn = undefined;
    }
  }
}
