// The storage node's config file (`backrunner node --config node.json`):
//
//   {"address": "127.0.0.1:1025", "remotes": ["127.0.0.1:1026"],
//    "backends": [{"id": 1, "group": 1, "dir": "var/node1/b1"},
//                 {"id": 2, "group": 2, "dir": "var/node1/b2", "blob-size-limit": 104857600}],
//    "sync": 1, "max-frame": 104857600}
//
// Per backend also: "blob-size", "read-only", "delay", "defrag-percentage" (dead bytes of a blob, in
// %, that make it worth compacting), "defrag-timeout" (seconds between automatic checks, 0 = off),
// "defrag-rate-limit" (bytes per second a compaction copies, 0 = no limit),
// "index-snapshot-interval" (seconds between index snapshots, 0 = only at a clean stop),
// "tombstone-ttl" (seconds a removal is remembered to order it against other groups' writes, 0 = for ever),
// "free-space-reserve" (filesystem bytes writes leave free for compaction and removals, 0 = none).

import { isIP } from 'node:net';
import path from 'node:path';
import type { Endpoint } from '../elliptics/protocol/addr.js';
import { embeddedNodeDocument, type EmbeddedConfig, type EmbeddedRedirect } from '../config/backrunner-config.js';
import { readJsonFile, Section, withConfigFile } from '../config/reader.js';
import { syncPolicy, type SyncPolicy } from '../config/sync-policy.js';
import { DEFAULT_FREE_SPACE_RESERVE, DEFAULT_TOMBSTONE_TTL, DEFRAG_DEFAULTS, type BackendOptions } from './engine/backend.js';
import { LOG_LEVEL_NAMES, type LogOptions } from '../util/logger.js';

export interface NodeConfig {
  /** The address clients dial; advertised verbatim in the handshake, so it must be a numeric IP. */
  address: Endpoint;
  /** Where to bind, when it differs from `address` (e.g. 0.0.0.0 behind NAT). */
  listen: Endpoint;
  /** Also listens on this Unix-domain socket (clients on the same host: the proxy's workers). */
  unixSocket: string | undefined;
  remotes: Endpoint[];
  backends: BackendOptions[];
  sync: SyncPolicy;
  maxFrame: number;
  /** Cookie sent in AUTH to peers and expected from them ("" accepts any). */
  authCookie: string;
  /** Seconds between route-list refreshes and reconnects of peers. */
  checkInterval: number;
  logLevel: string;
  /** Appended to; standard output when unset. */
  logFile: string | undefined;
  /** Warnings for the operator (unknown keys). */
  warnings: string[];
  /** The HTTP listener that serves the targets of the proxy's /redirect/ (undefined: none). */
  redirect: RedirectTargetConfig | undefined;
}

export interface RedirectTargetConfig {
  /** Where it listens. */
  listen: Endpoint;
  /** The proxy's redirect-token: the key of the signatures it checks. */
  token: string;
  /** The proxy's redirect-root: what the proxy strips off blob paths, put back here ("" = none). */
  root: string;
}

/** sun_path is 108 bytes on Linux, the terminating zero included. */
export const MAX_SOCKET_PATH = 107;

export const NODE_DEFAULTS = {
  blobSize: 1024 * 1024 * 1024,
  maxFrame: 100 * 1024 * 1024,
  checkInterval: 30,
  verifyTtl: 10,
} as const;

export function loadNodeConfig(file: string): NodeConfig {
  return withConfigFile(file, () => parseNodeConfig(readJsonFile(file), path.dirname(path.resolve(file))));
}

/** Validates a node config object; relative backend dirs resolve against `baseDir`. */
export function parseNodeConfig(value: unknown, baseDir: string): NodeConfig {
  const root = Section.root(value, 'node config');
  const address = root.endpoint('address', { allowPortZero: true }); // port 0: any free port (tests)
  if (!isIP(address.host)) root.fail('address', `must be a numeric IP address (it is advertised to clients verbatim), got "${address.host}"`);
  const listen = root.has('listen') ? root.endpoint('listen', { allowPortZero: true }) : address;
  const remotes = root.endpointArray('remotes', []);
  const sync = syncPolicy(root);
  const maxFrame = root.int('max-frame', { def: NODE_DEFAULTS.maxFrame, min: 4096 });
  const verifyTtl = root.int('verify-ttl', { def: NODE_DEFAULTS.verifyTtl, min: 0 });
  const backendSections = root.sections('backends');
  if (backendSections.length === 0) root.fail('backends', 'must list at least one backend');
  const backends: BackendOptions[] = [];
  const warnings: string[] = [];
  for (const b of backendSections) {
    const id = b.int('id', { positive: true });
    const group = b.int('group', { positive: true, max: 0xffff_ffff });
    const dir = b.string('dir');
    if (dir === '') b.fail('dir', 'must not be empty');
    const earlier = backends.findIndex((o) => o.id === id);
    if (earlier >= 0) b.fail('id', `backend id ${id} is already used by backends[${earlier}]`);
    const sameGroup = backends.findIndex((o) => o.group === group);
    if (sameGroup >= 0) b.fail('group', `group ${group} is already served by backends[${sameGroup}]`);
    const resolved = path.resolve(baseDir, dir);
    const sameDir = backends.findIndex((o) => o.dir === resolved);
    if (sameDir >= 0) b.fail('dir', `directory ${resolved} is already used by backends[${sameDir}]`);
    backends.push({
      id,
      group,
      dir: resolved,
      blobSize: b.int('blob-size', { def: NODE_DEFAULTS.blobSize, min: 4096 }),
      blobSizeLimit: b.int('blob-size-limit', { def: 0, min: 0 }),
      sync,
      readOnly: b.bool('read-only', false),
      delay: b.int('delay', { def: 0, min: 0, max: 0xffff_ffff }),
      verifyTtl,
      defragPercentage: b.int('defrag-percentage', { def: DEFRAG_DEFAULTS.percentage, min: 1, max: 100 }),
      defragTimeout: b.int('defrag-timeout', { def: DEFRAG_DEFAULTS.timeout, min: 0 }),
      defragRateLimit: b.int('defrag-rate-limit', { def: 0, min: 0 }),
      snapshotInterval: b.int('index-snapshot-interval', { def: DEFRAG_DEFAULTS.snapshotInterval, min: 0 }),
      tombstoneTtl: b.int('tombstone-ttl', { def: DEFAULT_TOMBSTONE_TTL, min: 0 }),
      freeSpaceReserve: b.int('free-space-reserve', { def: DEFAULT_FREE_SPACE_RESERVE, min: 0 }),
    });
    warnings.push(...b.unknownKeys().map((k) => `unknown key ${k} ignored`));
  }
  const config: NodeConfig = {
    address,
    listen,
    unixSocket: unixSocketIn(root, baseDir),
    remotes,
    backends,
    sync,
    maxFrame,
    authCookie: root.string('auth-cookie', ''),
    checkInterval: root.int('check-interval', { def: NODE_DEFAULTS.checkInterval, positive: true }),
    logLevel: root.choice('log-level', LOG_LEVEL_NAMES, 'info'),
    logFile: logFileIn(root, baseDir),
    warnings,
    redirect: redirectIn(root.section('redirect')),
  };
  warnings.unshift(...root.unknownKeys().map((k) => `unknown key ${k} ignored`));
  return config;
}

/** `"unix-socket": "node.sock"` (relative to the config file's folder); the kernel allows ~107 bytes of path. */
function unixSocketIn(root: Section, baseDir: string): string | undefined {
  if (!root.has('unix-socket')) return undefined;
  const file = path.resolve(baseDir, root.string('unix-socket'));
  if (Buffer.byteLength(file) > MAX_SOCKET_PATH) root.fail('unix-socket', `the path ${file} is longer than the ${MAX_SOCKET_PATH} bytes a Unix socket may have: choose a shorter one`);
  return file;
}

/** `"redirect": {"address": "0.0.0.0:8080", "token": "…", "root": "/srv"}`: the redirect target listener. */
function redirectIn(s: Section | undefined): RedirectTargetConfig | undefined {
  if (!s) return undefined;
  const listen = s.endpoint('address');
  const token = s.string('token');
  if (token === '') s.fail('token', 'must be the proxy\'s redirect-token (signatures cannot be checked without it)');
  const root = s.string('root', '');
  if (root !== '' && !root.startsWith('/')) s.fail('root', `must be an absolute path (the proxy's redirect-root), got "${root}"`);
  return { listen, token, root };
}

function logFileIn(s: Section, baseDir: string): string | undefined {
  const f = s.optionalString('log-file');
  return f ? path.resolve(baseDir, f) : undefined;
}

/** The node config the proxy's `embedded` section stands for (the document the primary writes for it). */
export function embeddedNodeConfig(e: EmbeddedConfig, maxFrame: number, log: LogOptions, redirect?: EmbeddedRedirect): NodeConfig {
  return parseNodeConfig(embeddedNodeDocument(e, maxFrame, log, e.address.port, redirect), e.dir);
}
