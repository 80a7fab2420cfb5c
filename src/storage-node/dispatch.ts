// Routes each received message to its handler, turns failures into error ACKs with the right
// negative errno, and counts every command for MONITOR_STAT. Nothing a client sends can throw
// out of here: a bad request costs that request, never the node.

import { setTimeout as sleep } from 'node:timers/promises';
import { Command, CommandFlags, Errno, FlagsHigh, isReply, ProtocolError, replyHeader, type Header, type Payload } from '../elliptics/protocol/index.js';
import type { Backend } from './engine/backend.js';
import { StorageError } from './engine/storage-error.js';
import { bulkRead, lookup, read, remove, sharedWrite, write, type DataHandler } from './handlers/data.js';
import { auth, join, reverseLookup, routeList } from './handlers/cluster.js';
import { iterator } from './handlers/iterator.js';
import { backendControl, backendStatus, monitorStat, nodeStatus } from './handlers/control.js';
import type { NodeContext } from './node-context.js';
import type { ServerConnection } from './server-connection.js';

const DATA: ReadonlyMap<number, DataHandler> = new Map([
  [Command.LOOKUP, lookup],
  [Command.WRITE, write],
  [Command.READ, read],
  [Command.DEL, remove],
  [Command.BULK_READ, bulkRead],
  [Command.ITERATOR, iterator],
]);

export function createDispatcher(ctx: NodeContext): (conn: ServerConnection, h: Header, payload: Payload) => void {
  return (conn, h, payload) => {
    void dispatch(ctx, conn, h, payload);
  };
}

async function dispatch(ctx: NodeContext, conn: ServerConnection, h: Header, payload: Payload): Promise<void> {
  // Replies would answer requests this node sent; none go out on server connections.
  if (isReply(h)) return;
  const started = process.hrtime.bigint();
  let backend: Backend | undefined;
  let bytes = 0;
  try {
    if (h.cmd === Command.WRITE && h.flagsHigh & FlagsHigh.ALSO_GROUPS) {
      // One command on the wire; each group answers for itself and counts in its backend's statistics.
      const { ok, bytes: n } = await sharedWrite(ctx, conn, h, payload,
        (b, ok1, n1, t0) => b && ctx.backendStats(b).record(h.cmd, ok1, n1, microsSince(t0)),
        (err) => ({ status: errorStatus(ctx, conn, h, err), body: err instanceof StorageError ? err.payload : undefined }));
      count(ctx, conn, undefined, h.cmd, ok, n, started);
      return;
    }
    const data = DATA.get(h.cmd);
    if (data) {
      backend = ctx.backendByGroup(h.group);
      if (!backend || !backend.enabled) throw new StorageError(Errno.ENOTSUP, `group ${h.group} is not served by this node`);
      if (backend.delay > 0) await sleep(backend.delay);
      bytes = await data(ctx, conn, h, payload, backend);
    } else {
      switch (h.cmd) {
        case Command.REVERSE_LOOKUP:
          reverseLookup(ctx, conn, h);
          break;
        case Command.ROUTE_LIST:
          routeList(ctx, conn, h);
          break;
        case Command.JOIN:
          join(ctx, conn, h, payload.bytes);
          return;
        case Command.AUTH:
          auth(ctx, conn, h, payload.bytes);
          break;
        case Command.UPDATE_IDS:
          return; // pushes from peers: this node does not forward, so its routes do not matter
        case Command.MONITOR_STAT:
          bytes = await monitorStat(ctx, conn, h, payload.bytes);
          break;
        case Command.BACKEND_STATUS:
          bytes = backendStatus(ctx, conn, h);
          break;
        case Command.BACKEND_CONTROL:
          bytes = await backendControl(ctx, conn, h, payload.bytes);
          break;
        case Command.STATUS:
          bytes = nodeStatus(ctx, conn, h, payload.bytes);
          break;
        default:
          if ((h.flags & CommandFlags.NEED_ACK) === 0) return;
          throw new StorageError(Errno.ENOTSUP, `command ${h.cmd} is not supported`);
      }
    }
    count(ctx, conn, backend, h.cmd, true, bytes, started);
  } catch (err) {
    const status = errorStatus(ctx, conn, h, err);
    const backendId = backend ? backend.id : DATA.has(h.cmd) ? h.backendId : -1;
    const payload = err instanceof StorageError ? err.payload : undefined;
    if (payload) conn.send(replyHeader(h, { status, backendId }), payload);
    else conn.send(replyHeader(h, { status, backendId }));
    count(ctx, conn, backend, h.cmd, false, 0, started);
  } finally {
    // Handlers are done with the request's bytes once they resolve (what the index keeps is copied).
    payload.release();
  }
}

function errorStatus(ctx: NodeContext, conn: ServerConnection, h: Header, err: unknown): number {
  if (err instanceof StorageError || err instanceof ProtocolError) {
    ctx.log.debug({ client: conn.remote, cmd: h.cmd, status: err.status, err: err.message }, 'command failed');
    return err.status;
  }
  ctx.log.error({ client: conn.remote, cmd: h.cmd, err }, 'command failed unexpectedly');
  return Errno.EIO;
}

function microsSince(started: bigint): number {
  return Number((process.hrtime.bigint() - started) / 1000n);
}

function count(ctx: NodeContext, conn: ServerConnection, backend: Backend | undefined, cmd: number, ok: boolean, bytes: number, started: bigint): void {
  const micros = microsSince(started);
  ctx.stats.record(cmd, ok, bytes, micros);
  conn.stats.record(cmd, ok, bytes, micros);
  if (backend) ctx.backendStats(backend).record(cmd, ok, bytes, micros);
}
