// What command handlers may see of the node: its config, identity, backends, peers and counters.

import type { BackendIds, DnetAddr } from '../elliptics/protocol/index.js';
import type { Logger } from '../util/logger.js';
import type { CommandStats } from './command-stats.js';
import type { NodeConfig } from './config.js';
import type { Backend } from './engine/backend.js';
import type { ServerConnection } from './server-connection.js';

/** What PAUSE / CONTINUE / CANCEL change of a running walk. */
export interface WalkControl {
  paused: boolean;
  cancelled: boolean;
  /** Wakes a paused walk (after CONTINUE or CANCEL). */
  wake: () => void;
}

export interface NodeContext {
  readonly config: NodeConfig;
  /** The address clients dial, as advertised in the handshake. */
  readonly self: DnetAddr;
  readonly backends: readonly Backend[];
  readonly log: Logger;
  /** Node-wide command counters. */
  readonly stats: CommandStats;
  readonly connections: ReadonlySet<ServerConnection>;
  backendStats(b: Backend): CommandStats;
  backendByGroup(group: number): Backend | undefined;
  backendById(id: number): Backend | undefined;
  /** Walks in progress (ITERATOR), by iterator id: PAUSE, CONTINUE and CANCEL find them here. */
  readonly iterators: Map<bigint, WalkControl>;
  /** Every other server node this node knows: peers that joined it and peers it joined. */
  knownServers(): DnetAddr[];
  /** UPDATE_IDS to every connection that completed a handshake (spec §5.3). */
  pushUpdateIds(ids: BackendIds): void;
}
