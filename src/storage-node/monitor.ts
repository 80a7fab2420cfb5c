// MONITOR_STAT JSON (spec §7.2–§7.3), with the keys and meanings of a real node for the categories a
// proxy asks for: COMMANDS (4), BACKEND (16), PROCFS (64); IO (2) and STATS (32) in their minimal form.

import fs from 'node:fs/promises';
import os from 'node:os';
import { BackendState, MonitorCategory } from '../elliptics/protocol/constants.js';
import type { Backend } from './engine/backend.js';
import { DEFRAG_STATE_NAMES, WANT_DEFRAG_NAMES } from './engine/defrag.js';

/** eblob's EBLOB_AUTO_DATASORT: defragmentation runs on its own (our `defrag-timeout` > 0). */
const BLOB_FLAG_AUTO_DATASORT = 128;
import type { CommandStats } from './command-stats.js';

export interface MonitorSource {
  backends: readonly Backend[];
  commands: CommandStats;
  backendCommands: (b: Backend) => CommandStats;
  clients: ReadonlyMap<string, CommandStats>;
  /** Per connected peer: bytes queued for sending. */
  states: ReadonlyMap<string, number>;
}

export async function buildMonitorJson(src: MonitorSource, categories: bigint): Promise<string> {
  const has = (c: number): boolean => (categories & BigInt(c)) !== 0n;
  const now = Date.now();
  const doc: Record<string, unknown> = {
    timestamp: timeval(now),
    string_timestamp: stringTime(now),
    monitor_status: 'enabled',
  };
  if (has(MonitorCategory.COMMANDS)) {
    const clients: Record<string, unknown> = {};
    for (const [addr, stats] of src.clients) clients[addr] = stats.clientJson();
    doc.commands = { ...src.commands.nodeJson(), clients };
  }
  if (has(MonitorCategory.STATS)) doc.__stats__ = 'stats subsystem disabled at compile time';
  if (has(MonitorCategory.IO) || has(MonitorCategory.CACHE) || has(MonitorCategory.BACKEND)) {
    const backends: Record<string, unknown> = {};
    for (const b of src.backends) backends[String(b.id)] = await backendJson(b, src.backendCommands(b), has);
    doc.backends = backends;
  }
  if (has(MonitorCategory.IO)) {
    const states: Record<string, unknown> = {};
    for (const [addr, queued] of src.states) states[addr] = { send_queue_size: queued, la: 1, free: 0, stall: 0, join_state: 0 };
    doc.io = { blocking: { current_size: 0 }, nonblocking: { current_size: 0 }, output: { current_size: 0 }, states, blocked: false };
  }
  if (has(MonitorCategory.PROCFS)) doc.procfs = await procfsJson();
  return JSON.stringify(doc);
}

async function backendJson(b: Backend, commands: CommandStats, has: (c: number) => boolean): Promise<Record<string, unknown>> {
  const status = {
    state: b.enabled ? BackendState.ENABLED : BackendState.DISABLED,
    string_state: b.enabled ? 'enabled' : 'disabled',
    defrag_state: b.defrag.state,
    string_defrag_state: DEFRAG_STATE_NAMES[b.defrag.state] ?? 'unknown',
    last_start: timeval(b.lastStart.sec * 1000 + b.lastStart.nsec / 1e6),
    string_last_time: stringTime(b.lastStart.sec * 1000 + b.lastStart.nsec / 1e6),
    last_start_err: b.lastStartErr,
    read_only: b.readOnly,
    delay: b.delay,
  };
  const out: Record<string, unknown> = { backend_id: b.id, status };
  if (!b.enabled) {
    // A disabled backend only shows its parsed config (and group), as a real node does.
    if (has(MonitorCategory.BACKEND)) {
      const { string_blob_flags: _omitted, ...config } = configJson(b);
      out.backend = { config };
    }
    return out;
  }
  if (has(MonitorCategory.COMMANDS)) out.commands = commands.backendJson();
  if (has(MonitorCategory.BACKEND)) {
    const s = b.summary();
    const stats = (r: { records: number; removed: number; removedSize: number; size: number; wantDefrag: number }): Record<string, number> => ({
      records_total: r.records,
      records_removed: r.removed,
      records_removed_size: r.removedSize,
      records_corrupted: 0,
      base_size: r.size,
      memory_bloom_filter: 0,
      memory_index_blocks: 0,
      want_defrag: r.wantDefrag,
      is_sorted: 0,
    });
    const baseStats: Record<string, unknown> = {};
    for (const blob of s.blobs) baseStats[blob.name] = { ...stats(blob), string_want_defrag: WANT_DEFRAG_NAMES[blob.wantDefrag] ?? 'unknown' };
    const now = Date.now();
    out.backend = {
      global_stats: {
        datasort_start_time: b.defrag.startTime,
        read_copy_updates: 0,
        prepare_reused: 0,
        memory_index_tree: 0,
        lookup_reads_number: 0,
        data_reads_number: 0,
        writes_number: 0,
        reads_size: 0,
        writes_size: 0,
        index_files_reads_number: 0,
        datasort_completion_time: b.defrag.completionTime,
        datasort_completion_status: b.defrag.completionStatus,
      },
      summary_stats: {
        ...stats({ records: s.recordsTotal, removed: s.recordsRemoved, removedSize: s.recordsRemovedSize, size: s.baseSize, wantDefrag: s.wantDefrag }),
        records_corrupted: s.recordsCorrupted,
      },
      base_stats: baseStats,
      config: configJson(b),
      vfs: await vfsJson(b.dir, b.options.freeSpaceReserve ?? 0),
      dstat: await dstatJson(b.dir),
      timestamp: timeval(now),
    };
  }
  if (has(MonitorCategory.IO)) out.io = { blocking: { current_size: 0 }, nonblocking: { current_size: 0 } };
  return out;
}

function configJson(b: Backend): Record<string, unknown> {
  const o = b.options;
  const h = b.housekeeping;
  const auto = h.defragTimeout > 0;
  return {
    blob_flags: auto ? BLOB_FLAG_AUTO_DATASORT : 0,
    string_blob_flags: auto ? `0x${BLOB_FLAG_AUTO_DATASORT.toString(16)} [auto_datasort]` : '0x0 []',
    sync: o.sync === 'always' ? 0 : o.sync === 0 ? -1 : o.sync,
    data: b.dataPrefix,
    blob_size: o.blobSize,
    records_in_blob: 0,
    defrag_percentage: h.defragPercentage,
    defrag_timeout: h.defragTimeout,
    index_block_size: 0,
    index_block_bloom_length: 0,
    blob_size_limit: o.blobSizeLimit,
    defrag_time: 0,
    defrag_splay: 0,
    group: b.group,
  };
}

/**
 * statvfs of the backend directory; on failure `{"timestamp", "error": -errno}` as a real node. The
 * free blocks are those writes may use: the free-space reserve kept for compaction is left out, so
 * a proxy judging free space sees the backend full where its writes are refused.
 */
async function vfsJson(dir: string, reserve: number): Promise<Record<string, unknown>> {
  const timestamp = timeval(Date.now());
  try {
    const st = await fs.statfs(dir);
    const kept = Math.ceil(reserve / st.bsize);
    return {
      timestamp,
      bsize: st.bsize,
      frsize: st.bsize,
      blocks: st.blocks,
      bfree: Math.max(0, st.bfree - kept),
      bavail: Math.max(0, st.bavail - kept),
      files: st.files,
      ffree: st.ffree,
      favail: st.ffree,
      fsid: 0,
      flag: 0,
      namemax: 255,
    };
  } catch (err) {
    return { timestamp, error: -((err as NodeJS.ErrnoException).errno ?? 5) };
  }
}

const DSTAT_FIELDS = ['read_ios', 'read_merges', 'read_sectors', 'read_ticks', 'write_ios', 'write_merges', 'write_sectors', 'write_ticks', 'in_flight', 'io_ticks', 'time_in_queue'];

/** Block-device counters of the disk under the backend (`/sys/dev/block/M:m/stat`), or `{"error"}`. */
async function dstatJson(dir: string): Promise<Record<string, unknown>> {
  const timestamp = timeval(Date.now());
  try {
    const dev = (await fs.stat(dir)).dev;
    const major = (dev >> 8) & 0xfff;
    const minor = (dev & 0xff) | ((dev >> 12) & 0xfff00);
    const fields = (await fs.readFile(`/sys/dev/block/${major}:${minor}/stat`, 'utf8')).trim().split(/\s+/).map(Number);
    const out: Record<string, unknown> = { timestamp };
    DSTAT_FIELDS.forEach((name, i) => (out[name] = fields[i] ?? 0));
    return out;
  } catch (err) {
    return { timestamp, error: -((err as NodeJS.ErrnoException).errno ?? 2) };
  }
}

async function procfsJson(): Promise<Record<string, unknown>> {
  const mem = process.memoryUsage();
  const io = await readProcKeyValues('/proc/self/io');
  return {
    vm: {
      error: 0,
      string_error: '',
      la: os.loadavg().map((l) => Math.round(l * 100)),
      total: Math.round(os.totalmem() / 1024),
      active: 0,
      inactive: 0,
      free: Math.round(os.freemem() / 1024),
      cached: 0,
      buffers: 0,
    },
    io: {
      error: io ? 0 : -2,
      string_error: '',
      rchar: io?.rchar ?? 0,
      wchar: io?.wchar ?? 0,
      syscr: io?.syscr ?? 0,
      syscw: io?.syscw ?? 0,
      read_bytes: io?.read_bytes ?? 0,
      write_bytes: io?.write_bytes ?? 0,
      cancelled_write_bytes: io?.cancelled_write_bytes ?? 0,
    },
    stat: {
      error: 0,
      string_error: '',
      threads_num: 0,
      rss: Math.round(mem.rss / 4096),
      vsize: 0,
      rsslim: 0,
      msize: 0,
      mresident: Math.round(mem.rss / 4096),
      mshare: 0,
      mcode: 0,
      mdata: 0,
    },
    net: await netJson(),
  };
}

/** Per-interface byte/packet/error counters from /proc/net/dev. */
async function netJson(): Promise<Record<string, unknown>> {
  try {
    const interfaces: Record<string, unknown> = {};
    for (const line of (await fs.readFile('/proc/net/dev', 'utf8')).split('\n').slice(2)) {
      const m = /^\s*([^:]+):\s*(.*)$/.exec(line);
      if (!m) continue;
      const f = m[2]!.trim().split(/\s+/).map(Number);
      interfaces[m[1]!] = {
        receive: { bytes: f[0] ?? 0, packets: f[1] ?? 0, errors: f[2] ?? 0 },
        transmit: { bytes: f[8] ?? 0, packets: f[9] ?? 0, errors: f[10] ?? 0 },
      };
    }
    return { error: 0, string_error: '', net_interfaces: interfaces };
  } catch (err) {
    return { error: -((err as NodeJS.ErrnoException).errno ?? 2), string_error: (err as Error).message, net_interfaces: {} };
  }
}

async function readProcKeyValues(file: string): Promise<Record<string, number> | undefined> {
  try {
    const out: Record<string, number> = {};
    for (const line of (await fs.readFile(file, 'utf8')).split('\n')) {
      const m = /^(\w+):\s*(\d+)/.exec(line);
      if (m) out[m[1]!] = Number(m[2]);
    }
    return out;
  } catch {
    return undefined;
  }
}

function timeval(ms: number): { tv_sec: number; tv_usec: number } {
  const sec = Math.floor(ms / 1000);
  return { tv_sec: sec, tv_usec: Math.floor((ms - sec * 1000) * 1000) };
}

function stringTime(ms: number): string {
  const d = new Date(ms);
  const pad = (n: number, w = 2): string => String(n).padStart(w, '0');
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())} ${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}.${pad(Math.floor((ms % 1000) * 1000), 6)}`;
}
