// Node-level commands: MONITOR_STAT, BACKEND_STATUS, BACKEND_CONTROL, STATUS (spec §7).
// Their replies carry backend_id -1, as a real node's do.

import {
  BACKEND_IDS_DISABLE, BackendCommand, BackendState, Errno, NODE_STATUS_SIZE,
  decodeBackendControl, decodeMonitorStatRequest, decodeNodeStatus, encodeBackendStatusList, encodeMonitorStatReply,
  encodeNodeStatus, replyHeader, type BackendStatus, type Header,
} from '../../elliptics/protocol/index.js';
import type { Backend } from '../engine/backend.js';
import { DefragLevel } from '../engine/defrag.js';
import { StorageError } from '../engine/storage-error.js';
import { buildMonitorJson } from '../monitor.js';
import type { NodeContext } from '../node-context.js';
import type { ServerConnection } from '../server-connection.js';

function statusOf(b: Backend): BackendStatus {
  return {
    backendId: b.id,
    state: b.enabled ? BackendState.ENABLED : BackendState.DISABLED,
    defragState: b.defrag.state,
    lastStart: b.lastStart,
    lastStartErr: b.lastStartErr,
    readOnly: b.readOnly,
    delay: b.delay,
  };
}

/** MONITOR_STAT: zlib-wrapped JSON in a packet with MORE, then an ACK. */
export async function monitorStat(ctx: NodeContext, conn: ServerConnection, h: Header, payload: Buffer): Promise<number> {
  const categories = decodeMonitorStatRequest(payload); // throws -EINVAL unless exactly 44 bytes
  const clients = new Map([...ctx.connections].filter((c) => !c.joined).map((c) => [c.remote, c.stats] as const));
  const states = new Map([...ctx.connections].map((c) => [c.remote, c.queuedBytes] as const));
  const json = await buildMonitorJson(
    { backends: ctx.backends, commands: ctx.stats, backendCommands: (b) => ctx.backendStats(b), clients, states },
    categories,
  );
  const body = encodeMonitorStatReply(json);
  conn.send(replyHeader(h, { backendId: -1, more: true }), body);
  conn.send(replyHeader(h, { backendId: -1 }));
  return body.length;
}

/** BACKEND_STATUS: every configured backend, in a list sized for slots 0..highest id as a real node does. */
export function backendStatus(ctx: NodeContext, conn: ServerConnection, h: Header): number {
  const slots = Math.max(0, ...ctx.backends.map((b) => b.id)) + 1;
  conn.send(replyHeader(h, { backendId: -1 }), encodeBackendStatusList(ctx.backends.map(statusOf), slots));
  return 0;
}

/**
 * BACKEND_CONTROL: enable, disable, read-only, writeable, delay, start and stop defragmentation.
 * Asking for the mode a backend is already in (or a defragmentation while one runs) answers the
 * status with MORE and then -EALREADY, as captured from a real node.
 */
export async function backendControl(ctx: NodeContext, conn: ServerConnection, h: Header, payload: Buffer): Promise<number> {
  const ctl = decodeBackendControl(payload);
  const b = ctx.backendById(ctl.backendId);
  if (!b) throw new StorageError(Errno.EINVAL, `no backend ${ctl.backendId} on this node`);
  let status = 0;
  switch (ctl.command) {
    case BackendCommand.ENABLE:
      if (b.enabled) status = Errno.EALREADY;
      else {
        await b.start();
        ctx.log.info({ backend: b.id, group: b.group }, 'backend enabled');
        ctx.pushUpdateIds({ backendId: b.id, group: b.group, flags: 0, ids: b.ids });
      }
      break;
    case BackendCommand.DISABLE:
      if (!b.enabled) status = Errno.EALREADY;
      else {
        // Taken out of routing first, then closed, as a real node does.
        ctx.pushUpdateIds({ backendId: b.id, group: 0, flags: BACKEND_IDS_DISABLE, ids: [] });
        await b.stop();
        ctx.log.info({ backend: b.id, group: b.group }, 'backend disabled');
      }
      break;
    case BackendCommand.READ_ONLY:
    case BackendCommand.WRITEABLE: {
      const ro = ctl.command === BackendCommand.READ_ONLY;
      if (b.readOnly === ro) status = Errno.EALREADY;
      b.readOnly = ro;
      ctx.log.info({ backend: b.id, readOnly: ro }, 'backend mode changed');
      break;
    }
    case BackendCommand.SET_DELAY:
      b.delay = ctl.delay;
      ctx.log.info({ backend: b.id, delayMs: ctl.delay }, 'backend delay set');
      break;
    case BackendCommand.START_DEFRAG:
      if (ctl.defragLevel !== DefragLevel.FULL && ctl.defragLevel !== DefragLevel.COMPACT) {
        throw new StorageError(Errno.EINVAL, `defrag level ${ctl.defragLevel} is not 0 (full) or 1 (compact)`);
      }
      if (!b.enabled) throw new StorageError(Errno.ENOTSUP, `backend ${b.id} is disabled`);
      status = b.startDefrag(ctl.defragLevel);
      if (status === 0) ctx.log.info({ backend: b.id, level: ctl.defragLevel }, 'defragmentation requested');
      break;
    case BackendCommand.STOP_DEFRAG:
      status = b.stopDefrag();
      if (status === 0) ctx.log.info({ backend: b.id }, 'defragmentation stop requested');
      break;
    default:
      throw new StorageError(Errno.ENOTSUP, `backend control command ${ctl.command} is not supported`);
  }
  const list = encodeBackendStatusList([statusOf(b)]);
  if (status === 0) {
    conn.send(replyHeader(h, { backendId: -1 }), list);
    return 0;
  }
  conn.send(replyHeader(h, { backendId: -1, more: true }), list);
  conn.send(replyHeader(h, { backendId: -1, status }));
  return 0;
}

/**
 * STATUS: report the node status (data packet with MORE, then ACK). Requests to change it are
 * ignored except read-only: a client must not be able to make a node exit.
 */
export function nodeStatus(ctx: NodeContext, conn: ServerConnection, h: Header, payload: Buffer): number {
  if (payload.length >= NODE_STATUS_SIZE) {
    const asked = decodeNodeStatus(payload);
    if (asked.statusFlags !== -1) {
      const ro = (asked.statusFlags & 2) !== 0;
      for (const b of ctx.backends) b.readOnly = ro;
    }
  }
  const ro = ctx.backends.length > 0 && ctx.backends.every((b) => b.readOnly);
  conn.send(replyHeader(h, { backendId: -1, more: true }), encodeNodeStatus({ nflags: 0, statusFlags: ro ? 2 : 0, logLevel: 2 }));
  conn.send(replyHeader(h, { backendId: -1 }));
  return 0;
}
