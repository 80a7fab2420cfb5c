// Cluster membership: the REVERSE_LOOKUP handshake, ROUTE_LIST, and the server-to-server JOIN and
// AUTH (spec §5). UPDATE_IDS pushes from peers need no action: this node does not forward.

import { timingSafeEqual } from 'node:crypto';
import { formatEndpoint } from '../../elliptics/protocol/addr.js';
import {
  CommandFlags, Errno, decodeAuth, decodeNodeIdentity, decodeVersion, encodeAuth, encodeNodeIdentity, encodeRouteList,
  encodeVersion, formatVersion, isSupportedVersion, replyHeader, addrEquals, ProtocolError,
  type BackendIds, type DnetAddr, type Header,
} from '../../elliptics/protocol/index.js';
import type { NodeContext } from '../node-context.js';
import type { ServerConnection } from '../server-connection.js';

const ROUTE_REPLY_FLAGS = CommandFlags.NOLOCK | CommandFlags.REPLY;

/** The enabled backends as the handshake announces them. */
export function announcedBackends(ctx: NodeContext): BackendIds[] {
  return ctx.backends.filter((b) => b.enabled).map((b) => ({ backendId: b.id, group: b.group, flags: 0, ids: b.ids }));
}

/**
 * REVERSE_LOOKUP: accept 2.26 and 3.0 clients and answer in kind (their version echoed, since a
 * stock client insists on its own major.minor). Anything else is closed without a reply, as a
 * real node does on a version mismatch.
 */
export function reverseLookup(ctx: NodeContext, conn: ServerConnection, h: Header): void {
  const version = decodeVersion(h.id);
  if (!isSupportedVersion(version)) {
    ctx.log.warn({ client: conn.remote, version: formatVersion(version) }, 'handshake refused: protocol version mismatch (supported: 2.26, 3.0)');
    conn.end();
    return;
  }
  const id = Buffer.from(h.id);
  encodeVersion(version, id);
  const reply = replyHeader(h, { flags: ROUTE_REPLY_FLAGS, backendId: 0, id });
  reply.traceId = 0n;
  conn.send(reply, encodeNodeIdentity({ addrs: [ctx.self], backends: announcedBackends(ctx) }));
  conn.idsSent = true;
}

/** ROUTE_LIST: this node and every server it knows, minus the asking peer itself. */
export function routeList(ctx: NodeContext, conn: ServerConnection, h: Header): void {
  const exclude: DnetAddr[] = conn.joined ?? [];
  const addrs = [ctx.self, ...ctx.knownServers()].filter(
    (a, i, all) => !exclude.some((e) => addrEquals(e, a)) && all.findIndex((b) => addrEquals(a, b)) === i,
  );
  conn.send(replyHeader(h, { flags: ROUTE_REPLY_FLAGS, backendId: 0 }), encodeRouteList({ nodeAddrNum: 1, addrs }));
}

/** JOIN: a peer node announces itself; it is listed in ROUTE_LIST replies while connected. No reply. */
export function join(ctx: NodeContext, conn: ServerConnection, _h: Header, payload: Buffer): void {
  try {
    const identity = decodeNodeIdentity(payload);
    conn.joined = identity.addrs;
    ctx.log.info({ peer: conn.remote, addrs: identity.addrs.map(formatEndpoint) }, 'peer node joined');
  } catch (err) {
    // A real node resets the connection on a bad JOIN.
    ctx.log.warn({ peer: conn.remote, err: (err as Error).message }, 'bad JOIN payload, closing');
    conn.destroy();
  }
}

/** AUTH: compare the 32-byte cookie with ours (an empty cookie in the config accepts any). */
export function auth(ctx: NodeContext, conn: ServerConnection, h: Header, payload: Buffer): void {
  let status = 0;
  try {
    const theirs = decodeAuth(payload);
    if (ctx.config.authCookie !== '' && !timingSafeEqual(theirs.cookie, encodeAuth(ctx.config.authCookie).subarray(0, 32))) {
      status = Errno.EPERM;
    }
  } catch (err) {
    status = err instanceof ProtocolError ? err.status : Errno.EINVAL;
  }
  conn.send(replyHeader(h, { backendId: -1, status }));
}
