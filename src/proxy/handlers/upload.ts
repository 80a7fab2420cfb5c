// POST|PUT /upload/<bucket>/<key> and /nobucket_upload/<key> (spec backrunner.md §3.1–3.2, with
// DESIGN §4: 411 without Content-Length, bucket max-size → 413 before the body is read, the write
// quorum decides success, /nobucket_upload/ only picks buckets the caller may write to).

import type { BucketMeta } from '../../buckets/metadata.js';
import { checkAccess } from '../../buckets/acl.js';
import { draw, eligible, scoreBucket, starved, type BucketScore, type SelectionContext } from '../../buckets/selection.js';
import { quorumNeeds, type WriteQuorum } from '../../config/proxy-config.js';
import { EllipticsError } from '../../elliptics/errors.js';
import { Errno } from '../../elliptics/protocol/constants.js';
import { timeNow, type DnetTime } from '../../elliptics/protocol/time.js';
import { missedGroups } from '../hint-reporter.js';
import type { GroupResult } from '../../elliptics/group-result.js';
import type { Session } from '../../elliptics/session.js';
import { backendKey } from '../../elliptics/stats.js';
import { keyToId } from '../../elliptics/protocol/key.js';
import { HttpError, storageHttpError } from '../errors.js';
import { ClientGone } from '../http/exchange.js';
import { BodyDigest, expectedDigests } from '../body-digest.js';
import { DEFAULT_WRITE_CHUNK, ObjectWriter } from '../../elliptics/object-writer.js';
import { parseContentLength } from '../http/numbers.js';
import { parseRange, RangeError_ } from '../http/ranges.js';
import { uploadReplyJson } from '../replies.js';
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
  return results.filter((r) => r.status === 0).length >= quorumNeeds(quorum, results.length);
}

export async function upload(req: Request): Promise<void> {
  const { bucket, key } = await req.bucketAndKey('write');
  await store(req, bucket, key, uploadSize(req, bucket));
}

export async function nobucketUpload(req: Request): Promise<void> {
  const [key] = req.params as [string];
  req.key = key;
  const size = uploadSize(req, undefined);
  const bucket = chooseBucket(req, key, size);
  req.bucket = bucket.name;
  req.requireAccess(bucket, 'write'); // passed while choosing; this notes whether the rules were strict
  await store(req, bucket, key, size);
}

/**
 * The bucket of an automatic upload (spec §12, DESIGN §4.4): among the buckets of the bucket list
 * the caller may write to and whose max-size admits the body, one drawn by weight 1/pain.
 */
function chooseBucket(req: Request, key: string, size: number): BucketMeta {
  const ctx = req.ctx;
  const cfg = ctx.config;
  const allowed = ctx.writableBuckets().filter((b) => b.groups.length > 0 && checkAccess(b, req.caller, 'write', req.signed, req.strictPolicy).allowed);
  if (allowed.length === 0) req.forbid('no bucket of the bucket list accepts writes from this caller');
  const fitting = allowed.filter((b) => !(b.maxSize > 0 && size > b.maxSize));
  if (fitting.length === 0) throw new HttpError(413, `upload: body of ${size} bytes is above the max-size of every bucket this caller may write to`);
  const now = Date.now();
  const sel: SelectionContext = {
    length: size,
    softRatio: cfg.freeSpaceRatioSoft,
    hardRatio: cfg.freeSpaceRatioHard,
    backend: (b, g) => ctx.keyBackend(g, keyToId(key, b.name), now),
    group: (g) => ctx.groupFacts(g),
  };
  const scores = fitting.map((b) => scoreBucket(b, sel));
  // No starvation: a healthy bucket no automatic upload went to for a while takes this one (measured again).
  const every = cfg.selectionProbeInterval * 1000;
  const probe = every > 0 ? starved(scores, (name) => Math.max(ctx.live.lastChosen[name] ?? ctx.startedAt, ctx.probedAt.get(name) ?? 0), every, now) : undefined;
  if (probe) ctx.probedAt.set(probe.bucket.name, now);
  const chosen = probe ?? draw(eligible(scores));
  const trace = req.traceId.toString(16);
  if (!chosen) {
    ctx.log.warn({ trace, size, buckets: scores.map(describeScore) }, 'no bucket can take the upload');
    if (scores.every((s) => s.full)) throw new HttpError(503, 'there are no buckets with free space available');
    throw new HttpError(503, `no bucket can take the upload now: ${scores.map((s) => `${s.bucket.name} (${s.rejected})`).join(', ')}`);
  }
  if (ctx.log.isLevelEnabled('notice')) ctx.log.notice({ trace, size, chosen: chosen.bucket.name, buckets: scores.map(describeScore) }, 'find-bucket');
  ctx.stats.chose(chosen.bucket.name);
  return chosen.bucket;
}

function describeScore(s: BucketScore): Record<string, unknown> {
  return { bucket: s.bucket.name, pain: s.pain, rejected: s.rejected, groups: s.groups.map((g) => `${g.group}: ${g.reason}`) };
}

/** Storage outcomes of an upload, per backend, for write health (bucket selection and /metrics). */
function recordWrites(req: Request, results: readonly GroupResult[], size: number): void {
  for (const r of results) {
    if (r.address === '') continue; // never reached a node (no route): not the storage's doing
    req.ctx.stats.write(backendKey(r.address, r.backendId), r.status === 0, size, r.micros, r.error?.message);
  }
}

/** Writes the body into every group of the bucket and answers with the per-group results. */
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
  // Each write step in each group within write-attempt-timeout: a hung replica costs at most that.
  const session = req.session(bucket, { ioFlags: cfg.writerIoFlags, timeoutSeconds: cfg.writeAttemptTimeout });
  const expected = expectedDigests((name) => req.ex.header(name));
  // Under strict signatures the body must be the one the signer hashed (X-Ell-Content-SHA256 is signed).
  if (req.strict && !expected.some((e) => e.header === 'X-Ell-Content-SHA256')) req.forbid('X-Ell-Content-SHA256 is missing (strict signatures)', bucket.name);
  const digest = expected.length > 0 ? new BodyDigest(expected) : undefined;
  const id = session.id(key);
  const write = size <= DEFAULT_WRITE_CHUNK ? writeWhole : writeStreamed;
  // One timestamp for every replica: the version a hint later copies to a group that missed it.
  const timestamp = timeNow();
  const results = await write(req, session, id, size, offset, digest, timestamp);
  recordWrites(req, results, size);
  req.noteGroups(results);
  if (!quorumMet(results, cfg.writeQuorum)) {
    const failed = results.filter((r) => r.status !== 0);
    const last = failed[failed.length - 1]?.error ?? new EllipticsError(Errno.EIO, 'write failed');
    throw storageHttpError(last);
  }
  // Acknowledged with a group behind: the primary has the hint on disk before the client hears 200.
  if (cfg.hintedHandoff) await req.ctx.hints.report(bucket.name, id, missedGroups(results, 'write'), 'write', timestamp);
  req.ex.end(200, JSON_REPLY, uploadReplyJson(bucket.name, key, results, id));
}

const JSON_REPLY: [string, string][] = [['Content-Type', 'application/json']];

type WriteBody = (req: Request, session: Session, id: Buffer, size: number, offset: number, digest: BodyDigest | undefined, timestamp: DnetTime) => Promise<GroupResult[]>;

/**
 * A body that fits one WRITE (up to 1 MiB): gathered whole — it would be held until the end anyway —
 * checked against its digest, then written to every group in one request each. Most uploads are
 * small: this path skips the streaming writer's bookkeeping.
 */
const writeWhole: WriteBody = async (req, session, id, size, offset, digest, timestamp) => {
  const body = req.ex.acceptBody();
  const parts: Buffer[] = [];
  let received = 0;
  for (let chunk = await body.next(); chunk; chunk = await body.next()) {
    received += chunk.length;
    if (received > size) throw new HttpError(400, `upload: body longer than the announced ${size} bytes`);
    parts.push(chunk);
  }
  if (received !== size) throw new HttpError(400, `upload: body ended after ${received} of ${size} bytes`);
  // Before anything is written: a body that does not match its digest is not stored.
  await digest?.verify(parts);
  const results = await session.writeId(id, parts, { offset, timestamp });
  // After a timeout the bytes may still wait in a socket queue: then the blocks are not reused.
  if (results.every((r) => r.status !== Errno.ETIMEDOUT)) for (const p of parts) body.release(p);
  return results;
};

/** A larger body, streamed into every group with a bound on the bytes in flight (PREPARE, PLAIN_WRITE…, COMMIT). */
const writeStreamed: WriteBody = async (req, session, id, size, offset, digest, timestamp) => {
  const body = req.ex.acceptBody();
  const writer = new ObjectWriter(session, id, size, { offset, timestamp, release: (b) => body.release(b) });
  try {
    for (let chunk = await body.next(); chunk; chunk = await body.next()) {
      digest?.update(chunk);
      await writer.write(chunk);
    }
    // Before anything is committed: a body that does not match its digest is not stored.
    await digest?.verify();
  } catch (err) {
    writer.abort(err instanceof EllipticsError ? err : new EllipticsError(Errno.ECONNRESET, err instanceof HttpError ? err.message : 'the client went away'));
    if (err instanceof ClientGone || err instanceof HttpError) throw err;
    if (err instanceof EllipticsError) {
      recordWrites(req, writer.failures(), size);
      throw storageHttpError(err);
    }
    throw err;
  }
  try {
    return await writer.end();
  } catch (err) {
    if (err instanceof EllipticsError) {
      recordWrites(req, writer.failures(), size);
      throw storageHttpError(err);
    }
    throw err;
  }
};
