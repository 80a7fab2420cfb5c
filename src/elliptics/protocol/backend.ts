// BACKEND_STATUS (26) and BACKEND_CONTROL (25) payloads (spec §7.4).
//
// dnet_backend_status (96 bytes): 0 backend_id u32  4 state i32  8 defrag_state u32
//   12 last_start dnet_time  28 last_start_err i32  32 read_only u8  33 reserved[7]  40 delay u32
//   44 reserved u32  48 reserved u64[6]
// dnet_backend_control (72 bytes + ids): 0 backend_id u32  4 command u32  8 reserved u32[13]
//   60 defrag_level u32  64 delay u32  68 ids_count u32  72 ids[64 * n]

import { BACKEND_CONTROL_SIZE, BACKEND_STATUS_SIZE, ID_SIZE } from './constants.js';
import { ProtocolError, requireBytes } from './codec-error.js';
import { type DnetTime, decodeTime, encodeTime } from './time.js';

/** `defrag_state` of a backend status (spec elliptics-protocol §7.2). */
export const DefragState = { NOT_STARTED: 0, DATA_SORT: 1, INDEX_SORT: 2, COMPACT: 3 } as const;
export const DEFRAG_STATE_NAMES: Record<number, string> = { 0: 'not-started', 1: 'in-progress', 2: 'index-sort', 3: 'compact' };

/** BACKEND_CONTROL `defrag_level`: 0 every blob holding dead records, 1 the blobs past defrag-percentage. */
export const DefragLevel = { FULL: 0, COMPACT: 1 } as const;

export interface BackendStatus {
  backendId: number;
  state: number;
  defragState: number;
  lastStart: DnetTime;
  lastStartErr: number;
  readOnly: boolean;
  delay: number;
}

export function encodeBackendStatusEntry(s: BackendStatus, buf: Buffer, offset: number): void {
  buf.fill(0, offset, offset + BACKEND_STATUS_SIZE);
  buf.writeUInt32LE(s.backendId >>> 0, offset);
  buf.writeInt32LE(s.state, offset + 4);
  buf.writeUInt32LE(s.defragState >>> 0, offset + 8);
  encodeTime(s.lastStart, buf, offset + 12);
  buf.writeInt32LE(s.lastStartErr, offset + 28);
  buf.writeUInt8(s.readOnly ? 1 : 0, offset + 32);
  buf.writeUInt32LE(s.delay >>> 0, offset + 40);
}

export function decodeBackendStatusEntry(buf: Buffer, offset: number): BackendStatus {
  requireBytes(buf, offset, BACKEND_STATUS_SIZE, 'dnet_backend_status');
  return {
    backendId: buf.readUInt32LE(offset),
    state: buf.readInt32LE(offset + 4),
    defragState: buf.readUInt32LE(offset + 8),
    lastStart: decodeTime(buf, offset + 12),
    lastStartErr: buf.readInt32LE(offset + 28),
    readOnly: buf.readUInt8(offset + 32) !== 0,
    delay: buf.readUInt32LE(offset + 40),
  };
}

/**
 * `dnet_backend_status_list`. A real node sizes the payload for slots 0..highest backend id but packs
 * the entries to the front; `slots` reproduces that (defaults to the entry count).
 */
export function encodeBackendStatusList(entries: readonly BackendStatus[], slots = entries.length): Buffer {
  const buf = Buffer.alloc(4 + BACKEND_STATUS_SIZE * Math.max(slots, entries.length));
  buf.writeUInt32LE(entries.length, 0);
  entries.forEach((e, i) => encodeBackendStatusEntry(e, buf, 4 + i * BACKEND_STATUS_SIZE));
  return buf;
}

/** Trusts `backends_count`, not the payload size (trailing slots are zero). */
export function decodeBackendStatusList(buf: Buffer): BackendStatus[] {
  requireBytes(buf, 0, 4, 'dnet_backend_status_list');
  const count = buf.readUInt32LE(0);
  if (count > (buf.length - 4) / BACKEND_STATUS_SIZE) {
    throw new ProtocolError(`dnet_backend_status_list: ${count} entries do not fit in ${buf.length} bytes`);
  }
  const out: BackendStatus[] = [];
  for (let i = 0; i < count; i++) out.push(decodeBackendStatusEntry(buf, 4 + i * BACKEND_STATUS_SIZE));
  return out;
}

export interface BackendControl {
  backendId: number;
  command: number;
  defragLevel: number;
  delay: number;
  ids: Buffer[];
}

export function encodeBackendControl(c: BackendControl): Buffer {
  const buf = Buffer.alloc(BACKEND_CONTROL_SIZE + ID_SIZE * c.ids.length);
  buf.writeUInt32LE(c.backendId >>> 0, 0);
  buf.writeUInt32LE(c.command >>> 0, 4);
  buf.writeUInt32LE(c.defragLevel >>> 0, 60);
  buf.writeUInt32LE(c.delay >>> 0, 64);
  buf.writeUInt32LE(c.ids.length, 68);
  c.ids.forEach((id, i) => id.copy(buf, BACKEND_CONTROL_SIZE + i * ID_SIZE, 0, ID_SIZE));
  return buf;
}

export function decodeBackendControl(buf: Buffer): BackendControl {
  requireBytes(buf, 0, BACKEND_CONTROL_SIZE, 'dnet_backend_control');
  const idsCount = buf.readUInt32LE(68);
  if (buf.length !== BACKEND_CONTROL_SIZE + idsCount * ID_SIZE) {
    throw new ProtocolError(`dnet_backend_control: ids_count ${idsCount} does not match ${buf.length} bytes`);
  }
  const ids: Buffer[] = [];
  for (let i = 0; i < idsCount; i++) {
    const at = BACKEND_CONTROL_SIZE + i * ID_SIZE;
    ids.push(Buffer.from(buf.subarray(at, at + ID_SIZE)));
  }
  return {
    backendId: buf.readUInt32LE(0),
    command: buf.readUInt32LE(4),
    defragLevel: buf.readUInt32LE(60),
    delay: buf.readUInt32LE(64),
    ids,
  };
}
