// A walk over one backend's records (ITERATOR, spec §6.8b), as an async iterator: one record per
// reply, paced by the consumer. The walk runs on a connection of its own: when the consumer falls
// behind, that connection stops reading, TCP holds the node back, and nothing else waits behind it.
// Leaving the loop early closes the connection, which ends the walk on the node.

import type { Cluster } from './cluster.js';
import type { Connection, Packet } from './connection.js';
import { EllipticsError } from './errors.js';
import {
  Command, CommandFlags, Errno, IteratorAction, IteratorFlags, IteratorType, ITERATOR_KEEPALIVE, ITERATOR_RESPONSE_SIZE,
  decodeIteratorResponse, encodeIteratorRequest, makeHeader, makeIteratorRequest,
  type DnetTime, type KeyRange,
} from './protocol/index.js';

/** One backend of a group, addressed by one of its ring points (the node picks the backend by id). */
export interface WalkTarget {
  /** `ip:port:family` of the node. */
  node: string;
  group: number;
  backendId: number;
  point: Buffer;
}

export interface WalkOptions {
  ranges?: KeyRange[];
  /** Only records whose timestamp lies in [from, to]. */
  from?: DnetTime;
  to?: DnetTime;
  /** Each record with its data. */
  data?: boolean;
  /** Remembered removals too (our nodes; a real node refuses it with -ENOTSUP). */
  removed?: boolean;
  /** Iterator id for PAUSE / CONTINUE / CANCEL (ours); 0: the node numbers it. */
  id?: bigint;
  /** Seconds the node may stay silent while the consumer keeps up (default 120). */
  silenceSeconds?: number;
}

export interface WalkedRecord {
  key: Buffer;
  timestamp: DnetTime;
  userFlags: bigint;
  size: number;
  /** Record flags (§6.6): UNCOMMITTED for a prepared write; REMOVE for a remembered removal. */
  recordFlags: number;
  data: Buffer | undefined;
  /** Progress: records passed, of the total when the walk started. */
  iterated: number;
  total: number;
}

/** Replies buffered before the connection stops reading, and the level at which it reads again. */
const HIGH_WATER = 1024;
const LOW_WATER = 256;

/** Every backend of `group` in the route table (one target per node and backend). */
export function walkTargets(cluster: Cluster, group: number): WalkTarget[] {
  const seen = new Map<string, WalkTarget>();
  for (const p of cluster.routes.pointsOf(group)) {
    const k = `${p.node}/${p.backendId}`;
    if (!seen.has(k)) seen.set(k, { node: p.node, group, backendId: p.backendId, point: p.id });
  }
  return [...seen.values()];
}

export function iteratorRequest(t: WalkTarget, opts: WalkOptions): { header: ReturnType<typeof makeHeader>; payload: Buffer[] } {
  let flags = 0n;
  if (opts.data) flags |= IteratorFlags.DATA;
  if (opts.removed) flags |= IteratorFlags.REMOVED;
  if (opts.ranges?.length) flags |= IteratorFlags.KEY_RANGE;
  if (opts.from || opts.to) flags |= IteratorFlags.TS_RANGE;
  const req = makeIteratorRequest({
    id: opts.id ?? 0n,
    action: IteratorAction.START,
    ranges: opts.ranges ?? [],
    timeBegin: opts.from ?? { sec: 0, nsec: 0 },
    timeEnd: opts.to ?? { sec: Number.MAX_SAFE_INTEGER, nsec: 0 },
    itype: IteratorType.NETWORK,
    flags,
  });
  const header = makeHeader({ cmd: Command.ITERATOR, id: t.point, group: t.group, flags: CommandFlags.NEED_ACK | CommandFlags.NOLOCK });
  return { header, payload: [encodeIteratorRequest(req)] };
}

/** Walks one backend; throws the node's error (-ENOTSUP for a flag it does not know, …). */
export async function* walkBackend(cluster: Cluster, t: WalkTarget, opts: WalkOptions = {}): AsyncGenerator<WalkedRecord> {
  const pool = cluster.node(t.node);
  if (!pool) throw new EllipticsError(Errno.ENXIO, `walk of group ${t.group}: node ${t.node} is not known`);
  const silence = (opts.silenceSeconds ?? 120) * 1000;
  const conn: Connection = await pool.dedicated(silence);
  const queue: WalkedRecord[] = [];
  let finished: Error | null | undefined; // undefined: running; null: ended well
  let wake: (() => void) | undefined;
  let reading = true;
  const r = iteratorRequest(t, opts);
  const onPacket = (p: Packet): void => {
    if (p.header.flags & CommandFlags.MORE) {
      const rec = recordOf(p, t);
      if (rec) queue.push(rec);
      if (reading && queue.length >= HIGH_WATER) {
        reading = false;
        conn.pauseReading();
      }
    }
    wake?.();
  };
  conn.request(r.header, r.payload, { onPacket, discard: true, timeoutMs: silence }).then(
    (packets) => {
      const last = packets[packets.length - 1];
      finished = last && last.header.status !== 0 ? new EllipticsError(last.header.status, `walk of group ${t.group} backend ${t.backendId} on ${t.node}`) : null;
      wake?.();
    },
    (err: unknown) => {
      finished = err as Error;
      wake?.();
    },
  );
  try {
    for (;;) {
      const rec = queue.shift();
      if (rec) {
        if (!reading && queue.length <= LOW_WATER) {
          reading = true;
          conn.resumeReading();
        }
        yield rec;
        // The consumer took its time, not the node: the walk's silence deadline starts again.
        conn.touch();
        continue;
      }
      if (finished !== undefined) {
        if (finished) throw finished;
        return;
      }
      await new Promise<void>((resolve) => (wake = resolve));
      wake = undefined;
    }
  } finally {
    conn.destroy();
  }
}

function recordOf(p: Packet, t: WalkTarget): WalkedRecord | undefined {
  const b = p.payload;
  if (b.length < ITERATOR_RESPONSE_SIZE) throw new EllipticsError(Errno.EPROTO, `walk of group ${t.group}: a reply of ${b.length} bytes`);
  const resp = decodeIteratorResponse(b);
  if (resp.status === ITERATOR_KEEPALIVE) return undefined;
  const data = b.length > ITERATOR_RESPONSE_SIZE ? Buffer.from(b.subarray(ITERATOR_RESPONSE_SIZE)) : undefined;
  return { key: resp.key, timestamp: resp.timestamp, userFlags: resp.userFlags, size: resp.size, recordFlags: resp.recordFlags, data, iterated: resp.iterated, total: resp.total };
}
