// MONITOR_STAT JSON → typed per-backend statistics, read exactly as backrunner reads them
// (spec backrunner.md §11.1, elliptics-protocol.md §7.3).

import { MONITOR_CATEGORIES_BACKRUNNER } from './protocol/constants.js';

export interface CommandCounters {
  requestsSuccess: number;
  requestsFailures: number;
  bytes: number;
}

export interface BackendStats {
  /** `ip:port:family` of the node that reported it. */
  address: string;
  backendId: number;
  /** From `backend.config.group`, not from the route table. */
  group: number;
  readOnly: boolean;
  /** Milliseconds injected per operation. */
  delay: number;
  defragState: number;
  defragStartTime: number;
  defragCompletionTime: number;
  defragCompletionStatus: number;
  /** `backend.error.code`: non-zero means the stats are stale or the backend failed. */
  error: number;
  /** vfs.frsize × vfs.blocks */
  total: number;
  /** vfs.bfree × vfs.bsize (free blocks, not bavail) */
  avail: number;
  /** blob_size_limit when set and free-space checks are on, else `total`. */
  limit: number;
  /** summary_stats.base_size */
  used: number;
  removedSize: number;
  recordsTotal: number;
  recordsRemoved: number;
  recordsCorrupted: number;
  commands: Record<string, CommandCounters>;
}

export interface NodeStats {
  address: string;
  /** The reply's timestamp, milliseconds since the epoch. */
  timestamp: number;
  /** False when the node's monitor is disabled (a real node without `monitor.port`). */
  monitorEnabled: boolean;
  /** Enabled backends only. */
  backends: BackendStats[];
  /** Backend ids present but not enabled. */
  disabled: number[];
}

export const STATS_CATEGORIES = BigInt(MONITOR_CATEGORIES_BACKRUNNER);

/** `address/backend`: how every per-backend figure (statistics, write health) is keyed. */
export function backendKey(address: string, backendId: number): string {
  return `${address}/${backendId}`;
}

/** EBLOB_NO_FREE_SPACE_CHECK: the blob limit is not a free-space bound. */
const NO_FREE_SPACE_CHECK = 0x10;

type Json = Record<string, unknown>;

const obj = (v: unknown): Json => (typeof v === 'object' && v !== null && !Array.isArray(v) ? (v as Json) : {});
const num = (v: unknown): number => (typeof v === 'number' && Number.isFinite(v) ? v : 0);

export function parseNodeStats(address: string, doc: unknown): NodeStats {
  const root = obj(doc);
  const ts = obj(root.timestamp);
  const out: NodeStats = {
    address,
    timestamp: num(ts.tv_sec) * 1000 + Math.floor(num(ts.tv_usec) / 1000),
    monitorEnabled: root.monitor_status === 'enabled',
    backends: [],
    disabled: [],
  };
  if (!out.monitorEnabled) return out;
  for (const [key, value] of Object.entries(obj(root.backends))) {
    const b = obj(value);
    const status = obj(b.status);
    const backendId = num(b.backend_id ?? Number(key));
    if (num(status.state) !== 1) {
      out.disabled.push(backendId);
      continue;
    }
    const backend = obj(b.backend);
    const config = obj(backend.config);
    const vfs = obj(backend.vfs);
    const summary = obj(backend.summary_stats);
    const global = obj(backend.global_stats);
    const total = num(vfs.frsize) * num(vfs.blocks);
    const blobLimit = num(config.blob_size_limit);
    out.backends.push({
      address,
      backendId,
      group: num(config.group),
      readOnly: status.read_only === true,
      delay: num(status.delay),
      defragState: num(status.defrag_state),
      defragStartTime: num(global.datasort_start_time),
      defragCompletionTime: num(global.datasort_completion_time),
      defragCompletionStatus: num(global.datasort_completion_status),
      error: num(obj(backend.error).code),
      total,
      avail: num(vfs.bfree) * num(vfs.bsize),
      limit: blobLimit !== 0 && (num(config.blob_flags) & NO_FREE_SPACE_CHECK) === 0 ? blobLimit : total,
      used: num(summary.base_size),
      removedSize: num(summary.records_removed_size),
      recordsTotal: num(summary.records_total),
      recordsRemoved: num(summary.records_removed),
      recordsCorrupted: num(summary.records_corrupted),
      commands: commandCounters(obj(b.commands)),
    });
  }
  return out;
}

/** Success, failure and byte counts summed over cache/disk × outside/internal. */
function commandCounters(commands: Json): Record<string, CommandCounters> {
  const out: Record<string, CommandCounters> = {};
  for (const [name, value] of Object.entries(commands)) {
    const c: CommandCounters = { requestsSuccess: 0, requestsFailures: 0, bytes: 0 };
    for (const where of ['cache', 'disk']) {
      for (const source of ['outside', 'internal']) {
        const cell = obj(obj(obj(value)[where])[source]);
        c.requestsSuccess += num(cell.successes);
        c.requestsFailures += num(cell.failures);
        c.bytes += num(cell.size);
      }
    }
    out[name] = c;
  }
  return out;
}
