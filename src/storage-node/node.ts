// The embedded storage node: backends, a TCP server speaking the Elliptics protocol, and links to
// its peers. `StorageNode.start()` returns once it accepts connections.

import { rmSync } from 'node:fs';
import net from 'node:net';
import {
  Command, CommandFlags, Errno, encodeIdContainer, FrameTooLargeError, idContainerSize, makeAddr, makeHeader, replyHeader,
  formatEndpoint, type BackendIds, type DnetAddr,
} from '../elliptics/protocol/index.js';
import type { Logger } from '../util/logger.js';
import { CommandStats } from './command-stats.js';
import type { NodeConfig } from './config.js';
import { createDispatcher } from './dispatch.js';
import { Backend } from './engine/backend.js';
import { BufferPool } from '../util/buffer-pool.js';
import { announcedBackends } from './handlers/cluster.js';
import type { NodeContext, WalkControl } from './node-context.js';
import { RedirectServer } from './redirect-server.js';
import { PeerLinks } from './peers.js';
import { ServerConnection } from './server-connection.js';

/** Memory kept for the payloads of large frames between commands (a few 1 MiB uploads in flight per client). */
const FRAME_POOL_BYTES = 32 * 1024 * 1024;
/**
 * Memory kept for read replies between reads: a few dozen large ones in flight. Readers on this host
 * take large windows from the blob files themselves (LOCATE), so most of what goes through here is
 * small (pooled from 4 KiB, in size classes).
 */
const READ_POOL_BYTES = 24 * 1024 * 1024;

/** Starts `server` listening; a failure names `where` (the address and the config field to fix). */
function listenOn(server: net.Server, options: net.ListenOptions, where: string, log: Logger): Promise<void> {
  return new Promise((resolve, reject) => {
    server.once('error', (err: NodeJS.ErrnoException) => reject(new Error(`cannot listen on ${where}: ${err.code ?? err.message}`)));
    server.listen(options, () => {
      server.removeAllListeners('error');
      server.on('error', (err) => log.error({ err, where }, 'server error'));
      resolve();
    });
  });
}

/** Whether something accepts connections on the Unix socket `file` (a file left by a dead node does not). */
function socketInUse(file: string): Promise<boolean> {
  return new Promise((resolve) => {
    const probe = net.connect({ path: file });
    probe.once('connect', () => {
      probe.destroy();
      resolve(true);
    });
    probe.once('error', () => resolve(false));
  });
}

export class StorageNode implements NodeContext {
  readonly iterators = new Map<bigint, WalkControl>();
  /** The HTTP listener serving redirect targets, when the config has a `redirect` section. */
  redirect: RedirectServer | undefined;
  /** Advertised address; with port 0 in the config it takes the bound port once listening. */
  self: DnetAddr;
  readonly backends: Backend[];
  readonly stats = new CommandStats();
  readonly connections = new Set<ServerConnection>();
  private readonly perBackend = new Map<Backend, CommandStats>();
  private readonly server: net.Server;
  /** The same, on config.unixSocket. */
  private readonly local: net.Server | undefined;
  /** Payloads of large frames, shared by every connection. */
  private readonly frames: BufferPool;
  private readonly peers: PeerLinks;

  private constructor(
    readonly config: NodeConfig,
    readonly log: Logger,
  ) {
    this.self = makeAddr(config.address.host, config.address.port);
    const buffers = new BufferPool(READ_POOL_BYTES, 4 * 1024);
    this.frames = new BufferPool(FRAME_POOL_BYTES);
    this.backends = config.backends.map((b) => new Backend({ ...b, buffers, log: log.child({ backend: b.id }) }));
    const dispatch = createDispatcher(this);
    this.server = net.createServer({ pauseOnConnect: true }, (socket) => this.accept(socket, dispatch));
    if (config.unixSocket) this.local = net.createServer({ pauseOnConnect: true }, (socket) => this.accept(socket, dispatch));
    this.peers = new PeerLinks({
      self: () => this.self,
      identity: () => ({ addrs: [this.self], backends: announcedBackends(this) }),
      authCookie: config.authCookie,
      checkIntervalMs: config.checkInterval * 1000,
      maxFrame: config.maxFrame,
      log,
    });
  }

  static async start(config: NodeConfig, log: Logger): Promise<StorageNode> {
    const node = new StorageNode(config, log);
    await node.startBackends();
    try {
      await node.listen();
      await node.listenLocally();
    } catch (err) {
      await node.stop(); // what did start must not keep the process (or the port) busy
      throw err;
    }
    if (config.redirect) node.redirect = await RedirectServer.start(config.redirect, node.backends, log);
    node.peers.start(config.remotes);
    return node;
  }

  private async startBackends(): Promise<void> {
    const results = await Promise.allSettled(this.backends.map((b) => b.start()));
    results.forEach((r, i) => {
      const b = this.backends[i]!;
      if (r.status === 'rejected') {
        this.log.error({ backend: b.id, group: b.group, dir: b.dir, err: (r.reason as Error).message }, 'backend failed to start; it stays disabled');
      } else {
        const s = b.summary();
        const from = b.startedFrom;
        this.log.info({
          backend: b.id, group: b.group, dir: b.dir, keys: b.keys, blobs: s.blobs.length, bytes: s.baseSize, corrupted: s.recordsCorrupted,
          index: from.snapshot ? 'snapshot' : 'full scan', scannedBytes: from.scannedBytes, ms: from.ms,
        }, 'backend started');
      }
    });
    if (this.backends.every((b) => !b.enabled)) {
      throw new Error('no backend could be started (see the errors above: check each backends[].dir)');
    }
  }

  private async listen(): Promise<void> {
    const { host, port } = this.config.listen;
    await listenOn(this.server, { host, port, backlog: 1024 }, `${formatEndpoint(this.config.listen)} (config field "listen"/"address")`, this.log);
    if (this.config.address.port === 0) this.self = makeAddr(this.config.address.host, this.port);
    this.log.info({ address: formatEndpoint(this.self), groups: this.backends.filter((b) => b.enabled).map((b) => b.group) }, 'storage node listening');
  }

  /** Listens on config.unixSocket; a socket file left by a node that is gone is replaced. */
  private async listenLocally(): Promise<void> {
    const file = this.config.unixSocket;
    if (!file || !this.local) return;
    if (await socketInUse(file)) throw new Error(`another process listens on ${file} (config field "unix-socket"): is a second node running on this directory?`);
    rmSync(file, { force: true });
    await listenOn(this.local, { path: file, backlog: 1024 }, `${file} (config field "unix-socket")`, this.log);
  }

  /** The TCP port actually bound (useful with port 0 in tests). */
  get port(): number {
    return (this.server.address() as net.AddressInfo).port;
  }

  private accept(socket: net.Socket, dispatch: ReturnType<typeof createDispatcher>): void {
    const conn = new ServerConnection(socket, {
      maxFrame: this.config.maxFrame,
      frames: this.frames,
      onFrame: dispatch,
      onBadInput: (c, err) => {
        if (err instanceof FrameTooLargeError) {
          // The payload cannot be skipped safely without reading it all: answer and hang up.
          this.log.warn({ client: c.remote, size: err.header.size, maxFrame: this.config.maxFrame }, 'frame above max-frame, closing connection');
          c.send(replyHeader(err.header, { status: Errno.EMSGSIZE, backendId: err.header.backendId }));
          c.end();
        } else {
          this.log.warn({ client: c.remote, err: (err as Error).message }, 'undecodable input, closing connection');
          c.destroy();
        }
      },
    });
    this.connections.add(conn);
    conn.socket.on('error', (err) => this.log.debug({ client: conn.remote, err: err.message }, 'connection error'));
    conn.socket.on('close', () => {
      this.connections.delete(conn);
      conn.closed = true;
      if (conn.midFrame) this.log.debug({ client: conn.remote }, 'client disconnected in the middle of a frame');
    });
  }

  backendStats(b: Backend): CommandStats {
    let s = this.perBackend.get(b);
    if (!s) this.perBackend.set(b, (s = new CommandStats()));
    return s;
  }

  backendByGroup(group: number): Backend | undefined {
    return this.backends.find((b) => b.group === group);
  }

  backendById(id: number): Backend | undefined {
    return this.backends.find((b) => b.id === id);
  }

  knownServers(): DnetAddr[] {
    const joined = [...this.connections].flatMap((c) => c.joined ?? []);
    return [...joined, ...this.peers.addresses()];
  }

  pushUpdateIds(ids: BackendIds): void {
    const payload = Buffer.alloc(idContainerSize([ids]));
    encodeIdContainer([ids], payload, 0);
    for (const c of this.connections) {
      if (c.idsSent) c.send(makeHeader({ cmd: Command.UPDATE_IDS, flags: CommandFlags.DIRECT | CommandFlags.NOLOCK }), payload);
    }
  }

  /** Stops accepting, closes connections, flushes and closes every backend. */
  async stop(): Promise<void> {
    this.peers.stop();
    await this.redirect?.close();
    const closed = [this.server, ...(this.local ? [this.local] : [])].map((server) => new Promise<void>((resolve) => server.close(() => resolve())));
    for (const c of this.connections) c.destroy();
    await Promise.all(closed);
    await Promise.all(this.backends.map((b) => b.stop().catch((err: unknown) => this.log.error({ backend: b.id, err }, 'backend stop failed'))));
    this.log.info('storage node stopped');
  }
}
