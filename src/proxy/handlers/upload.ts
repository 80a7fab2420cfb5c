// POST|PUT /upload/<bucket>/<key> and /nobucket_upload/<key> (spec backrunner.md §3.1–3.2, with
// DESIGN §4: 411 without Content-Length, bucket max-size → 413 before the body is read, the write
// quorum decides success, /nobucket_upload/ only picks buckets the caller may write to).

import type { BucketMeta } from '../../buckets/metadata.js';
import { checkAccess } from '../../buckets/acl.js';
import { checkGroup, pickBucket, type Candidate } from '../../buckets/selection.js';
import type { WriteQuorum } from '../../config/proxy-config.js';
import { EllipticsError } from '../../elliptics/errors.js';
import { Errno } from '../../elliptics/protocol/constants.js';
import type { GroupResult } from '../../elliptics/session.js';
import { keyToId } from '../../elliptics/protocol/key.js';
import { HttpError, storageHttpError } from '../errors.js';
import { ClientGone } from '../http/exchange.js';
import { BodyDigest, expectedDigests } from '../body-digest.js';
import { DEFAULT_WRITE_CHUNK } from '../../elliptics/object-writer.js';
import { parseContentLength } from '../http/numbers.js';
import { parseRange, RangeError_ } from '../http/ranges.js';
import { goJson, lookupResult } from '../replies.js';
import type { Request } from '../request.js';

/**
 * The body size: Content-Length, or — for a chunked body — `X-Ell-Content-Length`. uWebSockets.js
 * reads Content-Length as at most nine digits, so bodies of 10^9 bytes and more must come chunked
 * with their size in that header (an X-Ell-* header: a signed upload commits to its size).
 * Required and positive, within the bucket's and the proxy's limits.
 */
function uploadSize(req: Request, bucket: BucketMeta | undefined): number {
  const chunked = (req.ex.header('transfer-encoding') ?? '').toLowerCase().includes('chunked');
  const header = req.ex.header('content-length') ?? (chunked ? req.ex.header('x-ell-content-length') : undefined);
  if (header === undefined) throw new HttpError(411, 'upload: there is no Content-Length header (a chunked body needs X-Ell-Content-Length)');
  const size = parseContentLength(header);
  if (size === undefined) throw new HttpError(400, `upload: invalid content length: ${JSON.stringify(header)}`);
  if (size === 0) throw new HttpError(400, 'upload: attempting to perform invalid zero-length upload');
  const limit = bucket?.maxSize || req.ctx.config.maxBodySize;
  if (limit > 0 && size > limit) throw new HttpError(413, `upload: body of ${size} bytes is above the limit of ${limit}`);
  return size;
}

/** Whether enough groups stored the object (`proxy.write-quorum`). */
export function quorumMet(results: readonly GroupResult[], quorum: WriteQuorum): boolean {
  const ok = results.filter((r) => r.status === 0).length;
  if (quorum === 'all') return ok === results.length && ok > 0;
  if (quorum === 'majority') return ok > results.length / 2;
  return ok > 0;
}

export async function upload(req: Request): Promise<void> {
  const { bucket, key } = await req.bucketAndKey('write');
  await store(req, bucket, key, uploadSize(req, bucket));
}

export async function nobucketUpload(req: Request): Promise<void> {
  const [key] = req.params as [string];
  req.key = key;
  const size = uploadSize(req, undefined);
  const cfg = req.ctx.config;
  const candidates: Candidate[] = [];
  for (const b of req.ctx.writableBuckets()) {
    if (b.groups.length === 0 || !checkAccess(b, req.caller, 'write', req.signed, req.strictPolicy).allowed) continue;
    if (b.maxSize > 0 && size > b.maxSize) continue;
    const id = keyToId(key, b.name);
    const groups = b.groups.map((g) => checkGroup(g, req.ctx.statsFor(g, id), size, cfg.freeSpaceRatioHard));
    candidates.push({ bucket: b, groups });
  }
  const bucket = pickBucket(candidates);
  if (!bucket) {
    req.ctx.log.warn({ trace: req.traceId.toString(16), candidates: candidates.map((c) => ({ bucket: c.bucket.name, groups: c.groups.map((g) => `${g.group}: ${g.reason}`) })) }, 'no bucket can take the upload');
    throw new HttpError(503, 'there are no buckets with free space available');
  }
  req.bucket = bucket.name;
  req.requireAccess(bucket, 'write'); // passed while filtering; this notes whether the rules were strict
  await store(req, bucket, key, size);
}

/** Streams the body into every group of the bucket and answers with the per-group results. */
async function store(req: Request, bucket: BucketMeta, key: string, size: number): Promise<void> {
  const cfg = req.ctx.config;
  let offset = 0;
  try {
    const ranges = parseRange(req.ex.header('range') ?? '', size);
    if (ranges.length > 0) offset = ranges[0]!.start;
  } catch (err) {
    if (err instanceof RangeError_) throw new HttpError(400, `upload: ${err.message}`);
    throw err;
  }
  const session = req.session(bucket, { ioFlags: cfg.writerIoFlags, timeoutSeconds: cfg.uploadTimeout });
  const expected = expectedDigests(req.ex.headers);
  // Under strict signatures the body must be the one the signer hashed (X-Ell-Content-SHA256 is signed).
  if (req.strict && !expected.some((e) => e.header === 'X-Ell-Content-SHA256')) req.forbid('X-Ell-Content-SHA256 is missing (strict signatures)', bucket.name);
  const digest = expected.length > 0 ? new BodyDigest(expected) : undefined;
  // A body that fits one WRITE is held whole until the end anyway: it is hashed in one go then.
  const whole: Buffer[] | undefined = digest && size <= DEFAULT_WRITE_CHUNK ? [] : undefined;
  const body = req.ex.acceptBody();
  const writer = session.createWriteStream(key, size, { offset, release: (b) => body.release(b) });
  try {
    for (let chunk = await body.next(); chunk; chunk = await body.next()) {
      if (whole) whole.push(chunk);
      else digest?.update(chunk);
      await writer.write(chunk);
    }
    // Before anything is committed: a body that does not match its digest is not stored.
    await digest?.verify(whole);
  } catch (err) {
    writer.abort(err instanceof EllipticsError ? err : new EllipticsError(Errno.ECONNRESET, err instanceof HttpError ? err.message : 'the client went away'));
    if (err instanceof ClientGone || err instanceof HttpError) throw err;
    if (err instanceof EllipticsError) throw storageHttpError(err);
    throw err;
  }
  let results: GroupResult[];
  try {
    results = await writer.end();
  } catch (err) {
    if (err instanceof EllipticsError) throw storageHttpError(err);
    throw err;
  }
  req.noteGroups(results);
  if (!quorumMet(results, cfg.writeQuorum)) {
    const failed = results.filter((r) => r.status !== 0);
    const last = failed[failed.length - 1]?.error ?? new EllipticsError(Errno.EIO, 'write failed');
    throw storageHttpError(last);
  }
  req.ex.end(200, [['Content-Type', 'application/json']], goJson({ bucket: bucket.name, key, reply: lookupResult(results, writer.id) }));
}
