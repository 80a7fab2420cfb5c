// What the primary tells its workers: an immutable snapshot of config, buckets and storage
// statistics, msgpackr-encoded. A request never waits on the primary: everything it needs is in
// the latest snapshot.

import { decodeMessage, encodeMessage } from './codec.js';
import type { ProxyConfig } from '../config/proxy-config.js';
import type { Endpoint } from '../elliptics/protocol/addr.js';
import type { BackendStats } from '../elliptics/stats.js';
import type { AclEntry, BucketMeta } from '../buckets/metadata.js';

export interface SnapshotBucket {
  name: string;
  version: number;
  /** [user, token, flags as decimal string, acl version] */
  acl: [string, string, string, number][];
  groups: number[];
  flags: string;
  maxSize: number;
  maxKeyNum: number;
  /** Listed in the bucket list: a candidate for /nobucket_upload/. */
  writable: boolean;
}

export interface Snapshot {
  seq: number;
  proxy: ProxyConfig;
  /** The storage nodes to dial: elliptics.remote, or the embedded node where it really listens. */
  remotes: Endpoint[];
  buckets: SnapshotBucket[];
  /** Enabled backends of every node, with their group (from MONITOR_STAT). */
  backends: BackendStats[];
  /** Route table entries: group → [node address, backend id][] (backends known without stats too). */
  routes: [number, [string, number][]][];
  /** Milliseconds: when the primary started, last loaded the config/buckets, last read stats. */
  startTime: number;
  configTime: number;
  statTime: number;
}

export function encodeSnapshot(s: Snapshot): Buffer {
  return encodeMessage(s);
}

export function decodeSnapshot(b: Uint8Array): Snapshot {
  return decodeMessage<Snapshot>(b, 'the snapshot from the primary');
}

export function toSnapshotBucket(meta: BucketMeta, writable: boolean): SnapshotBucket {
  return {
    name: meta.name,
    version: meta.version,
    acl: [...meta.acl.values()].map((e) => [e.user, e.token, e.flags.toString(), e.version]),
    groups: meta.groups,
    flags: meta.flags.toString(),
    maxSize: meta.maxSize,
    maxKeyNum: meta.maxKeyNum,
    writable,
  };
}

export function fromSnapshotBucket(b: SnapshotBucket): BucketMeta {
  return {
    version: b.version,
    name: b.name,
    acl: new Map(b.acl.map(([user, token, flags, version]): [string, AclEntry] => [user, { user, token, flags: BigInt(flags), version }])),
    groups: b.groups,
    flags: BigInt(b.flags),
    maxSize: b.maxSize,
    maxKeyNum: b.maxKeyNum,
  };
}
