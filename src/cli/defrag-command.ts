// `backrunner defrag`: start, stop and watch the defragmentation of one backend of a storage node
// (the embedded one or a real Elliptics node), as `dnet_ioclient -r host:port:2 -d start|stop|status
// --backend-id N` does, over BACKEND_CONTROL, BACKEND_STATUS and MONITOR_STAT.

import type { CommandModule } from 'yargs';
import { Connection, type Packet } from '../elliptics/connection.js';
import { EllipticsError } from '../elliptics/errors.js';
import {
  BackendCommand, DEFRAG_STATE_NAMES, DefragLevel, DefragState, Errno, MonitorCategory, VERSION_2_26, errnoName, parseEndpoint, type BackendStatus,
} from '../elliptics/protocol/index.js';
import { backendControlRequest, backendStatusOf, backendStatusRequest, monitorStatOf, monitorStatRequest } from '../elliptics/requests.js';

type Action = 'start' | 'compact' | 'stop' | 'status';

interface DefragArgs {
  action: Action;
  remote: string;
  backend: number;
  wait?: boolean;
  json?: boolean;
  timeout: number;
}

/** What the node says about one backend's garbage and defragmentation (MONITOR_STAT, category backend). */
export interface DefragReport {
  backend: number;
  state: string;
  defragState: number;
  records: number;
  removedRecords: number;
  removedBytes: number;
  bytes: number;
  wantDefrag: number;
  blobsWanting: number;
  lastStart: number;
  lastCompletion: number;
  lastStatus: number;
}

function fail(message: string, code = 1): never {
  process.stderr.write(`backrunner defrag: ${message}\n`);
  process.exit(code);
}

function lastStatus(packets: readonly Packet[]): number {
  return packets.at(-1)?.header.status ?? 0;
}

async function report(conn: Connection, backend: number): Promise<DefragReport> {
  const statuses = backendStatusOf(await conn.request(backendStatusRequest().header, []), 'BACKEND_STATUS');
  const st: BackendStatus | undefined = statuses.find((s) => s.backendId === backend);
  if (!st) fail(`the node has no backend ${backend} (--backend); it has ${statuses.map((s) => s.backendId).join(', ') || 'none'}`);
  const m = monitorStatRequest(BigInt(MonitorCategory.BACKEND));
  const doc = monitorStatOf(await conn.request(m.header, m.payload), 'MONITOR_STAT') as { backends?: Record<string, Record<string, unknown>> };
  const b = (doc.backends?.[String(backend)]?.backend ?? {}) as Record<string, Record<string, unknown>>;
  const summary = (b.summary_stats ?? {}) as Record<string, number>;
  const global = (b.global_stats ?? {}) as Record<string, number>;
  const base = (b.base_stats ?? {}) as Record<string, { want_defrag?: number }>;
  return {
    backend,
    state: DEFRAG_STATE_NAMES[st.defragState] ?? `state ${st.defragState}`,
    defragState: st.defragState,
    records: summary.records_total ?? 0,
    removedRecords: summary.records_removed ?? 0,
    removedBytes: summary.records_removed_size ?? 0,
    bytes: summary.base_size ?? 0,
    wantDefrag: summary.want_defrag ?? 0,
    blobsWanting: Object.values(base).filter((x) => (x.want_defrag ?? 0) !== 0).length,
    lastStart: global.datasort_start_time ?? 0,
    lastCompletion: global.datasort_completion_time ?? 0,
    lastStatus: global.datasort_completion_status ?? 0,
  };
}

const mib = (n: number): string => `${(n / 1048576).toFixed(1)} MiB`;
const when = (sec: number): string => (sec > 0 ? new Date(sec * 1000).toISOString() : 'never');

function printReport(r: DefragReport, json: boolean): void {
  if (json) {
    process.stdout.write(`${JSON.stringify(r)}\n`);
    return;
  }
  const dead = r.bytes > 0 ? ` (${((r.removedBytes * 100) / r.bytes).toFixed(1)} %)` : '';
  process.stdout.write(
    `backend ${r.backend}: defragmentation ${r.state}\n` +
      `  blobs: ${mib(r.bytes)} on disk, ${r.records} records, ${r.removedRecords} dead holding ${mib(r.removedBytes)}${dead}; ${r.blobsWanting} blob(s) want defragmentation\n` +
      `  last run: started ${when(r.lastStart)}, completed ${when(r.lastCompletion)}, status ${r.lastStatus === 0 ? 'ok' : `${errnoName(r.lastStatus)} (${r.lastStatus})`}\n`,
  );
}

async function control(conn: Connection, args: DefragArgs): Promise<void> {
  const command = args.action === 'stop' ? BackendCommand.STOP_DEFRAG : BackendCommand.START_DEFRAG;
  const defragLevel = args.action === 'compact' ? DefragLevel.COMPACT : DefragLevel.FULL;
  const r = backendControlRequest({ backendId: args.backend, command, defragLevel, delay: 0, ids: [] });
  const status = lastStatus(await conn.request(r.header, r.payload));
  if (status === Errno.EALREADY) {
    fail(args.action === 'stop' ? `backend ${args.backend}: no defragmentation is running` : `backend ${args.backend}: a defragmentation is already running`);
  }
  if (status === Errno.ENOTSUP) fail(`backend ${args.backend} is disabled (enable it first) or cannot defragment`);
  if (status === Errno.EINVAL) fail(`the node refused: no backend ${args.backend} (--backend) or an unknown level`);
  if (status !== 0) fail(`the node answered ${errnoName(status)} (${status})`);
  if (!args.json) process.stdout.write(args.action === 'stop' ? `backend ${args.backend}: stop requested\n` : `backend ${args.backend}: ${args.action === 'compact' ? 'compaction' : 'defragmentation'} started\n`);
}

async function waitDone(conn: Connection, args: DefragArgs): Promise<DefragReport> {
  const until = Date.now() + args.timeout * 1000;
  for (;;) {
    const r = await report(conn, args.backend);
    if (r.defragState === DefragState.NOT_STARTED) return r;
    if (Date.now() > until) fail(`backend ${args.backend} still defragmenting after ${args.timeout} s (--timeout)`);
    await new Promise((res) => setTimeout(res, 250));
  }
}

export const defragCommand: CommandModule<object, DefragArgs> = {
  command: 'defrag <action>',
  describe: 'Start, compact, stop or show the defragmentation of one backend of a storage node',
  builder: (y) =>
    y
      .positional('action', { choices: ['start', 'compact', 'stop', 'status'] as const, demandOption: true, describe: 'start: every blob holding dead records; compact: the blobs past defrag-percentage' })
      .option('remote', { alias: 'r', type: 'string', demandOption: true, describe: 'the storage node, host:port or host:port:family' })
      .option('backend', { alias: 'b', type: 'number', demandOption: true, describe: 'backend id on that node' })
      .option('wait', { alias: 'w', type: 'boolean', describe: 'with start/compact/stop: wait until the run has ended, then print the status' })
      .option('timeout', { type: 'number', default: 3600, describe: 'seconds --wait waits at most' })
      .option('json', { type: 'boolean', describe: 'print the status as one JSON line' })
      .example('$0 defrag status -r 127.0.0.1:1025 -b 1', 'dead bytes, blobs wanting defragmentation, the last run')
      .example('$0 defrag compact -r 127.0.0.1:1025 -b 1 --wait', 'compact the blobs past defrag-percentage and wait for the end'),
  handler: async (args) => {
    let endpoint;
    try {
      endpoint = parseEndpoint(args.remote);
    } catch (err) {
      fail(`--remote: ${(err as Error).message}`, 2);
    }
    if (!Number.isInteger(args.backend) || args.backend < 0) fail(`--backend must be a backend id (a whole number), not ${args.backend}`, 2);
    let conn: Connection;
    try {
      conn = await Connection.open(endpoint.host, endpoint.port, { maxFrame: 64 * 1024 * 1024, timeoutMs: 30_000 });
      await conn.handshake(VERSION_2_26);
    } catch (err) {
      fail(`cannot reach the storage node at ${args.remote} (--remote): ${(err as Error).message}`);
    }
    try {
      if (args.action !== 'status') await control(conn, args);
      if (args.action === 'status' || args.wait) printReport(args.wait ? await waitDone(conn, args) : await report(conn, args.backend), args.json ?? false);
    } catch (err) {
      fail(err instanceof EllipticsError ? `${args.remote}: ${err.message}` : (err as Error).message);
    } finally {
      conn.destroy();
    }
  },
};
