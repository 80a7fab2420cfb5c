// The cluster: one node pool per storage node, the route table they announce, and discovery of
// the nodes nobody configured (ROUTE_LIST from the known ones, again every check interval).

import { EllipticsError } from './errors.js';
import { NodePool } from './node-pool.js';
import { Errno, formatAddr, formatEndpoint, type Endpoint, type ProtocolVersion } from './protocol/index.js';
import { routeListOf, routeListRequest } from './requests.js';
import { RouteTable } from './route-table.js';
import type { Logger } from '../util/logger.js';

export interface ClusterOptions {
  remotes: readonly Endpoint[];
  protocolVersion: ProtocolVersion;
  /** Connections per node. */
  poolSize: number;
  /** Transactions that may wait on one node; more fail at once with -EBUSY (default: no bound). */
  maxPendingPerNode?: number;
  /** Default per-transaction inactivity deadline. */
  timeoutMs: number;
  /** Period of the route-list refresh that finds new nodes. */
  checkIntervalMs: number;
  /** Largest reply frame accepted. */
  maxFrame: number;
  log: Logger;
  /** Nodes on this host reachable through a Unix-domain socket: `host:port` → socket path. */
  localSockets?: ReadonlyMap<string, string>;
  /** A node this process found unresponsive (its address), to tell the other processes that share it. */
  onNodeSuspect?: (node: string, why: string) => void;
}

export class Cluster {
  readonly routes = new RouteTable();
  /** Every pool, dialled or discovered. */
  private readonly pools: NodePool[] = [];
  private timer: NodeJS.Timeout | undefined;
  private closed = false;

  private constructor(readonly opts: ClusterOptions) {}

  /** Connects to the configured remotes and discovers the rest of the cluster. */
  static async connect(opts: ClusterOptions): Promise<Cluster> {
    if (opts.remotes.length === 0) throw new EllipticsError(Errno.ENXIO, 'no remote storage node configured (elliptics.remote is empty)');
    const cluster = new Cluster(opts);
    const pools = opts.remotes.map((r) => cluster.addPool(r.host, r.port));
    const results = await Promise.allSettled(pools.map((p) => p.start()));
    if (!pools.some((p) => p.alive)) {
      const reasons = results.map((r, i) => `${formatEndpoint(opts.remotes[i]!)}: ${r.status === 'rejected' ? (r.reason as Error).message : 'no connection'}`);
      cluster.close();
      throw new EllipticsError(Errno.ENXIO, `could not connect to any storage node in elliptics.remote (${reasons.join('; ')})`);
    }
    await cluster.discover();
    cluster.timer = setInterval(() => void cluster.discover().catch(() => undefined), opts.checkIntervalMs);
    cluster.timer.unref();
    return cluster;
  }

  private addPool(host: string, port: number): NodePool {
    const pool = new NodePool({
      host,
      port,
      size: this.opts.poolSize,
      maxPending: this.opts.maxPendingPerNode ?? Infinity,
      version: this.opts.protocolVersion,
      connection: { maxFrame: this.opts.maxFrame, timeoutMs: this.opts.timeoutMs, socketPath: this.opts.localSockets?.get(formatEndpoint({ host, port })) },
      log: this.opts.log,
      onIdentity: (p, hs) => {
        // Two pools reaching the same node (a hostname remote and its discovered address) would
        // double its connections: keep the first.
        const twin = this.pools.find((o) => o !== p && o.address === p.address);
        if (twin) {
          this.opts.log.debug({ node: p.address }, 'node reachable through two remotes; keeping one pool');
          this.pools.splice(this.pools.indexOf(p), 1);
          p.close();
          return;
        }
        this.routes.setNode(p.address!, hs.identity.backends);
      },
      onSuspect: (p, why) => {
        if (p.address) this.opts.onNodeSuspect?.(p.address, why);
      },
      onUpdateIds: (p, backends) => {
        for (const b of backends) this.routes.updateBackend(p.address!, b);
        this.opts.log.info({ node: p.address, backends: backends.map((b) => ({ id: b.backendId, group: b.group, flags: b.flags })) }, 'route update pushed by node');
      },
    });
    this.pools.push(pool);
    return pool;
  }

  /** Another process found `node` unresponsive: probe it here too rather than wait to find out. */
  suspectReported(node: string, why: string): void {
    this.pools.find((p) => p.address === node)?.markSuspect(why, true);
  }

  /** ROUTE_LIST from every live node; pools for addresses not seen before (spec §5.2). */
  async discover(): Promise<void> {
    if (this.closed) return;
    const fresh: NodePool[] = [];
    for (const pool of this.pools.filter((p) => p.alive)) {
      let addrs;
      try {
        const r = routeListRequest();
        addrs = routeListOf(await pool.request(r.header, r.payload), 'ROUTE_LIST');
      } catch {
        continue;
      }
      for (const a of addrs) {
        const key = formatAddr(a);
        if (this.pools.some((p) => p.address === key || p.endpoint === formatEndpoint(a))) continue;
        this.opts.log.info({ node: key }, 'discovered storage node');
        fresh.push(this.addPool(a.host, a.port));
      }
    }
    await Promise.allSettled(fresh.map((p) => p.start()));
  }

  /** The pool and backend owning `id` in `group`; -ENXIO when the group has no route. */
  route(group: number, id: Buffer): { pool: NodePool; backendId: number } {
    const r = this.routes.lookup(group, id);
    const pool = r && this.node(r.node);
    if (!r || !pool) throw new EllipticsError(Errno.ENXIO, `no route to group ${group}`);
    return { pool, backendId: r.backendId };
  }

  /** The pool of a node by its address (`ip:port:family`). */
  node(address: string): NodePool | undefined {
    return this.pools.find((p) => p.address === address);
  }

  nodes(): readonly NodePool[] {
    return this.pools;
  }

  /** Some node is suspect or down (the fast path skips health ordering while none is). */
  get degraded(): boolean {
    for (const p of this.pools) if (p.state !== 'up') return true;
    return false;
  }

  close(): void {
    this.closed = true;
    if (this.timer) clearInterval(this.timer);
    for (const p of this.pools) p.close();
  }
}
