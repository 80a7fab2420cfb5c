// Address and id containers (spec §4.3, §5.1, §5.3): the payloads of REVERSE_LOOKUP replies, JOIN,
// ROUTE_LIST replies and UPDATE_IDS pushes.

import { ADDR_SIZE, ID_SIZE } from './constants.js';
import { ProtocolError, requireBytes } from './codec-error.js';
import { type DnetAddr, decodeAddr, encodeAddr } from './addr.js';

/** `dnet_addr_container`: `node_addr_num` addresses per node, `addrs` grouped node by node. */
export interface AddrContainer {
  nodeAddrNum: number;
  addrs: DnetAddr[];
}

/** `dnet_backend_ids` + its ring points. */
export interface BackendIds {
  backendId: number;
  group: number;
  /** 0, or BACKEND_IDS_DISABLE in an UPDATE_IDS push for a disabled backend. */
  flags: number;
  ids: Buffer[];
}

export function addrContainerSize(c: AddrContainer): number {
  return 8 + ADDR_SIZE * c.addrs.length;
}

export function encodeAddrContainer(c: AddrContainer, buf: Buffer, offset: number): number {
  buf.writeInt32LE(c.nodeAddrNum, offset);
  buf.writeInt32LE(c.addrs.length, offset + 4);
  let at = offset + 8;
  for (const a of c.addrs) {
    encodeAddr(a, buf, at);
    at += ADDR_SIZE;
  }
  return at - offset;
}

export function decodeAddrContainer(buf: Buffer, offset = 0): { container: AddrContainer; size: number } {
  requireBytes(buf, offset, 8, 'dnet_addr_container');
  const nodeAddrNum = buf.readInt32LE(offset);
  const addrNum = buf.readInt32LE(offset + 4);
  if (nodeAddrNum <= 0 || addrNum < 0 || addrNum % nodeAddrNum !== 0) {
    throw new ProtocolError(`dnet_addr_container: node_addr_num ${nodeAddrNum}, addr_num ${addrNum}`);
  }
  requireBytes(buf, offset + 8, addrNum * ADDR_SIZE, 'dnet_addr_container addresses');
  const addrs: DnetAddr[] = [];
  for (let i = 0; i < addrNum; i++) addrs.push(decodeAddr(buf, offset + 8 + i * ADDR_SIZE));
  return { container: { nodeAddrNum, addrs }, size: 8 + addrNum * ADDR_SIZE };
}

export function idContainerSize(backends: readonly BackendIds[]): number {
  let n = 4;
  for (const b of backends) n += 16 + ID_SIZE * b.ids.length;
  return n;
}

export function encodeIdContainer(backends: readonly BackendIds[], buf: Buffer, offset: number): number {
  buf.writeInt32LE(backends.length, offset);
  let at = offset + 4;
  for (const b of backends) {
    buf.writeInt32LE(b.backendId, at);
    buf.writeInt32LE(b.group, at + 4);
    buf.writeUInt32LE(b.flags >>> 0, at + 8);
    buf.writeUInt32LE(b.ids.length, at + 12);
    at += 16;
    for (const id of b.ids) {
      id.copy(buf, at, 0, ID_SIZE);
      at += ID_SIZE;
    }
  }
  return at - offset;
}

/** Decodes an id container that must end exactly at `end` (the C client's exact size accounting). */
export function decodeIdContainer(buf: Buffer, offset: number, end: number = buf.length): BackendIds[] {
  requireBytes(buf, offset, 4, 'dnet_id_container');
  const count = buf.readInt32LE(offset);
  if (count < 0) throw new ProtocolError(`dnet_id_container: backends_count ${count}`);
  const out: BackendIds[] = [];
  let at = offset + 4;
  for (let i = 0; i < count; i++) {
    if (end - at < 16) throw new ProtocolError('dnet_id_container: truncated dnet_backend_ids');
    const backendId = buf.readInt32LE(at);
    const group = buf.readInt32LE(at + 4);
    const flags = buf.readUInt32LE(at + 8);
    const idsCount = buf.readUInt32LE(at + 12);
    at += 16;
    if (idsCount > (end - at) / ID_SIZE) throw new ProtocolError('dnet_id_container: truncated ring points');
    const ids: Buffer[] = [];
    for (let j = 0; j < idsCount; j++) {
      ids.push(Buffer.from(buf.subarray(at, at + ID_SIZE)));
      at += ID_SIZE;
    }
    out.push({ backendId, group, flags, ids });
  }
  if (at !== end) throw new ProtocolError(`dnet_id_container: ${end - at} trailing bytes`);
  return out;
}

/** The REVERSE_LOOKUP reply (and JOIN) payload: the node's addresses, then its enabled backends. */
export interface NodeIdentity {
  addrs: DnetAddr[];
  backends: BackendIds[];
}

export function encodeNodeIdentity(n: NodeIdentity): Buffer {
  const c: AddrContainer = { nodeAddrNum: n.addrs.length, addrs: n.addrs };
  const buf = Buffer.alloc(addrContainerSize(c) + idContainerSize(n.backends));
  const at = encodeAddrContainer(c, buf, 0);
  encodeIdContainer(n.backends, buf, at);
  return buf;
}

export function decodeNodeIdentity(buf: Buffer): NodeIdentity {
  const { container, size } = decodeAddrContainer(buf, 0);
  return { addrs: container.addrs, backends: decodeIdContainer(buf, size, buf.length) };
}

/** ROUTE_LIST reply payload: every known server node, `nodeAddrNum` addresses each. */
export function encodeRouteList(c: AddrContainer): Buffer {
  const buf = Buffer.alloc(addrContainerSize(c));
  encodeAddrContainer(c, buf, 0);
  return buf;
}

export function decodeRouteList(buf: Buffer): AddrContainer {
  const { container, size } = decodeAddrContainer(buf, 0);
  if (size !== buf.length) throw new ProtocolError(`ROUTE_LIST reply: ${buf.length - size} trailing bytes`);
  return container;
}
