// What each group of a bucket holds of a key, read directly from the storage (not through the
// proxy): the bytes and timestamp, a remembered removal, or nothing.

import { type Cluster, Session } from '../../src/elliptics/index.js';
import { Errno, FlagsHigh, keyToId } from '../../src/elliptics/protocol/index.js';
import { readReplyOf, readRequest } from '../../src/elliptics/requests.js';

export type Held = { kind: 'data'; data: Buffer; sec: number; nsec: number } | { kind: 'removed'; sec: number } | { kind: 'missing' };

export async function held(cluster: Cluster, bucket: string, group: number, key: string): Promise<Held> {
  const id = keyToId(key, bucket);
  const s = new Session(cluster, { namespace: bucket, groups: [group], timeoutMs: 5000 });
  try {
    const r = readReplyOf((await s.send(group, id, (t) => readRequest({ ...t, flagsHigh: FlagsHigh.REMOVAL_TIME }))).packets, 'read', group);
    return { kind: 'data', data: Buffer.from(r.data), sec: r.io.timestamp.sec, nsec: r.io.timestamp.nsec };
  } catch (err) {
    const e = err as { status?: number; removedAt?: { sec: number } };
    if (e.status !== Errno.ENOENT) throw err;
    return e.removedAt ? { kind: 'removed', sec: e.removedAt.sec } : { kind: 'missing' };
  }
}

/** "data v@sec.nsec" / "removed" / "missing": comparable across groups. */
export function describe(h: Held): string {
  return h.kind === 'data' ? `data ${h.data.length}B ${h.data.subarray(0, 24).toString('latin1')}@${h.sec}.${h.nsec}` : h.kind;
}

/** Polls `check` until it returns true or `ms` pass; returns its last answer. */
export async function eventually(check: () => Promise<boolean>, ms: number, every = 250): Promise<boolean> {
  const until = Date.now() + ms;
  for (;;) {
    if (await check()) return true;
    if (Date.now() > until) return false;
    await new Promise((r) => setTimeout(r, every));
  }
}
