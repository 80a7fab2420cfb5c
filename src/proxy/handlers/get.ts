// GET|HEAD /get/<bucket>/<key> (spec backrunner.md §3.3, DESIGN §4.6–4.7): the object streamed
// from storage chunk by chunk at the client's pace, with single and multipart ranges, offset/size
// query, Last-Modified, a strong ETag, conditional requests, and HEAD answering headers only.

import { EllipticsError } from '../../elliptics/errors.js';
import { ObjectReader, type ReadOptions } from '../../elliptics/object-reader.js';
import { Errno, IoFlags } from '../../elliptics/protocol/constants.js';
import { keyToId } from '../../elliptics/protocol/key.js';
import { timeToMillis } from '../../elliptics/protocol/time.js';
import { ReadMissError, type ReadMisses, type Session } from '../../elliptics/session.js';
import type { RepairJob } from '../read-repair.js';
import type { BucketMeta } from '../../buckets/metadata.js';
import { HttpError, overloaded, retryLater, storageHttpError } from '../errors.js';
import type { Charge } from '../admission.js';
import { objectEtag } from '../http/conditional.js';
import { byExtension, bySuffix, configuredContentType } from '../http/content-type.js';
import { parseUint } from '../http/numbers.js';
import { serveContent, serveWhole } from '../http/serve-content.js';
import type { Request } from '../request.js';

/** Bytes per storage READ while streaming. */
const READ_CHUNK = 1024 * 1024;

export async function get(req: Request): Promise<void> {
  const { bucket, key } = req.knownBucketAndKey('read') ?? (await req.bucketAndKey('read'));
  const id = keyToId(key, bucket.name);
  const session = readSession(req, bucket, id);
  const rangeHeader = effectiveRange(req);
  // The first READ tells the size and the timestamp. Without a range it is the object's first
  // chunk; with one it is a 1-byte probe, so no data is read twice.
  const repair = (misses: ReadMisses, served: RepairJob['served']): void => req.ctx.readRepair.enqueue({ bucket: bucket.name, groups: bucket.groups, id, misses, served });
  // Room for the chunk being sent and the one read ahead, taken before the first read (DESIGN §4.21).
  const buffers = req.ctx.admission.reads.take(2 * READ_CHUNK);
  if (!buffers) throw overloaded(`${req.ctx.admission.reads.used} bytes of reads in flight (proxy.max-read-bytes-in-flight ${req.ctx.config.maxReadBytesInFlight})`);
  try {
    await stream(req, bucket, key, id, session, rangeHeader, repair, buffers);
  } finally {
    buffers.release();
  }
}

async function stream(req: Request, bucket: BucketMeta, key: string, id: Buffer, session: Session, rangeHeader: string, repair: (misses: ReadMisses, served: RepairJob['served']) => void, buffers: Charge): Promise<void> {
  const onFailover = (from: number, to: number, at: number): void =>
    req.ctx.log.warn({ trace: req.traceId.toString(16), bucket: req.bucket, key: req.key, from, to, at }, 'stream failed over to another replica in the middle of the object');
  const first = await open(session, id, { offset: 0, size: rangeHeader ? 1 : 0, chunkSize: READ_CHUNK, recycle: true, onFailover }, repair);
  if (first.complete) buffers.shrink(first.totalSize);
  // Groups that lacked it, held it damaged, or hold a copy older than its removal: repaired in the background.
  if (first.misses) repair(first.misses, { group: first.group, size: first.totalSize, timestamp: first.timestamp });
  const t = first.timestamp;
  try {
    const validators = { mtime: timeToMillis(t), etag: objectEtag(first.totalSize, t.sec, t.nsec) };
    // Content type: the configured suffix map, a Content-Type among proxy.headers, the extension; else sniffed.
    const contentType = bySuffix(key, req.ctx.config.contentTypes) ?? configuredContentType(req.ctx.config.headers) ?? byExtension(key);
    const complete = rangeHeader ? undefined : first.complete;
    if (complete) return serveWhole(req, validators, contentType, complete);
    await serveContent(req, {
      size: first.totalSize,
      validators,
      contentType,
      open: async (offset, size) => (await sameVersion(first, session, id, { offset, size, chunkSize: READ_CHUNK, recycle: true, onFailover }))[Symbol.asyncIterator](),
      whole: rangeHeader ? undefined : () => first[Symbol.asyncIterator](),
    }, rangeHeader);
  } finally {
    first.close();
  }
}

/**
 * A range is read by a reader of its own: it must read the version the first read found (whose
 * size and validators the reply carries). Overwritten in between, the range may lie beyond the new
 * object or in other bytes: 503, the client asks again.
 */
async function sameVersion(first: ObjectReader, session: Session, id: Buffer, opts: ReadOptions): Promise<ObjectReader> {
  const changed = (): HttpError => new HttpError(503, 'stream: the object changed while it was read', retryLater());
  let r: ObjectReader;
  try {
    r = await ObjectReader.open(session, id, opts);
  } catch (err) {
    if (err instanceof EllipticsError && err.status === Errno.E2BIG) throw changed();
    if (err instanceof EllipticsError) throw storageHttpError(err, 'stream: could not create read-seeker');
    throw err;
  }
  if (r.totalSize !== first.totalSize || r.timestamp.sec !== first.timestamp.sec || r.timestamp.nsec !== first.timestamp.nsec) {
    r.close();
    throw changed();
  }
  return r;
}

/** `?offset=` / `?size=` replace the Range header (the query wins on /get/, spec §8.2). */
function effectiveRange(req: Request): string {
  const parse = (name: 'offset' | 'size'): number => {
    const text = req.query.get(name);
    if (text === undefined || text === '') return 0;
    const n = parseUint(text, 53);
    if (n === undefined) throw new HttpError(400, `stream: could not parse ${name} URI: ${JSON.stringify(text)}`);
    return Number(n);
  };
  const offset = parse('offset');
  const size = parse('size');
  if (offset === 0 && size === 0) return req.ex.header('range') ?? '';
  return size > 0 ? `bytes=${offset}-${offset + size - 1}` : `bytes=${offset}-`;
}

/**
 * Groups whose backend for this key is healthy first (shuffled), defragmenting ones next, those
 * without statistics last (the original left them out; a healthy group without stats is still a copy).
 */
function readSession(req: Request, bucket: BucketMeta, id: Buffer): Session {
  const cfg = req.ctx.config;
  const healthy: number[] = [];
  let defrag: number[] | undefined;
  let unknown: number[] | undefined;
  for (const g of bucket.groups) {
    const st = req.ctx.statsFor(g, id);
    if (!st) (unknown ??= []).push(g);
    else if (st.defragState !== 0) (defrag ??= []).push(g);
    else healthy.push(g);
  }
  // With no healthy group the read may have to wait out defragmentations: it gets longer.
  const timeoutSeconds = healthy.length > 0 ? cfg.readTimeout : cfg.readTimeout * 3;
  const groups = shuffle(healthy);
  if (defrag) groups.push(...shuffle(defrag));
  if (unknown) groups.push(...unknown);
  return req.session(bucket, {
    groups,
    ioFlags: cfg.readerIoFlags | req.queryIoFlags | (defrag ? 0 : IoFlags.MIX_STATES),
    timeoutSeconds,
    attemptSeconds: cfg.readAttemptTimeout,
  });
}

/**
 * A reader (with `recycle`: serveContent passes each chunk on before asking for the next); storage
 * errors as HTTP ones. A read that found nothing to serve may still have found replicas to repair
 * (a copy older than a removal): `repair` hears of them.
 */
async function open(session: Session, id: Buffer, opts: ReadOptions, repair?: (misses: ReadMisses, served: undefined) => void): Promise<ObjectReader> {
  try {
    return await ObjectReader.open(session, id, opts);
  } catch (err) {
    if (err instanceof ReadMissError) repair?.(err.misses, undefined);
    if (err instanceof EllipticsError) throw storageHttpError(err, 'stream: could not create read-seeker');
    throw err;
  }
}

function shuffle<T>(a: T[]): T[] {
  for (let i = a.length - 1; i > 0; i--) {
    const j = Math.floor(Math.random() * (i + 1));
    [a[i], a[j]] = [a[j]!, a[i]!];
  }
  return a;
}
