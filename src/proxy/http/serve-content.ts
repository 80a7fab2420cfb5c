// Serving a body with range and conditional semantics, the way Go's http.ServeContent does for the
// original (spec backrunner.md §3.3 step 7), plus ETag / If-None-Match / If-Range (DESIGN §4.7).
// Used for stored objects (/get/) and static files alike.

import type { Request } from '../request.js';
import { HttpError } from '../errors.js';
import { hasLastModified, httpDate, notModified, rangeAllowed, type Conditions, type Validators } from './conditional.js';
import { sniff } from './content-type.js';
import { ClientGone, type HeaderList } from './exchange.js';
import { planMultipart } from './multipart.js';
import { parseRange, RangeError_, type ByteRange } from './ranges.js';

export interface Content {
  size: number;
  validators: Validators;
  /** Known type; undefined → sniffed from the first bytes sent. */
  contentType: string | undefined;
  /**
   * Bytes [start, start + length) as chunks. A chunk may be reused once the next one is asked for
   * or the iterator is returned: each one is passed on (and taken by uWS) before that.
   */
  open(start: number, length: number): Promise<AsyncIterator<Buffer>>;
  /** Bytes from 0 that are already being read (saves a second read of the start); made only when needed. */
  whole?: () => AsyncIterator<Buffer>;
}

/** The headers every answer about the content carries, 304 included. */
function validatorHeaders(v: Validators): HeaderList {
  const headers: HeaderList = [['Accept-Ranges', 'bytes'], ['ETag', v.etag]];
  if (hasLastModified(v)) headers.push(['Last-Modified', httpDate(v.mtime)]);
  return headers;
}

const conditionsOf = (req: Request): Conditions => ({ ifNoneMatch: req.ex.header('if-none-match'), ifModifiedSince: req.ex.header('if-modified-since'), ifRange: req.ex.header('if-range') });

/**
 * A body already in memory and no Range to honour: the common small-object GET, answered without
 * the streaming machinery (same headers and conditional handling as serveContent).
 */
export function serveWhole(req: Request, v: Validators, contentType: string | undefined, body: Buffer): void {
  const headers = validatorHeaders(v);
  if (notModified(conditionsOf(req), v)) return req.ex.end(304, headers);
  headers.push(['Content-Type', contentType ?? sniff(body)]);
  req.ex.end(200, headers, body);
}

export async function serveContent(req: Request, content: Content, rangeHeader: string): Promise<void> {
  const { size, validators: v } = content;
  const headers = validatorHeaders(v);
  const cond = conditionsOf(req);
  if (notModified(cond, v)) {
    req.ex.end(304, headers);
    return;
  }
  let ranges: ByteRange[] = [];
  if (rangeHeader && rangeAllowed(cond, v)) {
    try {
      ranges = parseRange(rangeHeader, size);
    } catch (err) {
      if (!(err instanceof RangeError_)) throw err;
      throw new HttpError(416, 'invalid range', [['Content-Range', `bytes */${size}`]]);
    }
    // Ranges adding up to more than the object are ignored and the whole object is sent (Go).
    if (ranges.reduce((n, r) => n + r.length, 0) > size) ranges = [];
  }

  const firstStart = ranges[0]?.start ?? 0;
  const firstLength = ranges[0]?.length ?? size;
  const first = firstStart === 0 && content.whole && firstLength === size ? content.whole() : await content.open(firstStart, firstLength);
  let contentType = content.contentType;
  let head: Buffer | undefined;
  if (!contentType) {
    const r = await first.next();
    head = r.done ? Buffer.alloc(0) : r.value;
    contentType = sniff(head);
  }

  if (ranges.length <= 1) {
    headers.push(['Content-Type', contentType]);
    if (ranges.length === 1) headers.push(['Content-Range', `bytes ${firstStart}-${firstStart + firstLength - 1}/${size}`]);
    const status = ranges.length === 1 ? 206 : 200;
    // A body that arrived whole with its first chunk goes out in one write.
    const whole = head ?? (await peekWhole(first, firstLength));
    if (whole && whole.length === firstLength) {
      req.ex.end(status, headers, whole);
      await first.return?.();
      return;
    }
    if (req.ex.beginBody(status, headers, firstLength)) return;
    await pump(req, first, whole ?? head);
    return;
  }
  const plan = planMultipart(ranges, size, contentType);
  headers.push(['Content-Type', plan.contentType]);
  if (req.ex.beginBody(206, headers, plan.length)) return;
  for (let i = 0; i < ranges.length; i++) {
    if (!(await pumpBytes(req, plan.prefixes[i]!))) return;
    const part = i === 0 ? first : await content.open(ranges[i]!.start, ranges[i]!.length);
    if (!(await pump(req, part, i === 0 ? head : undefined))) return;
  }
  await pumpBytes(req, plan.closing);
}

/** The first chunk when it is the whole body (small objects), else undefined — the chunk is kept for pump. */
async function peekWhole(it: AsyncIterator<Buffer>, length: number): Promise<Buffer | undefined> {
  if (length > 256 * 1024) return undefined;
  const r = await it.next();
  return r.done ? Buffer.alloc(0) : r.value;
}

async function pumpBytes(req: Request, bytes: Buffer): Promise<boolean> {
  await req.ex.sendChunk(bytes);
  return !req.ex.aborted;
}

/**
 * Copies chunks to the client at the client's pace. A source failure after the headers went out
 * cannot be reported: the connection is cut so the body is visibly short. False when cut.
 */
async function pump(req: Request, it: AsyncIterator<Buffer>, head: Buffer | undefined): Promise<boolean> {
  try {
    if (head && head.length > 0) await req.ex.sendChunk(head);
    for (let r = await it.next(); !r.done; r = await it.next()) await req.ex.sendChunk(r.value);
    return true;
  } catch (err) {
    await it.return?.().catch(() => undefined);
    if (err instanceof ClientGone) throw err;
    req.error = `body broken after ${req.ex.bytesOut} bytes: ${(err as Error).message}`;
    req.ctx.log.warn({ trace: req.traceId.toString(16), bucket: req.bucket, key: req.key, err: (err as Error).message }, 'source failed in the middle of a reply; connection cut');
    req.ex.close();
    return false;
  }
}
