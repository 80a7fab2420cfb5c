// Links from this node to the other nodes of the cluster. Like a real node it dials its `remotes`,
// handshakes, JOINs (so the peer lists it in ROUTE_LIST replies), AUTHs, and asks for the peer's
// route list to find the rest of the cluster. Lost peers are redialled every `check-interval`.

import { Connection } from '../elliptics/connection.js';
import { finalPacket, routeListOf, routeListRequest } from '../elliptics/requests.js';
import {
  addrEquals, Command, CommandFlags, encodeAuth, encodeNodeIdentity, makeHeader, VERSION_3_0,
  formatEndpoint, type DnetAddr, type Endpoint,
} from '../elliptics/protocol/index.js';
import type { Logger } from '../util/logger.js';
import type { NodeIdentity } from '../elliptics/protocol/index.js';

export interface PeerLinksOptions {
  self: () => DnetAddr;
  identity: () => NodeIdentity;
  authCookie: string;
  checkIntervalMs: number;
  maxFrame: number;
  log: Logger;
}

interface Link {
  endpoint: Endpoint;
  conn: Connection | undefined;
  addrs: DnetAddr[];
  dialing: boolean;
}

export class PeerLinks {
  private readonly links = new Map<string, Link>();
  private timer: NodeJS.Timeout | undefined;
  private stopped = false;

  constructor(private readonly opts: PeerLinksOptions) {}

  start(remotes: readonly Endpoint[]): void {
    for (const r of remotes) this.add(r);
    this.timer = setInterval(() => this.check(), this.opts.checkIntervalMs);
    this.timer.unref();
    this.check();
  }

  /** Addresses of the peers currently connected. */
  addresses(): DnetAddr[] {
    return [...this.links.values()].filter((l) => l.conn && !l.conn.closed).flatMap((l) => l.addrs);
  }

  stop(): void {
    this.stopped = true;
    if (this.timer) clearInterval(this.timer);
    for (const l of this.links.values()) l.conn?.destroy();
  }

  private add(endpoint: Endpoint): void {
    const key = formatEndpoint(endpoint);
    const self = this.opts.self();
    if (endpoint.host === self.host && endpoint.port === self.port) return;
    if (!this.links.has(key)) this.links.set(key, { endpoint, conn: undefined, addrs: [], dialing: false });
  }

  private check(): void {
    for (const link of this.links.values()) {
      if (link.conn && !link.conn.closed) void this.refreshRoutes(link);
      else if (!link.dialing) void this.dial(link);
    }
  }

  private async dial(link: Link): Promise<void> {
    if (this.stopped) return;
    link.dialing = true;
    const where = formatEndpoint(link.endpoint);
    let conn: Connection | undefined;
    try {
      conn = await Connection.open(link.endpoint.host, link.endpoint.port, { maxFrame: this.opts.maxFrame, timeoutMs: 5000 });
      const hs = await conn.handshake(VERSION_3_0);
      link.addrs = hs.identity.addrs;
      // JOIN and AUTH make us a server in the peer's eyes, listed in its ROUTE_LIST replies.
      conn.send(makeHeader({ cmd: Command.JOIN, flags: CommandFlags.DIRECT | CommandFlags.NOLOCK }), [encodeNodeIdentity(this.opts.identity())]);
      const authReply = await conn.request(makeHeader({ cmd: Command.AUTH, flags: CommandFlags.NEED_ACK | CommandFlags.DIRECT }), [encodeAuth(this.opts.authCookie)]);
      finalPacket(authReply, 'AUTH refused (check auth-cookie on both nodes)');
      link.conn = conn;
      conn.on('close', (reason) => {
        if (!this.stopped) this.opts.log.warn({ peer: where, reason: reason.message }, 'peer connection lost');
      });
      this.opts.log.info({ peer: where }, 'joined peer node');
      await this.refreshRoutes(link);
    } catch (err) {
      conn?.destroy();
      this.opts.log.debug({ peer: where, err: (err as Error).message }, 'peer not reachable yet');
    } finally {
      link.dialing = false;
    }
  }

  /** Learns the other nodes the peer knows (spec §5.2) and dials the new ones. */
  private async refreshRoutes(link: Link): Promise<void> {
    const conn = link.conn;
    if (!conn || conn.closed) return;
    try {
      const r = routeListRequest();
      for (const a of routeListOf(await conn.request(r.header, r.payload), 'ROUTE_LIST')) {
        if (addrEquals(a, this.opts.self())) continue;
        const before = this.links.size;
        this.add({ host: a.host, port: a.port });
        if (this.links.size > before) void this.dial([...this.links.values()].at(-1)!);
      }
    } catch {
      // The next check retries; a dead connection is redialled then.
    }
  }
}
