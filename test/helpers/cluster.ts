// The embedded test cluster of the examples: two node processes, six groups
// (node1: 1, 3, 5; node2: 2, 4, 6), so buckets b1 = {1,2}, b2 = {3,4}, b3 = {5,6} have a replica on each.

import path from 'node:path';
import { Cluster, type ClusterOptions } from '../../src/elliptics/index.js';
import { VERSION_2_26 } from '../../src/elliptics/protocol/index.js';
import { createLogger } from '../../src/util/logger.js';
import { spawnNode, tempDir, type BackendSpec, type ChildNode, type NodeSpec } from './nodes.js';
import { RawClient } from './raw-client.js';
import { routeListRequest } from '../../src/elliptics/requests.js';
import { decodeRouteList } from '../../src/elliptics/protocol/containers.js';

export interface TestCluster {
  root: string;
  nodes: ChildNode[];
  /** The address each node listens on. */
  hosts: string[];
  /** Kills node i (SIGTERM by default) and waits for it to exit. */
  stop(i: number, signal?: NodeJS.Signals): Promise<void>;
  /** Starts node i again on the same port and directories. */
  restart(i: number): Promise<void>;
  /** A client cluster connected through node1 only (node2 is discovered). */
  connect(opts?: Partial<ClusterOptions>): Promise<Cluster>;
  close(): Promise<void>;
}

/** Waits until the node on `port` lists `count` nodes in its route list (the peers have joined). */
async function joined(port: number, count: number, host = '127.0.0.1'): Promise<void> {
  const client = await RawClient.connect(port, { host });
  try {
    const until = Date.now() + 10_000;
    for (;;) {
      const [reply] = await client.send(routeListRequest());
      if (decodeRouteList(reply!.payload).addrs.length >= count) return;
      if (Date.now() > until) throw new Error(`node on port ${port} did not see ${count} nodes in time`);
      await new Promise((r) => setTimeout(r, 50));
    }
  } finally {
    client.close();
  }
}

/** Where each node runs: its address, and the command that puts it there (a network namespace). */
export interface Placement {
  hosts: [string, string];
  prefix: (node: number) => string[];
}

const LOCAL: Placement = { hosts: ['127.0.0.1', '127.0.0.1'], prefix: () => [] };

/** `backend(group)`: settings of the backend serving that group (e.g. a blob-size-limit). */
/** A client of the node at host:port (and the cluster it knows), with the tests' settings. */
export function connectTo(host: string, port: number, opts: Partial<ClusterOptions> = {}): Promise<Cluster> {
  return Cluster.connect({
    remotes: [{ host, port }],
    protocolVersion: VERSION_2_26,
    poolSize: 2,
    timeoutMs: 10_000,
    checkIntervalMs: 1000,
    maxFrame: 200 * 1024 * 1024,
    log: createLogger('test-client', { level: process.env.TEST_LOG_LEVEL ?? 'silent' }),
    ...opts,
  });
}

export async function startTestCluster(extra: Partial<NodeSpec> = {}, backend: (group: number) => Partial<BackendSpec> = () => ({}), placement: Placement = LOCAL): Promise<TestCluster> {
  const tmp = tempDir('backrunner-cluster-');
  const b = (id: number, group: number): BackendSpec => ({ ...backend(group), id, group });
  const { hosts, prefix } = placement;
  const specs: NodeSpec[] = [
    { ...extra, host: hosts[0], backends: [b(1, 1), b(2, 3), b(3, 5)] },
    { ...extra, host: hosts[1], backends: [b(1, 2), b(2, 4), b(3, 6)] },
  ];
  const nodes: ChildNode[] = [];
  nodes.push(await spawnNode(path.join(tmp.dir, 'node1'), specs[0]!, 'node1', prefix(0)));
  specs[0]!.port = nodes[0]!.port;
  specs[1]!.remotes = [`${hosts[0]}:${nodes[0]!.port}`];
  nodes.push(await spawnNode(path.join(tmp.dir, 'node2'), specs[1]!, 'node2', prefix(1)));
  specs[1]!.port = nodes[1]!.port;
  await joined(nodes[0]!.port, 2, hosts[0]);
  const clients: Cluster[] = [];
  const stop = async (i: number, signal: NodeJS.Signals = 'SIGTERM'): Promise<void> => {
    const n = nodes[i]!;
    if (n.proc.exitCode === null && n.proc.signalCode === null) n.proc.kill(signal);
    await n.exited;
  };
  return {
    root: tmp.dir,
    nodes,
    hosts,
    stop,
    async restart(i: number) {
      nodes[i] = await spawnNode(path.join(tmp.dir, `node${i + 1}`), specs[i]!, `node${i + 1}`, prefix(i));
      await joined(nodes[0]!.port, 2, hosts[0]);
    },
    async connect(opts: Partial<ClusterOptions> = {}) {
      const c = await connectTo(hosts[0], nodes[0]!.port, opts);
      clients.push(c);
      return c;
    },
    async close() {
      for (const c of clients) c.close();
      for (let i = 0; i < nodes.length; i++) await stop(i);
      tmp.cleanup();
    },
  };
}
