// The per-request state handlers work with: decoded path and parameters, query, caller, trace id,
// the access decision, a storage session for a bucket, and the fields of the access-log line.

import { randomBytes } from 'node:crypto';
import { checkAccess, parseAuthorization, type Access, type Caller, type StrictSignatures } from '../buckets/acl.js';
import type { BucketMeta } from '../buckets/metadata.js';
import { parseQuery, type SignedRequest } from '../buckets/signature.js';
import type { GroupResult } from '../elliptics/group-result.js';
import { Session } from '../elliptics/session.js';
import { HttpError } from './errors.js';
import { BodyTooLarge, type Exchange } from './http/exchange.js';
import { parseUint } from './http/numbers.js';
import type { WorkerContext } from './worker-context.js';

const NO_QUERY: ReadonlyMap<string, string> = new Map();

export class Request {
  private parsedQuery: ReadonlyMap<string, string> | undefined;
  private parsedCaller: Caller | undefined;
  private trace: bigint | undefined;
  params: string[] = [];
  handler = '/';
  // Access-log fields.
  bucket: string | undefined;
  key: string | undefined;
  groupsOk: number[] = [];
  groupsFailed: number[] = [];
  error: string | undefined;
  /** The access check ran under strict signatures: an upload must carry X-Ell-Content-SHA256. */
  strict = false;

  constructor(
    readonly ex: Exchange,
    readonly ctx: WorkerContext,
    readonly signPath: string,
    readonly path: string,
  ) {}

  // Parsed on first use: a plain GET needs neither its query nor its caller parsed twice.
  get query(): ReadonlyMap<string, string> {
    return (this.parsedQuery ??= this.ex.rawQuery === '' ? NO_QUERY : parseQuery(this.ex.rawQuery));
  }

  get caller(): Caller {
    return (this.parsedCaller ??= parseAuthorization(this.ex.header('authorization')));
  }

  get traceId(): bigint {
    return (this.trace ??= traceIdOf(this.ex.header('x-request'), this.query.get('trace_id')));
  }

  get signed(): SignedRequest {
    return { method: this.ex.method, signPath: this.signPath, rawQuery: this.ex.rawQuery, headers: this.ex.headerList };
  }

  /** Strict-signature rules of the current config. */
  get strictPolicy(): StrictSignatures {
    const c = this.ctx.config;
    return { always: c.strictSignatures, skewSeconds: c.signatureSkew };
  }

  /** 403 unless the caller may `access` the bucket; the reason goes to the log, not to the client. */
  requireAccess(bucket: BucketMeta, access: Access): void {
    const d = checkAccess(bucket, this.caller, access, this.signed, this.strictPolicy);
    if (!d.allowed) this.forbid(d.reason, bucket.name);
    this.strict = d.strict;
  }

  /** A bare 403; `why` goes to the log only. */
  forbid(why: string, bucket?: string): never {
    this.ctx.log.info({ trace: this.traceId.toString(16), user: this.caller.user, bucket, why }, 'access denied');
    throw new HttpError(403, 'forbidden');
  }

  /**
   * The bucket and key of `/<handler>/<bucket>/<key>`, both noted for the access log, after the
   * caller's `access` to the bucket and the bucket's groups are checked.
   */
  async bucketAndKey(access: Access): Promise<{ bucket: BucketMeta; key: string }> {
    const [bucketName, key] = this.params as [string, string];
    this.key = key;
    return { bucket: await this.usableBucket(bucketName, access), key };
  }

  /** bucketAndKey without waiting, when the bucket is in the snapshot (the common case); else undefined. */
  knownBucketAndKey(access: Access): { bucket: BucketMeta; key: string } | undefined {
    const [bucketName, key] = this.params as [string, string];
    const bucket = this.ctx.knownBucket(bucketName);
    if (!bucket) return undefined;
    this.key = key;
    return { bucket: this.checkedBucket(bucket, access), key };
  }

  private checkedBucket(bucket: BucketMeta, access: Access): BucketMeta {
    this.bucket = bucket.name;
    this.requireAccess(bucket, access);
    if (bucket.groups.length === 0) throw new HttpError(400, `${bucket.name}: bucket has no groups`);
    return bucket;
  }

  /** A bucket (noted for the access log) the caller may `access` and the proxy can do I/O with. */
  async usableBucket(name: string, access: Access): Promise<BucketMeta> {
    return this.checkedBucket(this.ctx.knownBucket(name) ?? (await this.ctx.bucket(name)), access);
  }

  /** A small request body (JSON documents), at most `proxy.max-json-body` bytes, else 413. */
  async smallBody(what: string): Promise<Buffer> {
    try {
      return await this.ex.acceptBody().readAll(this.ctx.config.maxJsonBody);
    } catch (err) {
      if (err instanceof BodyTooLarge) throw new HttpError(413, `${what}: ${err.message}`);
      throw err;
    }
  }

  /** Command flags a client may set (`?cflags=`), limited to the whitelist. */
  get cflags(): number {
    const v = this.query.get('cflags');
    const n = v === undefined ? undefined : parseUint(v, 64);
    return n === undefined ? 0 : Number(n & BigInt(this.ctx.config.allowedCflags));
  }

  /** I/O flags a client may add on /get/ (`?ioflags=`), limited to the whitelist. */
  get queryIoFlags(): number {
    const v = this.query.get('ioflags');
    const n = v === undefined ? undefined : parseUint(v, 32);
    return n === undefined ? 0 : Number(n) & this.ctx.config.allowedIoFlags;
  }

  /** A session for `bucket`: its groups (or `groups`), this request's flags and trace id, the deadlines given. */
  session(bucket: BucketMeta, opts: { ioFlags: number; timeoutSeconds?: number; attemptSeconds?: number; groups?: readonly number[] }): Session {
    return new Session(this.ctx.cluster, {
      namespace: bucket.name,
      groups: opts.groups ?? bucket.groups,
      ioFlags: opts.ioFlags,
      cflags: this.cflags,
      traceId: this.traceId,
      ...(opts.timeoutSeconds ? { timeoutMs: opts.timeoutSeconds * 1000 } : {}),
      ...(opts.attemptSeconds ? { attemptTimeoutMs: opts.attemptSeconds * 1000 } : {}),
      // Reads never serve a replica that missed an acknowledged state, nor a copy older than a removal.
      removalTimes: true,
      stale: this.ctx.stale,
      localNode: this.ctx.localNode,
      localFiles: this.ctx.localFiles,
    });
  }

  /** Remembers which groups succeeded and failed, for the access log. */
  noteGroups(results: readonly GroupResult[]): void {
    this.groupsOk = results.filter((r) => r.status === 0).map((r) => r.group);
    this.groupsFailed = results.filter((r) => r.status !== 0).map((r) => r.group);
  }
}

/** A random 63-bit base per process plus a counter: unique ids without a syscall per request. */
const TRACE_BASE = randomBytes(8).readBigUInt64LE(0) & 0x7fff_ffff_0000_0000n;
let traceCounter = 0;

/** X-Request, overridden by ?trace_id= (C-style unsigned 64-bit); else a fresh 63-bit id. */
function traceIdOf(header: string | undefined, query: string | undefined): bigint {
  for (const v of [query, header]) {
    if (v === undefined || v === '') continue;
    const n = parseUint(v, 64);
    if (n !== undefined) return n;
  }
  traceCounter = (traceCounter + 1) >>> 0;
  return TRACE_BASE | BigInt(traceCounter);
}
