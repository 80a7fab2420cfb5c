// One HTTP request/response over uWebSockets.js. The request's parts are copied out while the uWS
// handler runs (uWS invalidates them afterwards); writes are corked, honour backpressure, and stop
// once the client has gone away.

import type { HttpRequest, HttpResponse } from '@trufflesuite/uws-js-unofficial';
import { BufferPool } from '../../util/buffer-pool.js';

const REASONS: Record<number, string> = {
  200: 'OK', 204: 'No Content', 206: 'Partial Content', 302: 'Found', 304: 'Not Modified', 400: 'Bad Request',
  401: 'Unauthorized', 403: 'Forbidden', 404: 'Not Found', 405: 'Method Not Allowed', 408: 'Request Timeout',
  411: 'Length Required', 413: 'Payload Too Large', 416: 'Range Not Satisfiable', 500: 'Internal Server Error',
  503: 'Service Unavailable', 504: 'Gateway Timeout',
};

export type HeaderList = [string, string][];

/** `proxy.headers` as [name, value, lower-case name], computed once per config object. */
const configuredLists = new WeakMap<Readonly<Record<string, string>>, [string, string, string][]>();
function configuredList(c: Readonly<Record<string, string>>): [string, string, string][] {
  let list = configuredLists.get(c);
  if (!list) configuredLists.set(c, (list = Object.entries(c).map(([k, v]) => [k, v, k.toLowerCase()])));
  return list;
}

/** "200 OK" and friends, built once. */
const statusLines = new Map<number, string>();
function statusLine(status: number): string {
  let line = statusLines.get(status);
  if (!line) statusLines.set(status, (line = `${status} ${REASONS[status] ?? 'Unknown'}`));
  return line;
}

/** Reading stops while this many body bytes wait for the handler; it resumes below the low mark. */
const BODY_HIGH = 4 * 1024 * 1024;
const BODY_LOW = 1024 * 1024;

/** Bodies announced at this size or more are gathered into pooled blocks of this size (the storage write chunk). */
const BODY_BLOCK = 1024 * 1024;
const bodyBlocks = new BufferPool(8 * 1024 * 1024);

export class ClientGone extends Error {
  constructor() {
    super('the client closed the connection');
    this.name = 'ClientGone';
  }
}

export class Exchange {
  readonly method: string;
  readonly rawPath: string;
  readonly rawQuery: string;
  /** Every header line as received (lower-case names). A request has few: `header` scans them. */
  readonly headerList: HeaderList = [];
  private remoteText: string | undefined;
  readonly startedAt = performance.now();
  aborted = false;
  status = 0;
  bytesOut = 0;
  bytesIn = 0;
  /** Last time bytes moved either way (for idle-timeout). */
  lastActivity = Date.now();
  /** Since when we wait for the client (its body, or room to send), undefined while we do not. */
  waitingOnClientSince: number | undefined;
  private headSent = false;
  private body: BodyQueue | undefined;
  private writable: ((offset: number) => boolean) | undefined;
  private readonly abortHandlers: (() => void)[] = [];
  /** Neighbours in the router's list of exchanges in progress (a LinkedSet). */
  listPrev: Exchange | undefined = undefined;
  listNext: Exchange | undefined = undefined;

  constructor(
    private readonly res: HttpResponse,
    req: HttpRequest,
    /** Headers every reply carries (`proxy.headers`), errors included. */
    private readonly configured: Readonly<Record<string, string>>,
    readonly secure: boolean,
  ) {
    this.method = req.getCaseSensitiveMethod().toUpperCase();
    this.rawPath = req.getUrl();
    this.rawQuery = req.getQuery() ?? '';
    req.forEach((k, v) => {
      this.headerList.push([k, v]);
    });
    res.onAborted(() => {
      this.aborted = true;
      this.body?.fail(new ClientGone());
      for (const h of this.abortHandlers) h();
    });
  }

  /** The request URI as received (escaped path + query), for logs and error bodies. */
  get uri(): string {
    return this.rawQuery ? `${this.rawPath}?${this.rawQuery}` : this.rawPath;
  }

  /** The first value of a header (`name` in lower case). */
  header(name: string): string | undefined {
    const list = this.headerList;
    for (let i = 0; i < list.length; i++) if (list[i]![0] === name) return list[i]![1];
    return undefined;
  }

  /**
   * The client's address. uWS asks the kernel (getpeername) each time: it is read only when
   * something needs it — the access log, an error — and only while the response is still open
   * (`captureRemote`); after that the captured value, or "".
   */
  get remote(): string {
    if (this.remoteText === undefined && !this.headSent && !this.aborted) this.captureRemote();
    return this.remoteText ?? '';
  }

  captureRemote(): void {
    this.remoteText ??= Buffer.from(this.res.getRemoteAddressAsText()).toString();
  }

  onAbort(fn: () => void): void {
    if (this.aborted) fn();
    else this.abortHandlers.push(fn);
  }

  /** Starts buffering the request body now (uWS drops data that arrives before onData is set). */
  acceptBody(): BodyQueue {
    if (!this.body) {
      const announced = Number(this.header('content-length') ?? this.header('x-ell-content-length'));
      this.body = new BodyQueue(this.res, this, announced >= BODY_BLOCK ? bodyBlocks : undefined);
    }
    return this.body;
  }

  // ---------------------------------------------------------------------------------------------
  // Responses

  private writeHead(status: number, headers: HeaderList): void {
    this.status = status;
    this.headSent = true;
    this.res.writeStatus(statusLine(status));
    // A configured header yields to one the handler sets itself.
    for (const [k, v, lower] of configuredList(this.configured)) {
      if (!headers.some(([h]) => h.length === lower.length && h.toLowerCase() === lower)) this.res.writeHeader(k, v);
    }
    for (const [k, v] of headers) this.res.writeHeader(k, v);
  }

  get responded(): boolean {
    return this.headSent;
  }

  /**
   * A complete reply. HEAD replies carry the headers (and the length) of `body` without it; 204 and
   * 304 carry neither a body nor a length (RFC 9110 §8.6).
   */
  end(status: number, headers: HeaderList, body: string | Buffer = '', closeConnection = false): void {
    if (this.aborted || this.headSent) return;
    this.res.cork(() => {
      this.writeHead(status, headers);
      if (status === 204 || status === 304) this.endHead(undefined);
      else if (this.method === 'HEAD') this.endHead(typeof body === 'string' ? Buffer.byteLength(body) : body.length);
      else {
        this.res.end(body, closeConnection);
        this.bytesOut += typeof body === 'string' ? Buffer.byteLength(body) : body.length;
      }
    });
  }

  /**
   * Ends a reply that has no body on the wire. uWS v20.30's endWithoutBody(n) keeps the response
   * open waiting for n body bytes (the connection then hangs), and endWithoutBody(undefined)
   * announces 2^63 bytes: the length is written as a plain header instead.
   */
  private endHead(length: number | undefined): void {
    if (length !== undefined) this.res.writeHeader('Content-Length', String(length));
    this.res.endWithoutBody();
  }

  /** Headers of a body of `length` bytes that will follow; HEAD ends here (true when nothing follows). */
  beginBody(status: number, headers: HeaderList, length: number): boolean {
    if (this.aborted || this.headSent) return true;
    if (length === 0) {
      this.end(status, headers, '');
      return true;
    }
    if (this.method === 'HEAD') {
      this.res.cork(() => {
        this.writeHead(status, headers);
        this.endHead(length);
      });
      return true;
    }
    this.res.cork(() => this.writeHead(status, headers));
    this.expected = length;
    return false;
  }

  private expected = 0;

  /**
   * Sends the next part of a body announced by beginBody; resolves once uWS has taken it (waits on
   * backpressure). Throws ClientGone when the client went away.
   */
  sendChunk(chunk: Buffer): Promise<void> {
    if (this.aborted) return Promise.reject(new ClientGone());
    if (chunk.length === 0) return Promise.resolve();
    const start = this.res.getWriteOffset();
    let ok = false;
    let done = false;
    this.res.cork(() => {
      [ok, done] = this.res.tryEnd(chunk, this.expected);
    });
    this.lastActivity = Date.now();
    if (ok || done) {
      this.bytesOut += chunk.length;
      return Promise.resolve();
    }
    this.waitingOnClientSince = Date.now();
    return new Promise<void>((resolve, reject) => {
      const cleanup = (): void => {
        this.writable = undefined;
        this.waitingOnClientSince = undefined;
      };
      this.onAbort(() => {
        cleanup();
        reject(new ClientGone());
      });
      // Registered only now: most replies never wait, and uWS calls it only after a failed write.
      this.res.onWritable((offset) => {
        this.lastActivity = Date.now();
        return this.writable ? this.writable(offset) : true;
      });
      this.writable = (offset) => {
        const [ok2, done2] = this.res.tryEnd(chunk.subarray(offset - start), this.expected);
        if (ok2 || done2) {
          cleanup();
          this.bytesOut += chunk.length;
          resolve();
        }
        return ok2;
      };
    });
  }

  /** Cuts the connection (a body that cannot be completed must not look complete). */
  close(): void {
    if (this.aborted) return;
    this.aborted = true;
    this.res.cork(() => this.res.close());
  }
}

/**
 * The request body, buffered as it arrives, read by the handler chunk by chunk. A large body is
 * gathered into pooled blocks: its consumer hands each chunk back with `release` once nothing
 * refers to it (a chunk never released is simply garbage-collected).
 */
export class BodyQueue {
  private readonly chunks: Buffer[] = [];
  private queued = 0;
  private ended = false;
  private error: Error | undefined;
  private waiter: (() => void) | undefined;
  private paused = false;
  /** The block being filled, and the block behind each pooled chunk that is a view of one. */
  private block: Buffer | undefined;
  private filled = 0;
  private readonly blockOf = new WeakMap<Buffer, Buffer>();
  received = 0;

  constructor(
    private readonly res: HttpResponse,
    private readonly ex: Exchange,
    private readonly blocks: BufferPool | undefined,
  ) {
    res.onData((ab, isLast) => {
      // uWS reuses the memory behind `ab` once this callback returns: copy it out.
      if (ab.byteLength > 0) {
        const data = new Uint8Array(ab);
        if (this.blocks) this.gather(data, this.blocks);
        else this.enqueue(Buffer.from(data));
        this.received += data.length;
        ex.bytesIn += data.length;
        ex.lastActivity = Date.now();
      }
      if (isLast) {
        if (this.block && this.filled > 0) {
          const tail = this.block.subarray(0, this.filled);
          this.blockOf.set(tail, this.block);
          this.enqueue(tail);
        }
        this.block = undefined;
        this.ended = true;
      }
      if (!this.paused && this.queued > BODY_HIGH && !this.ended) {
        this.paused = true;
        res.pause();
      }
      this.wake();
    });
  }

  private enqueue(chunk: Buffer): void {
    this.chunks.push(chunk);
    this.queued += chunk.length;
  }

  /** Copies into the current block; a full block becomes a chunk. */
  private gather(data: Uint8Array, blocks: BufferPool): void {
    let at = 0;
    while (at < data.length) {
      this.block ??= blocks.acquire(BODY_BLOCK);
      const n = Math.min(data.length - at, this.block.length - this.filled);
      this.block.set(data.subarray(at, at + n), this.filled);
      this.filled += n;
      at += n;
      if (this.filled === this.block.length) {
        this.enqueue(this.block);
        this.block = undefined;
        this.filled = 0;
      }
    }
  }

  /** Hands back a chunk this queue gave out, once nothing refers to it any more. */
  release(chunk: Buffer): void {
    if (!this.blocks) return;
    this.blocks.release(this.blockOf.get(chunk) ?? chunk);
  }

  fail(err: Error): void {
    this.error ??= err;
    // Nobody will read what is still queued.
    for (const c of this.chunks.splice(0)) this.release(c);
    this.queued = 0;
    this.wake();
  }

  private wake(): void {
    const w = this.waiter;
    this.waiter = undefined;
    w?.();
  }

  /** The next chunk, or null at the end of the body. */
  async next(): Promise<Buffer | null> {
    for (;;) {
      if (this.chunks.length > 0) {
        const c = this.chunks.shift()!;
        this.queued -= c.length;
        if (this.paused && this.queued < BODY_LOW && !this.ex.aborted) {
          this.paused = false;
          this.res.resume();
        }
        return c;
      }
      if (this.error) throw this.error;
      if (this.ended) return null;
      this.ex.waitingOnClientSince ??= Date.now();
      await new Promise<void>((resolve) => (this.waiter = resolve));
      this.ex.waitingOnClientSince = undefined;
    }
  }

  /** The whole body, refusing more than `limit` bytes. */
  async readAll(limit: number): Promise<Buffer> {
    const parts: Buffer[] = [];
    let n = 0;
    for (let c = await this.next(); c; c = await this.next()) {
      n += c.length;
      if (n > limit) throw new BodyTooLarge(limit);
      parts.push(c);
    }
    const all = Buffer.concat(parts, n);
    for (const c of parts) this.release(c);
    return all;
  }
}

export class BodyTooLarge extends Error {
  constructor(readonly limit: number) {
    super(`request body larger than ${limit} bytes`);
    this.name = 'BodyTooLarge';
  }
}
