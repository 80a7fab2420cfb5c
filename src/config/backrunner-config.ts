// The Backrunner config file: the original's `elliptics` and `proxy` sections (spec §14, keys
// matched case-insensitively as Go did), plus our documented additions and the `embedded` section
// that describes the built-in storage node.

import path from 'node:path';
import { formatEndpoint, type Endpoint } from '../elliptics/protocol/addr.js';
import { parseVersion, type ProtocolVersion } from '../elliptics/protocol/index.js';
import { readJsonFile, Section, withConfigFile } from './reader.js';
import { syncPolicy, type SyncPolicy } from './sync-policy.js';
import { LOG_LEVEL_NAMES, type LogOptions } from '../util/logger.js';

export interface EllipticsConfig {
  /** Log file (append); undefined: standard output. */
  logFile: string | undefined;
  /** One of LOG_LEVEL_NAMES (the original's error, warning, info, notice, debug, or pino's). */
  logLevel: string;
  logPrefix: string;
  remotes: Endpoint[];
  metadataGroups: number[];
  bucketListKey: string;
  backrunnerConfigKey: string;
  protocolVersion: ProtocolVersion;
  poolSize: number;
  /** Transactions one process may have waiting on one node; more fail at once with -EBUSY (503). */
  maxPendingPerNode: number;
  /** Per-transaction deadline of background and default operations. */
  waitTimeoutMs: number;
  /** Period of route-list refreshes and reconnects. */
  checkIntervalMs: number;
  maxFrame: number;
}

export interface EmbeddedConfig {
  /** Where the node keeps its backends (`<dir>/b<id>-g<group>`). */
  dir: string;
  address: Endpoint;
  groups: number[];
  blobSizeLimit: number;
  sync: SyncPolicy;
  /**
   * Dead bytes (%) that make a blob worth compacting, and seconds between automatic checks (0 = off);
   * unset: the storage node's defaults.
   */
  defragPercentage: number | undefined;
  defragTimeout: number | undefined;
  /** Filesystem bytes writes leave free for compaction (node config free-space-reserve); unset: the node's default. */
  freeSpaceReserve: number | undefined;
  /** Size at which a blob file is closed for appends (node config blob-size); unset: the node's default. */
  blobSize: number | undefined;
  /**
   * Bucket definitions uploaded when the metadata is missing (bmeta's upload format), as written:
   * the primary reads them with the bucket layer's parser (parseEmbeddedBuckets).
   */
  bucketDefinitions: unknown;
}

export interface BackrunnerConfig {
  file: string;
  /** The file's JSON document (a stored config is combined with it, see stored-config.ts). */
  doc: Record<string, unknown>;
  elliptics: EllipticsConfig;
  embedded: EmbeddedConfig | undefined;
  /** The raw `proxy` section, parsed by the proxy itself. */
  proxy: Section | undefined;
  warnings: string[];
}

export const ELLIPTICS_DEFAULTS = {
  protocolVersion: '2.26',
  poolSize: 2,
  maxPendingPerNode: 4096,
  waitTimeout: 60,
  checkTimeout: 30,
  maxFrame: 110 * 1024 * 1024,
} as const;

export function loadBackrunnerConfig(file: string): BackrunnerConfig {
  return withConfigFile(file, () => parseBackrunnerConfig(readJsonFile(file), file));
}

export function parseBackrunnerConfig(doc: unknown, file: string): BackrunnerConfig {
  const root = Section.root(doc, 'Backrunner config');
  const baseDir = path.dirname(path.resolve(file));
  const embeddedSection = root.section('embedded');
  const embedded = embeddedSection ? parseEmbedded(embeddedSection, baseDir) : undefined;
  const ell = root.section('elliptics', true)!;
  const elliptics = parseElliptics(ell, embedded, baseDir);
  const proxy = root.section('proxy');
  const warnings = [...root.unknownKeys(), ...ell.unknownKeys(), ...(embeddedSection?.unknownKeys() ?? [])].map((k) => `unknown key ${k} ignored`);
  return { file, doc: doc as Record<string, unknown>, elliptics, embedded, proxy, warnings };
}

function parseElliptics(s: Section, embedded: EmbeddedConfig | undefined, baseDir: string): EllipticsConfig {
  const remotes = s.endpointArray('remote', embedded ? [formatEndpoint(embedded.address)] : undefined);
  if (remotes.length === 0) s.fail('remote', 'must list at least one storage node (host:port:family)');
  const metadataGroups = s.intArray('metadata-groups', { positive: true, ...(embedded ? { def: embedded.groups.slice(0, 2) } : {}) });
  if (metadataGroups.length === 0) s.fail('metadata-groups', 'must list at least one group');
  const versionText = s.string('protocol-version', ELLIPTICS_DEFAULTS.protocolVersion);
  const protocolVersion = parseVersion(versionText);
  if (!protocolVersion || !((protocolVersion[0] === 2 && protocolVersion[1] === 26) || (protocolVersion[0] === 3 && protocolVersion[1] === 0))) {
    s.fail('protocol-version', `must be "2.26" or "3.0" (or a full version such as "3.0.0.1"), got "${versionText}"`);
  }
  const nodeConfig = s.section('node-config');
  const logFile = s.optionalString('log-file');
  return {
    logFile: logFile ? path.resolve(baseDir, logFile) : undefined,
    logLevel: s.choice('log-level', LOG_LEVEL_NAMES, 'info'),
    logPrefix: s.string('log-prefix', ''),
    remotes,
    metadataGroups,
    bucketListKey: s.string('bucket-list-key', ''),
    backrunnerConfigKey: s.string('backrunner-config-key', ''),
    protocolVersion,
    poolSize: s.int('pool-size', { def: ELLIPTICS_DEFAULTS.poolSize, min: 1, max: 64 }),
    maxPendingPerNode: s.int('max-pending-per-node', { def: ELLIPTICS_DEFAULTS.maxPendingPerNode, min: 16 }),
    waitTimeoutMs: (nodeConfig?.int('wait-timeout', { def: ELLIPTICS_DEFAULTS.waitTimeout, positive: true }) ?? ELLIPTICS_DEFAULTS.waitTimeout) * 1000,
    checkIntervalMs: (nodeConfig?.int('check-timeout', { def: ELLIPTICS_DEFAULTS.checkTimeout, positive: true }) ?? ELLIPTICS_DEFAULTS.checkTimeout) * 1000,
    maxFrame: s.int('max-frame', { def: ELLIPTICS_DEFAULTS.maxFrame, min: 1024 * 1024 }),
  };
}

function parseEmbedded(s: Section, baseDir: string): EmbeddedConfig {
  const dir = s.string('dir', 'var/embedded');
  const address = s.endpoint('address', { def: '127.0.0.1:1025', allowPortZero: true });
  const groups = s.intArray('groups', { def: [1, 2, 3, 4, 5, 6], positive: true });
  if (groups.length === 0) s.fail('groups', 'must list at least one group');
  if (new Set(groups).size !== groups.length) s.fail('groups', 'lists a group twice');
  const sync = syncPolicy(s);
  return {
    dir: path.resolve(baseDir, dir),
    address,
    groups,
    blobSizeLimit: s.int('blob-size-limit', { def: 0, min: 0 }),
    sync,
    defragPercentage: s.has('defrag-percentage') ? s.int('defrag-percentage', { min: 1, max: 100 }) : undefined,
    defragTimeout: s.has('defrag-timeout') ? s.int('defrag-timeout', { min: 0 }) : undefined,
    freeSpaceReserve: s.has('free-space-reserve') ? s.int('free-space-reserve', { min: 0 }) : undefined,
    blobSize: s.has('blob-size') ? s.int('blob-size', { min: 4096 }) : undefined,
    bucketDefinitions: s.raw('buckets'),
  };
}

/** Where and how every process of a proxy logs (`elliptics.log-file`, `log-level`, `log-prefix`). */
export function logOptions(e: EllipticsConfig): LogOptions {
  return { level: e.logLevel, file: e.logFile, prefix: e.logPrefix };
}

/** The proxy's redirect settings the embedded node serves: `redirect-port`, `redirect-token`, `redirect-root`. */
export interface EmbeddedRedirect {
  port: number;
  token: string;
  root: string;
}

/** The embedded node's Unix socket, in its directory: the workers reach it there instead of over TCP. */
const EMBEDDED_SOCKET = 'node.sock';

/** Where the embedded node listens locally; undefined when the path is too long for a socket (TCP only then). */
export function embeddedSocket(e: EmbeddedConfig): string | undefined {
  const file = path.join(path.resolve(e.dir), EMBEDDED_SOCKET);
  return Buffer.byteLength(file) <= 107 ? file : undefined;
}

/**
 * The node config document (the file format of `backrunner node`) the `embedded` section stands
 * for: one node, one backend per group, in `b<id>-g<group>` under embedded.dir. The primary writes
 * it for the node it forks (`port`: the one a restarted node must listen on again).
 */
export function embeddedNodeDocument(e: EmbeddedConfig, maxFrame: number, log: LogOptions, port = e.address.port, redirect?: EmbeddedRedirect): Record<string, unknown> {
  return {
    // The proxy's redirect-port (with its token and root): the node serves what /redirect/ points at.
    ...(redirect && redirect.port > 0 && redirect.token !== '' ? { redirect: { address: formatEndpoint({ host: e.address.host, port: redirect.port }), token: redirect.token, root: redirect.root } } : {}),
    address: formatEndpoint({ host: e.address.host, port }),
    ...(embeddedSocket(e) ? { 'unix-socket': EMBEDDED_SOCKET } : {}),
    remotes: [],
    backends: e.groups.map((group, i) => ({
      id: i + 1,
      group,
      dir: `b${i + 1}-g${group}`,
      'blob-size-limit': e.blobSizeLimit,
      ...(e.defragPercentage !== undefined ? { 'defrag-percentage': e.defragPercentage } : {}),
      ...(e.defragTimeout !== undefined ? { 'defrag-timeout': e.defragTimeout } : {}),
      ...(e.freeSpaceReserve !== undefined ? { 'free-space-reserve': e.freeSpaceReserve } : {}),
      ...(e.blobSize !== undefined ? { 'blob-size': e.blobSize } : {}),
    })),
    sync: e.sync,
    'max-frame': maxFrame,
    'log-level': log.level ?? 'info',
    ...(log.file ? { 'log-file': log.file } : {}),
  };
}
