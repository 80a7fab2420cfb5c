// `dnet_node_status` (12 bytes): the STATUS payload and the stall ping the C client attaches to
// BACKEND_STATUS (spec §5.4, §7.4). -1 / 0xFFFFFFFF mean "do not change".

import { NODE_STATUS_SIZE } from './constants.js';
import { requireBytes } from './codec-error.js';

export interface NodeStatus {
  nflags: number;
  statusFlags: number;
  logLevel: number;
}

export const NODE_STATUS_PING: NodeStatus = Object.freeze({ nflags: -1, statusFlags: -1, logLevel: 0xffff_ffff });

export function encodeNodeStatus(s: NodeStatus): Buffer {
  const buf = Buffer.alloc(NODE_STATUS_SIZE);
  buf.writeInt32LE(s.nflags, 0);
  buf.writeInt32LE(s.statusFlags, 4);
  buf.writeUInt32LE(s.logLevel >>> 0, 8);
  return buf;
}

export function decodeNodeStatus(buf: Buffer): NodeStatus {
  requireBytes(buf, 0, NODE_STATUS_SIZE, 'dnet_node_status');
  return { nflags: buf.readInt32LE(0), statusFlags: buf.readInt32LE(4), logLevel: buf.readUInt32LE(8) };
}
