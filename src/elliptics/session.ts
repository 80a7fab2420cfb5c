// A session: the top rung of the client. It carries what each request needs (namespace, groups,
// io flags, command flags, trace id, timeout) and turns operations on keys into commands to the
// right node and backend of every group, returning one result per group.

import type { Cluster } from './cluster.js';
import type { Packet } from './connection.js';
import { EllipticsError, statusOf } from './errors.js';
import type { NodePool } from './node-pool.js';
import {
  Errno, FlagsHigh, Payload, compareTime, decodeFileInfoReply, formatAddr, keyToId, timeNow,
  type BackendControl, type BackendStatus, type DnetTime, type IoAttr,
} from './protocol/index.js';
import {
  backendControlRequest, backendStatusOf, backendStatusRequest, finalPacket, isLocated, locateReplyOf, lookupRequest, monitorStatOf, monitorStatRequest,
  ReadReply, readReplyOf, readRequest, removeRequest, routeListRequest, sharedWriteRequest, smallLocatedReplyOf, writeRequest, type Request, type Target, type WriteFields,
} from './requests.js';
import type { LocalFiles, LocalRead } from './local-files.js';
import { decodeRouteList } from './protocol/containers.js';
import { parseNodeStats, STATS_CATEGORIES, type NodeStats } from './stats.js';
import type { GroupResult, KeyResults } from './group-result.js';

export interface SessionOptions {
  /** Mixed into every key's id (backrunner: the bucket name). */
  namespace?: string;
  groups?: readonly number[];
  ioFlags?: number;
  /** Extra command flags on every data command. */
  cflags?: number;
  traceId?: bigint;
  /**
   * Per-transaction inactivity deadline; the cluster default when unset. For a read (readId) it
   * bounds the whole read: every group tried in turn.
   */
  timeoutMs?: number;
  /** A read's deadline in one group before the next group is tried; `timeoutMs` when unset. */
  attemptTimeoutMs?: number;
  /**
   * Reads and lookups ask our nodes when a missing key was removed (FlagsHigh.REMOVAL_TIME), and a
   * read never serves a copy older than a removal an earlier group remembers.
   */
  removalTimes?: boolean;
  /** Replicas known to hold an older state than was acknowledged (a hint is pending): never read. */
  stale?: StaleSet;
  /**
   * Our storage node on this host (its endpoint as dialled) and the reader of its files: reads of
   * it take the bytes from the blob files (FlagsHigh.LOCATE) instead of the socket (when
   * `localFiles` is given), and a write to several of its groups goes to it once
   * (FlagsHigh.ALSO_GROUPS).
   */
  localNode?: string;
  localFiles?: LocalFiles;
}

/** Replicas a read must not serve from, by (id, group). */
export interface StaleSet {
  readonly size: number;
  has(id: Buffer, group: number): boolean;
}

/**
 * What a read learned of the groups it did not serve from, for read-repair: groups that lacked the
 * object or held it damaged (a copy repairs them), groups that hold a copy older than a removal
 * another group remembers (repeating the removal repairs them), and that removal's time.
 */
export interface ReadMisses {
  missing: number[];
  shadowed: number[];
  removedAt: DnetTime | undefined;
}

/** A read that found nothing to serve; `misses` says what each group answered. */
export class ReadMissError extends EllipticsError {
  constructor(
    cause: EllipticsError,
    readonly misses: ReadMisses,
  ) {
    super(cause.status, cause.message.replace(/ \([A-Z0-9]+ -?\d+\)$/, ''), cause.removedAt ?? misses.removedAt);
  }
}

export interface WriteOptions {
  offset?: number;
  ioFlags?: number;
  timestamp?: DnetTime;
  userFlags?: bigint;
}


export interface RemoveOptions {
  /** When the removal was made (default: now). */
  timestamp?: DnetTime;
  /** io-flags, e.g. CAS_TIMESTAMP: our node then keeps a record newer than `timestamp`. */
  ioFlags?: number;
  /** Only these groups (default: the session's). */
  groups?: readonly number[];
}

export class Session {
  constructor(
    readonly cluster: Cluster,
    readonly opts: SessionOptions = {},
  ) {}

  /** A session with some options changed. */
  with(opts: SessionOptions): Session {
    return new Session(this.cluster, { ...this.opts, ...opts });
  }

  get groups(): readonly number[] {
    return this.opts.groups ?? [];
  }

  get timeoutMs(): number {
    return this.opts.timeoutMs ?? this.cluster.opts.timeoutMs;
  }

  id(key: string | Buffer): Buffer {
    return keyToId(key, this.opts.namespace);
  }

  // ---------------------------------------------------------------------------------------------
  // Plumbing: one request to the owner of (group, id)

  /** Sends a request to the node owning `id` in `group`; resolves with its packets. */
  async send(group: number, id: Buffer, build: (t: Target) => Request, timeoutMs = this.timeoutMs, route = this.cluster.route(group, id)): Promise<{ packets: Packet[]; pool: NodePool; backendId: number }> {
    const { pool, backendId } = route;
    const r = build({ id, group, backendId, cflags: this.opts.cflags ?? 0, traceId: this.opts.traceId ?? 0n });
    const packets = await pool.request(r.header, r.payload, { timeoutMs });
    return { packets, pool, backendId };
  }

  /** Runs `op` in every group in parallel and collects one result per group. */
  private async inAllGroups(id: Buffer, build: (t: Target) => Request, what: string, groups = this.groups): Promise<GroupResult[]> {
    if (groups.length === 0) throw new EllipticsError(Errno.ENXIO, `${what}: the session has no groups`);
    const skipped = this.unhealthyGroups(id, groups);
    return Promise.all(groups.map((g) => skipped.get(g) ?? this.resultOf(g, id, build, what)));
  }

  /**
   * Groups whose node for `id` is suspect or down while another group's is up: they are not asked
   * (a request would only queue behind a hung node) and get an -EHOSTDOWN result at once. When no
   * group is healthy, every group is asked anyway.
   */
  unhealthyGroups(id: Buffer, groups: readonly number[] = this.groups): Map<number, GroupResult> {
    const out = new Map<number, GroupResult>();
    if (!this.cluster.degraded) return out;
    let healthy = 0;
    for (const g of groups) {
      const r = this.cluster.routes.lookup(g, id);
      const pool = r && this.cluster.node(r.node);
      const why = pool?.unhealthy;
      if (!pool || !why) {
        healthy++;
        continue;
      }
      const error = new EllipticsError(Errno.EHOSTDOWN, `group ${g}: ${why}; not asked`);
      out.set(g, { group: g, backendId: r.backendId, address: pool.address ?? pool.endpoint, status: error.status, error, info: undefined, storage: undefined, micros: 0 });
    }
    return healthy > 0 ? out : new Map();
  }

  /** `groups` with those whose node for `id` is up first, then suspect, then down (each in its order). */
  byHealth(id: Buffer, groups: readonly number[]): readonly number[] {
    if (!this.cluster.degraded) return groups;
    const rank = (g: number): number => {
      const r = this.cluster.routes.lookup(g, id);
      const state = r ? this.cluster.node(r.node)?.state : undefined;
      return state === 'suspect' ? 1 : state === 'down' ? 2 : 0;
    };
    return groups.map((g) => ({ g, r: rank(g) })).sort((a, b) => a.r - b.r).map((x) => x.g);
  }

  /** One request in one group, its outcome as a GroupResult (never throws). */
  async resultOf(group: number, id: Buffer, build: (t: Target) => Request, what: string): Promise<GroupResult> {
    let address = '';
    let backendId = 0;
    const started = performance.now();
    try {
      const route = this.cluster.route(group, id);
      address = route.pool.address ?? route.pool.endpoint;
      backendId = route.backendId;
      const sent = await this.send(group, id, build, this.timeoutMs, route);
      const last = finalPacket(sent.packets, `${what} in group ${group}`);
      const fi = last.payload.length > 0 && (last.header.cmd === 1 || last.header.cmd === 4) ? decodeFileInfoReply(last.payload) : undefined;
      return { group, backendId: last.header.backendId, address, status: 0, error: undefined, info: fi?.info, storage: fi?.addr, micros: microsSince(started) };
    } catch (err) {
      const error = err instanceof EllipticsError ? err : new EllipticsError(statusOf(err, Errno.EIO), (err as Error).message);
      return { group, backendId, address, status: error.status, error, info: undefined, storage: undefined, micros: microsSince(started) };
    }
  }

  // ---------------------------------------------------------------------------------------------
  // Operations

  /** WRITE of the whole data to every group in parallel (data as one buffer or as chunks). */
  write(key: string | Buffer, data: Buffer | readonly Buffer[], opts: WriteOptions = {}): Promise<GroupResult[]> {
    return this.writeId(this.id(key), data, opts);
  }

  /** WRITE by key id (the streaming writer's single-chunk path). */
  writeId(id: Buffer, data: Buffer | readonly Buffer[], opts: WriteOptions = {}): Promise<GroupResult[]> {
    const parts = Buffer.isBuffer(data) ? [data] : data;
    // One timestamp for every replica: they are the same version of the object.
    const timestamp = opts.timestamp ?? timeNow();
    const fields: WriteFields = { offset: opts.offset ?? 0, ioFlags: opts.ioFlags ?? this.opts.ioFlags ?? 0, timestamp, userFlags: opts.userFlags };
    const build = (t: Target): Request => writeRequest(t, parts, fields);
    const groups = this.groups;
    const shared = this.opts.localNode !== undefined && groups.length > 1 ? this.groupsOnLocalNode(id, groups) : undefined;
    if (!shared) return this.inAllGroups(id, build, 'write');
    // Replicas on our node on this host: one WRITE stores them all; the other groups as usual.
    const together = this.sharedWrite(id, shared, parts, fields);
    const skipped = this.unhealthyGroups(id, groups);
    return Promise.all(groups.map((g) => (shared.includes(g) ? together.then((m) => m.get(g)!) : skipped.get(g) ?? this.resultOf(g, id, build, 'write'))));
  }

  /** The groups (two or more) whose owner of `id` is our node on this host and is up; undefined otherwise. */
  private groupsOnLocalNode(id: Buffer, groups: readonly number[]): number[] | undefined {
    let out: number[] | undefined;
    for (const g of groups) {
      const r = this.cluster.routes.lookup(g, id);
      const pool = r && this.cluster.node(r.node);
      if (pool && pool.endpoint === this.opts.localNode && !pool.unhealthy) (out ??= []).push(g);
    }
    return out && out.length > 1 ? out : undefined;
  }

  /**
   * One WRITE of `parts` for every group of `groups` (all on our node): the node answers one ACK per
   * group, each timed as it arrives. A transaction that fails as a whole fails every group.
   */
  private async sharedWrite(id: Buffer, groups: readonly number[], parts: readonly Buffer[], fields: WriteFields): Promise<Map<number, GroupResult>> {
    const started = performance.now();
    const out = new Map<number, GroupResult>();
    const [first, ...also] = groups as [number, ...number[]];
    let address = '';
    const arrived = new Map<number, { packet: Packet; micros: number }>();
    try {
      const route = this.cluster.route(first, id);
      address = route.pool.address ?? route.pool.endpoint;
      const r = sharedWriteRequest({ id, group: first, backendId: route.backendId, cflags: this.opts.cflags ?? 0, traceId: this.opts.traceId ?? 0n }, parts, also, fields);
      await route.pool.request(r.header, r.payload, { timeoutMs: this.timeoutMs, discard: true, onPacket: (p) => arrived.set(p.header.group, { packet: p, micros: microsSince(started) }) });
    } catch (err) {
      const error = err instanceof EllipticsError ? err : new EllipticsError(statusOf(err, Errno.EIO), (err as Error).message);
      for (const g of groups) if (!arrived.has(g)) out.set(g, failedResult(g, 0, address, error, microsSince(started)));
    }
    for (const g of groups) {
      if (out.has(g)) continue;
      const a = arrived.get(g);
      if (!a) out.set(g, failedResult(g, 0, address, new EllipticsError(Errno.EIO, `write in group ${g}: the node did not answer for it`), microsSince(started)));
      else out.set(g, this.writeResultOf(g, a.packet, address, a.micros));
    }
    return out;
  }

  private writeResultOf(group: number, p: Packet, address: string, micros: number): GroupResult {
    try {
      const last = finalPacket([p], `write in group ${group}`);
      const fi = last.payload.length > 0 ? decodeFileInfoReply(last.payload) : undefined;
      return { group, backendId: last.header.backendId, address, status: 0, error: undefined, info: fi?.info, storage: fi?.addr, micros };
    } catch (err) {
      const error = err instanceof EllipticsError ? err : new EllipticsError(Errno.EIO, (err as Error).message);
      return failedResult(group, p.header.backendId, address, error, micros);
    }
  }

  /** READ from the groups in order until one succeeds (spec §3.3). */
  read(key: string | Buffer, opts: { offset?: number; size?: number; ioFlags?: number; groups?: readonly number[] } = {}): Promise<ReadReply> {
    return this.readId(this.id(key), opts.groups ?? this.groups, { offset: opts.offset ?? 0, size: opts.size ?? 0, ioFlags: opts.ioFlags ?? this.opts.ioFlags ?? 0 }, 'read');
  }

  /**
   * One READ by id, trying `groups` in order — those on healthy nodes first — until one answers:
   * each try within the attempt deadline, all of them within the session's timeout. The error as
   * spec §5.1 picks it when none answers.
   */
  async readId(id: Buffer, groups: readonly number[], io: { offset: number; size: number; ioFlags: number }, what: string): Promise<ReadReply> {
    const failures: EllipticsError[] = [];
    const until = Date.now() + this.timeoutMs;
    const stale = this.opts.stale && this.opts.stale.size > 0 ? this.opts.stale : undefined;
    const flagsHigh = this.opts.removalTimes ? FlagsHigh.REMOVAL_TIME : 0;
    let misses: ReadMisses | undefined;
    for (const group of this.byHealth(id, groups)) {
      const left = until - Date.now();
      if (left <= 0) {
        failures.push(new EllipticsError(Errno.ETIMEDOUT, `${what}: no group answered within ${this.timeoutMs} ms`));
        break;
      }
      if (stale?.has(id, group)) {
        failures.push(new EllipticsError(Errno.ESTALE, `${what}: group ${group} missed a newer state (its repair is pending)`));
        continue;
      }
      try {
        const { pool, backendId } = this.cluster.route(group, id);
        const target = { id, group, backendId, cflags: this.opts.cflags ?? 0, flagsHigh, traceId: this.opts.traceId ?? 0n };
        const timeoutMs = Math.min(this.opts.attemptTimeoutMs ?? left, left);
        const asked = { id, offset: io.offset, size: io.size };
        const local = this.opts.localFiles && pool.endpoint === this.opts.localNode ? this.opts.localFiles : undefined;
        const reply = (local && (await this.readLocated(local, pool, target, io, timeoutMs, what, asked)))
          ?? (await this.readThrough(pool, target, io, timeoutMs, what, asked));
        const removedAt = misses?.removedAt;
        if (removedAt && compareTime(reply.io.timestamp, removedAt) <= 0) {
          // Deletes stay deleted: this copy is older than a removal an earlier group remembers.
          reply.release();
          misses!.shadowed.push(group);
          failures.unshift(new EllipticsError(Errno.ENOENT, `${what}: removed (group ${group} holds an older copy)`, removedAt));
          continue;
        }
        if (misses) reply.misses = misses;
        return reply;
      } catch (err) {
        const e = err instanceof EllipticsError ? err : new EllipticsError(Errno.EIO, (err as Error).message);
        failures.push(e);
        if (e.status === Errno.ENOENT || e.status === Errno.EBADFD || e.status === Errno.EILSEQ) {
          misses ??= { missing: [], shadowed: [], removedAt: undefined };
          if (e.removedAt) {
            if (!misses.removedAt || compareTime(e.removedAt, misses.removedAt) > 0) misses.removedAt = e.removedAt;
          } else misses.missing.push(group);
        }
      }
    }
    const failure = readFailure(failures, what);
    throw misses ? new ReadMissError(failure, misses) : failure;
  }

  private async readThrough(pool: NodePool, target: Target, io: { offset: number; size: number; ioFlags: number }, timeoutMs: number, what: string, asked: { id: Buffer; offset: number; size: number }): Promise<ReadReply> {
    const r = readRequest(target, io);
    return readReplyOf(await pool.request(r.header, r.payload, { timeoutMs }), what, target.group, asked);
  }

  /**
   * A READ of our node on this host: the node checks the window and says where it lies, the bytes
   * come from the file (local-files.ts). Undefined when the file no longer holds that record: the
   * caller then reads through the node. A window the node let us keep (FlagsHigh.KEEP) is read
   * again from the file without asking it, while the grant lasts (kept-locations.ts).
   */
  private async readLocated(local: LocalFiles, pool: NodePool, target: Target, io: { offset: number; size: number; ioFlags: number }, timeoutMs: number, what: string, asked: { id: Buffer; offset: number; size: number }): Promise<ReadReply | undefined> {
    const window = [target.group, target.id, io.offset, io.size, io.ioFlags] as const;
    const kept = local.kept.get(...window);
    if (kept) {
      const got = local.readKept(kept.location, kept.io.offset, kept.io.size);
      if (got) return localReply(kept.io, got, target.group);
      local.kept.drop(...window);
    }
    const r = readRequest({ ...target, flagsHigh: (target.flagsHigh ?? 0) | FlagsHigh.LOCATE | FlagsHigh.KEEP }, io);
    const packets = await pool.request(r.header, r.payload, { timeoutMs });
    // A small window comes back as its bytes (the node clears LOCATE in such a reply), where they lie after them.
    if (!isLocated(packets)) {
      const small = smallLocatedReplyOf(packets, what, target.group, asked);
      if (small.location) local.keep(target.group, target.id, io, small.reply.io, small.location);
      return small.reply;
    }
    const { io: found, location, warm, keep } = locateReplyOf(packets, what, target.group, asked);
    // Kept windows are read on the event loop: only those the node read a moment ago (WARM).
    if (keep && warm) local.keep(target.group, target.id, io, found, location);
    const got = await local.read(location, found.offset, found.size, warm);
    if (!got) {
      local.kept.drop(...window);
      return undefined;
    }
    return localReply(found, got, target.group);
  }

  /** LOOKUP in every group in parallel. */
  lookup(key: string | Buffer): Promise<GroupResult[]> {
    return this.lookupId(this.id(key));
  }

  async lookupId(id: Buffer): Promise<GroupResult[]> {
    const flagsHigh = this.opts.removalTimes ? FlagsHigh.REMOVAL_TIME : 0;
    const results = await this.inAllGroups(id, (t) => lookupRequest({ ...t, flagsHigh }), 'lookup');
    const stale = this.opts.stale && this.opts.stale.size > 0 ? this.opts.stale : undefined;
    // A removal remembered by one group hides older copies in the others; a stale replica is not shown.
    let removedAt: DnetTime | undefined;
    for (const r of results) if (r.error?.removedAt && (!removedAt || compareTime(r.error.removedAt, removedAt) > 0)) removedAt = r.error.removedAt;
    if (!removedAt && !stale) return results;
    return results.map((r) => {
      if (r.status !== 0) return r;
      const hidden = stale?.has(id, r.group) ? 'missed a newer state (its repair is pending)' : removedAt && r.info && compareTime(r.info.mtime, removedAt) <= 0 ? 'holds a copy older than its removal' : undefined;
      if (!hidden) return r;
      const error = new EllipticsError(Errno.ENOENT, `lookup: group ${r.group} ${hidden}`, removedAt);
      return { ...r, status: error.status, error, info: undefined, storage: undefined };
    });
  }

  /**
   * DEL in every group in parallel. The removal carries its time (now, unless given), so that our
   * nodes can order it against a write of the key in another group; a real node ignores it.
   */
  remove(key: string | Buffer, opts: RemoveOptions = {}): Promise<GroupResult[]> {
    return this.removeId(this.id(key), opts);
  }

  removeId(id: Buffer, opts: RemoveOptions = {}): Promise<GroupResult[]> {
    const ioFlags = opts.ioFlags ?? this.opts.ioFlags ?? 0;
    const timestamp = opts.timestamp ?? timeNow();
    return this.inAllGroups(id, (t) => removeRequest(t, ioFlags, timestamp), 'remove', opts.groups);
  }

  /** DEL of many keys in every group, pipelined (there is no bulk-remove command, spec §6.7). */
  async bulkRemove(keys: readonly string[], opts: RemoveOptions = {}, concurrency = 64): Promise<KeyResults[]> {
    const out: KeyResults[] = keys.map((key) => ({ key, id: this.id(key), results: [] }));
    let next = 0;
    const lane = async (): Promise<void> => {
      while (next < out.length) {
        const item = out[next++]!;
        item.results = await this.remove(item.key, opts);
      }
    };
    await Promise.all(Array.from({ length: Math.min(concurrency, out.length) }, lane));
    return out;
  }

  // ---------------------------------------------------------------------------------------------
  // Node-level commands

  /** MONITOR_STAT to every connected node, parsed as backrunner reads it. Unreachable nodes are left out. */
  async monitorStats(categories: bigint = STATS_CATEGORIES): Promise<NodeStats[]> {
    // A hung node is left out (its groups then have no statistics), not waited for.
    const live = this.cluster.nodes().filter((p) => p.state === 'up' && p.address);
    const replies = await Promise.allSettled(live.map(async (pool) => {
      const r = monitorStatRequest(categories);
      const packets = await pool.request(r.header, r.payload, { timeoutMs: Math.min(this.timeoutMs, STATS_TIMEOUT_MS) });
      return parseNodeStats(pool.address!, monitorStatOf(packets, `MONITOR_STAT from ${pool.address}`));
    }));
    return replies.filter((r): r is PromiseFulfilledResult<NodeStats> => r.status === 'fulfilled').map((r) => r.value);
  }

  /** ROUTE_LIST of one node (`ip:port:family`), or of any live node. */
  async routeList(address?: string): Promise<string[]> {
    const pool = this.nodeByAddress(address);
    const r = routeListRequest();
    const packets = await pool.request(r.header, r.payload, { timeoutMs: this.timeoutMs });
    return decodeRouteList(finalPacket(packets, 'ROUTE_LIST').payload).addrs.map(formatAddr);
  }

  async backendStatus(address: string): Promise<BackendStatus[]> {
    const r = backendStatusRequest();
    const packets = await this.nodeByAddress(address).request(r.header, r.payload, { timeoutMs: this.timeoutMs });
    return backendStatusOf(packets, `BACKEND_STATUS of ${address}`);
  }

  /** BACKEND_CONTROL; -EALREADY comes back as an EllipticsError like any failure. */
  async backendControl(address: string, ctl: BackendControl): Promise<BackendStatus[]> {
    const r = backendControlRequest(ctl);
    const packets = await this.nodeByAddress(address).request(r.header, r.payload, { timeoutMs: this.timeoutMs });
    return backendStatusOf(packets, `BACKEND_CONTROL of ${address}`);
  }

  private nodeByAddress(address?: string): NodePool {
    const pool = address ? this.cluster.node(address) : this.cluster.nodes().find((p) => p.alive);
    if (!pool) throw new EllipticsError(Errno.ENXIO, address ? `unknown storage node ${address}` : 'no storage node is connected');
    return pool;
  }
}

/** Deadline of a MONITOR_STAT request: a node that takes longer is treated as hung for this poll. */
const STATS_TIMEOUT_MS = 5000;

function failedResult(group: number, backendId: number, address: string, error: EllipticsError, micros: number): GroupResult {
  return { group, backendId, address, status: error.status, error, info: undefined, storage: undefined, micros };
}

function microsSince(started: number): number {
  return Math.round((performance.now() - started) * 1000);
}

/**
 * The error of a read that failed in every group (spec §5.1): the first code that is not a timeout;
 * -ETIMEDOUT only when all were timeouts; -ENXIO when no group could be asked.
 */
export function readFailure(failures: readonly EllipticsError[], what: string): EllipticsError {
  if (failures.length === 0) return new EllipticsError(Errno.ENXIO, `${what}: no group to read from`);
  return failures.find((f) => f.status !== Errno.ETIMEDOUT) ?? failures[0]!;
}

/** A read served from our node's file: its bytes, the memory given back once they are sent. */
function localReply(io: IoAttr, got: LocalRead, group: number): ReadReply {
  const reply = new ReadReply(io, [got.data], new Payload([got.data], got.data.length, got.release));
  reply.group = group;
  return reply;
}
