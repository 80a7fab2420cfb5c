// The native Elliptics client: Connection → NodePool → Cluster → Session.
export { Connection, Packet, type ConnectionOptions, type HandshakeResult } from './connection.js';
export { NodePool } from './node-pool.js';
export { Cluster, type ClusterOptions } from './cluster.js';
export { Session, readFailure, type SessionOptions, type WriteOptions } from './session.js';
export type { GroupResult, KeyResults } from './group-result.js';
export { ObjectReader, type ReadOptions } from './object-reader.js';
export { ObjectWriter, type WriteStreamOptions } from './object-writer.js';
export { RouteTable } from './route-table.js';
export { parseNodeStats, type BackendStats, type NodeStats } from './stats.js';
export { EllipticsError } from './errors.js';
export { walkBackend, walkTargets, type WalkTarget, type WalkOptions as BackendWalkOptions, type WalkedRecord } from './backend-walk.js';
