// The `proxy` section (spec §14.2) plus our documented additions (DESIGN §5). Everything a worker
// reads per request lives here; it travels to the workers inside every snapshot.

import os from 'node:os';
import path from 'node:path';
import { formatEndpoint, parseEndpoint, type Endpoint } from '../elliptics/protocol/addr.js';
import { ConfigError, Section } from './reader.js';

export type WriteQuorum = 'any' | 'majority' | 'all';

/** How many of a bucket's `groups` must store an object under `quorum` (at least one). */
export function quorumNeeds(quorum: WriteQuorum, groups: number): number {
  return Math.max(1, quorum === 'all' ? groups : quorum === 'majority' ? Math.floor(groups / 2) + 1 : 1);
}

export interface AdminCredential {
  user: string;
  token: string;
}

export interface ProxyConfig {
  address: Endpoint;
  httpsAddress: Endpoint | undefined;
  certFile: string;
  keyFile: string;
  /** Seconds a connection may stay silent (headers, body, keep-alive) before it is closed. */
  idleTimeout: number;
  freeSpaceRatioSoft: number;
  freeSpaceRatioHard: number;
  bucketUpdateInterval: number;
  bucketStatUpdateInterval: number;
  redirectPort: number;
  redirectToken: string;
  redirectSignatureTimeout: number;
  redirectRoot: string;
  /** Added to every reply, errors included. */
  headers: Record<string, string>;
  /** Static file root ("" refuses static files). */
  root: string;
  /** Key suffix → Content-Type for /get/. */
  contentTypes: Record<string, string>;
  readerIoFlags: number;
  writerIoFlags: number;
  disableConfigUpdateForSeconds: number;
  // ---- ours
  workers: number;
  writeQuorum: WriteQuorum;
  /** Signs requests to the control endpoints; unset → they answer 403. */
  admin: AdminCredential | undefined;
  /** Largest /upload/ body when the bucket sets no max-size (0: no limit). */
  maxBodySize: number;
  /** Largest body of bulk_delete and update_local_config. */
  maxJsonBody: number;
  /** Seconds each storage step of an upload, delete or lookup may take in one group (the original waited 100 s). */
  writeAttemptTimeout: number;
  /** Seconds a whole read may take, every group tried (the original's 30 s). */
  readTimeout: number;
  /** Seconds one group may take to answer a read before the next group is tried. */
  readAttemptTimeout: number;
  /** Seconds a draining worker waits for requests in flight on SIGTERM. */
  shutdownTimeout: number;
  /** io-flags / cflags a client may set through ?ioflags= / ?cflags= (DESIGN §4.10). */
  allowedIoFlags: number;
  allowedCflags: number;
  /** Every signed request needs X-Ell-Date (and uploads X-Ell-Content-SHA256), not only strict buckets'. */
  strictSignatures: boolean;
  /** Seconds X-Ell-Date may differ from the proxy's clock under strict signatures. */
  signatureSkew: number;
  /** A write or delete that missed a group under the quorum becomes a hint, replayed when the group is back. */
  hintedHandoff: boolean;
  /** Where the primary keeps the hint journal ("": the embedded node's directory + /hints, else var/hints). */
  hintsDir: string;
  /** Most hints kept; beyond, new ones are dropped with an error that points at `backrunner recover`. */
  hintLimit: number;
  /** Bytes per second hint replays may copy. */
  hintReplayRate: number;
  /** Objects up to this size that a GET found missing or damaged in a group are rewritten there (0: no read-repair). */
  readRepairMaxSize: number;
  /** Seconds after which a healthy bucket no automatic upload went to gets one, to be measured again (0: never). */
  selectionProbeInterval: number;
  /** Requests on the storage routes one worker serves at once; more get 503 + Retry-After. */
  maxRequestsInFlight: number;
  /** Upload body bytes one worker holds at once (each upload charged min(Content-Length, 5 MiB)). */
  maxUploadBytesInFlight: number;
  /** Read buffers one worker holds at once (each GET charged up to two 1 MiB read chunks). */
  maxReadBytesInFlight: number;
  /** Reads of the embedded node take the bytes from its blob files (FlagsHigh.LOCATE) instead of its socket. */
  localReads: boolean;
}

/** NOCSUM (256) | MIX_STATES (65536) | CACHE (1024) | CACHE_ONLY (2048). */
export const DEFAULT_ALLOWED_IOFLAGS = 0x100 | 0x10000 | 0x400 | 0x800;
/** NOCACHE (0x40) | TRACE_BIT (0x100): harmless ones; CHECKSUM, NOLOCK, DIRECT, … are refused. */
export const DEFAULT_ALLOWED_CFLAGS = 0x40 | 0x100;

/** The `proxy` section of a JSON document given whole (/update_local_config/); throws SyntaxError or ConfigError. */
export function parseProxyConfigText(text: string, source: string, warnings?: string[]): ProxyConfig {
  return parseProxyConfig(Section.root(JSON.parse(text)).section('proxy', true), source, warnings);
}

/** Validates the `proxy` section; keys nothing reads are added to `warnings` when given. */
export function parseProxyConfig(s: Section | undefined, file: string, warnings?: string[]): ProxyConfig {
  const config = readProxySection(s, file);
  warnings?.push(...s!.unknownKeys().map((k) => `unknown key ${k} ignored`));
  return config;
}

function readProxySection(s: Section | undefined, file: string): ProxyConfig {
  if (!s) throw new ConfigError('proxy', 'is required (at least "proxy": {"address": "host:port"})', file);
  const baseDir = path.dirname(path.resolve(file));
  const address = endpoint(s, 'address', true)!;
  const httpsAddress = endpoint(s, 'https_address', false);
  const certFile = s.string('cert_file', '');
  const keyFile = s.string('key_file', '');
  if (httpsAddress && (!certFile || !keyFile)) s.fail(certFile ? 'key_file' : 'cert_file', 'is required when https_address is set');
  if (httpsAddress && httpsAddress.host === address.host && httpsAddress.port === address.port) {
    s.fail('https_address', `is the same as address (${formatEndpoint(address)})`);
  }
  const soft = s.number('free-space-ratio-soft', { def: 0, min: 0, max: 1 });
  const hard = s.number('free-space-ratio-hard', { def: 0, min: 0, max: 1 });
  const quorum = s.string('write-quorum', 'any');
  if (quorum !== 'any' && quorum !== 'majority' && quorum !== 'all') s.fail('write-quorum', `must be "any", "majority" or "all", got "${quorum}"`);
  const adminSection = s.section('admin');
  let admin: AdminCredential | undefined;
  if (adminSection) {
    const user = adminSection.string('user');
    const token = adminSection.string('token');
    if (user === '' || /[\s:]/.test(user)) adminSection.fail('user', 'must be a non-empty name without spaces or ":"');
    if (token.length < 16) adminSection.fail('token', 'must be at least 16 characters');
    admin = { user, token };
  }
  const root = s.string('root', '');
  return {
    address,
    httpsAddress,
    certFile: certFile && path.resolve(baseDir, certFile),
    keyFile: keyFile && path.resolve(baseDir, keyFile),
    idleTimeout: s.int('idle-timeout', { def: 60, min: 0 }),
    freeSpaceRatioSoft: soft,
    freeSpaceRatioHard: hard,
    bucketUpdateInterval: s.int('bucket-update-interval', { def: 30 }),
    bucketStatUpdateInterval: s.int('bucket-stat-update-interval', { def: 5 }),
    redirectPort: s.int('redirect-port', { def: 0 }),
    redirectToken: s.string('redirect-token', ''),
    redirectSignatureTimeout: s.int('redirect-signature-timeout', { def: 60, min: 0 }),
    redirectRoot: s.string('redirect-root', ''),
    headers: s.stringMap('headers'),
    root: root && path.resolve(baseDir, root),
    contentTypes: s.stringMap('content-types'),
    readerIoFlags: s.int('reader-io-flags', { def: 0, min: 0, max: 0xffff_ffff }),
    writerIoFlags: s.int('writer-io-flags', { def: 0, min: 0, max: 0xffff_ffff }),
    disableConfigUpdateForSeconds: s.int('disable-config-update-for-seconds', { def: 0, min: 0 }),
    workers: s.int('workers', { def: 0, min: 0, max: 256 }) || os.availableParallelism(),
    writeQuorum: quorum as WriteQuorum,
    admin,
    maxBodySize: s.int('max-body-size', { def: 0, min: 0 }),
    maxJsonBody: s.int('max-json-body', { def: 10 * 1024 * 1024, min: 1024 }),
    // `upload-timeout` is the name an earlier version used for the same deadline.
    writeAttemptTimeout: s.int('write-attempt-timeout', { def: s.has('upload-timeout') ? s.int('upload-timeout', { positive: true }) : 10, positive: true }),
    readTimeout: s.int('read-timeout', { def: 30, positive: true }),
    readAttemptTimeout: s.int('read-attempt-timeout', { def: 3, positive: true }),
    shutdownTimeout: s.int('shutdown-timeout', { def: 30, min: 0 }),
    allowedIoFlags: s.int('allowed-ioflags', { def: DEFAULT_ALLOWED_IOFLAGS, min: 0, max: 0xffff_ffff }),
    allowedCflags: s.int('allowed-cflags', { def: DEFAULT_ALLOWED_CFLAGS, min: 0, max: 0xffff_ffff }),
    strictSignatures: s.bool('strict-signatures', false),
    signatureSkew: s.int('signature-skew', { def: 300, positive: true }),
    hintedHandoff: s.bool('hinted-handoff', true),
    hintsDir: ((dir) => dir && path.resolve(baseDir, dir))(s.string('hints-dir', '')),
    hintLimit: s.int('hint-limit', { def: 1_000_000, min: 1 }),
    hintReplayRate: Math.round(s.number('hint-replay-rate', { def: 20, min: 0.01 }) * 1e6),
    readRepairMaxSize: s.int('read-repair-max-size', { def: 16 * 1024 * 1024, min: 0 }),
    selectionProbeInterval: s.int('selection-probe-interval', { def: 60, min: 0 }),
    maxRequestsInFlight: s.int('max-requests-in-flight', { def: 2048, min: 1 }),
    maxUploadBytesInFlight: s.int('max-upload-bytes-in-flight', { def: 128 * 1024 * 1024, min: 1024 * 1024 }),
    maxReadBytesInFlight: s.int('max-read-bytes-in-flight', { def: 256 * 1024 * 1024, min: 2 * 1024 * 1024 }),
    localReads: s.bool('local-reads', true),
  };
}

function endpoint(s: Section, key: string, required: boolean): Endpoint | undefined {
  const text = required ? s.string(key) : s.string(key, '');
  if (text === '') {
    if (required) s.fail(key, 'is required (host:port to listen on)');
    return undefined;
  }
  try {
    return parseEndpoint(text, { allowPortZero: true });
  } catch (err) {
    return s.fail(key, (err as Error).message);
  }
}
