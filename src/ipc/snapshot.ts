// What the primary tells its workers: an immutable snapshot of config, buckets and storage
// statistics, msgpackr-encoded. A request never waits on the primary: everything it needs is in
// the latest snapshot.

import { decodeMessage, encodeMessage } from './codec.js';
import { arr, bool, decimal, int, num, obj, oneOf, opt, record, str, tuple, type Schema } from './schema.js';
import type { AdminCredential, ProxyConfig } from '../config/proxy-config.js';
import { AF_INET, AF_INET6, type Endpoint } from '../elliptics/protocol/addr.js';
import type { BackendStats, CommandCounters } from '../elliptics/stats.js';
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
  /** The embedded storage node (its endpoint as workers dial it, its directory): on this host, its files readable. */
  localNode: LocalNode | undefined;
  /** Milliseconds: when the primary started, last loaded the config/buckets, last read stats. */
  startTime: number;
  configTime: number;
  statTime: number;
}

export interface LocalNode {
  endpoint: string;
  dir: string;
  /** Its Unix socket, where workers connect instead of the endpoint (none when the path was too long). */
  socket?: string | undefined;
}

export function encodeSnapshot(s: Snapshot): Buffer {
  return encodeMessage(s);
}

const endpoint = obj<Endpoint>({
  host: str,
  port: int,
  family: opt(oneOf(AF_INET, AF_INET6)),
});

const proxyConfig = obj<ProxyConfig>({
  address: endpoint,
  httpsAddress: opt(endpoint),
  certFile: str,
  keyFile: str,
  idleTimeout: int,
  freeSpaceRatioSoft: num,
  freeSpaceRatioHard: num,
  bucketUpdateInterval: int,
  bucketStatUpdateInterval: int,
  redirectPort: int,
  redirectToken: str,
  redirectSignatureTimeout: int,
  redirectRoot: str,
  headers: record(str),
  root: str,
  contentTypes: record(str),
  readerIoFlags: int,
  writerIoFlags: int,
  disableConfigUpdateForSeconds: int,
  workers: int,
  writeQuorum: oneOf('any', 'majority', 'all'),
  admin: opt(obj<AdminCredential>({ user: str, token: str })),
  maxBodySize: int,
  maxJsonBody: int,
  writeAttemptTimeout: int,
  readTimeout: int,
  readAttemptTimeout: int,
  shutdownTimeout: int,
  allowedIoFlags: int,
  allowedCflags: int,
  strictSignatures: bool,
  signatureSkew: int,
  hintedHandoff: bool,
  hintsDir: str,
  hintLimit: int,
  hintReplayRate: num,
  readRepairMaxSize: int,
  selectionProbeInterval: int,
  maxRequestsInFlight: int,
  maxUploadBytesInFlight: int,
  maxReadBytesInFlight: int,
  localReads: bool,
});

const commandCounters = obj<CommandCounters>({ requestsSuccess: num, requestsFailures: num, bytes: num });

export const backendStatsShape = obj<BackendStats>({
  address: str,
  backendId: int,
  group: int,
  readOnly: bool,
  delay: num,
  defragState: num,
  defragStartTime: num,
  defragCompletionTime: num,
  defragCompletionStatus: num,
  error: num,
  total: num,
  avail: num,
  limit: num,
  used: num,
  removedSize: num,
  recordsTotal: num,
  recordsRemoved: num,
  recordsCorrupted: num,
  commands: record(commandCounters),
});

const snapshotBucket = obj<SnapshotBucket>({
  name: str,
  version: int,
  acl: arr(tuple<[string, string, string, number]>(str, str, decimal, int)),
  groups: arr(int),
  flags: decimal,
  maxSize: int,
  maxKeyNum: int,
  writable: bool,
});

const snapshotShape: Schema<Snapshot> = obj<Snapshot>({
  seq: int,
  proxy: proxyConfig,
  remotes: arr(endpoint),
  buckets: arr(snapshotBucket),
  backends: arr(backendStatsShape),
  routes: arr(tuple<[number, [string, number][]]>(int, arr(tuple<[string, number]>(str, int)))),
  localNode: opt(obj<LocalNode>({ endpoint: str, dir: str, socket: opt(str) })),
  startTime: num,
  configTime: num,
  statTime: num,
});

export function decodeSnapshot(b: Uint8Array): Snapshot {
  return decodeMessage(b, 'the snapshot from the primary', snapshotShape);
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
