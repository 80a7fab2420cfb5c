// The request lifecycle of a worker, in named stages: capture (Exchange), decode the path (two
// passes, once), preflight/HEAD, route, check the method, run the handler, reply to errors,
// access-log and count. Nothing a client sends can throw out of here.

import type { HttpRequest, HttpResponse } from '@trufflesuite/uws-js-unofficial';
import { uploadCharge, type Charge } from './admission.js';
import { errorBody, HttpError, overloaded, toHttpError } from './errors.js';
import { ClientGone, Exchange } from './http/exchange.js';
import { LinkedSet } from '../util/linked-set.js';
import { decodePath, PathError, splitHandler, splitParams, type DecodedPath } from './http/path.js';
import { bulkRemove, remove } from './handlers/delete.js';
import { exit, profile, updateLocalConfig } from './handlers/control.js';
import { get } from './handlers/get.js';
import { lookup, redirect } from './handlers/lookup.js';
import { health } from './handlers/health.js';
import { metrics } from './handlers/metrics.js';
import { proxyStat, stat, statusPage } from './handlers/stat.js';
import { staticFile } from './handlers/static-files.js';
import { nobucketUpload, upload } from './handlers/upload.js';
import { Request } from './request.js';
import type { WorkerContext } from './worker-context.js';

interface Route {
  /** Path parameters after the handler name (the last one keeps further slashes). */
  params: number;
  methods: readonly string[];
  run: (req: Request) => Promise<void>;
  /** The handler reads the request body: it is buffered from the first byte. */
  body?: boolean;
  /** Works without the trailing slash too (`/ping`, `/stat`, DESIGN §4.8). */
  bare?: boolean;
  /** Talks to storage: counted against the worker's admission bounds (DESIGN §4.21). */
  storage?: boolean;
}

const ROUTES: Readonly<Record<string, Route>> = {
  nobucket_upload: { storage: true, params: 1, methods: ['POST', 'PUT'], run: nobucketUpload, body: true },
  upload: { storage: true, params: 2, methods: ['POST', 'PUT'], run: upload, body: true },
  get: { storage: true, params: 2, methods: ['GET', 'HEAD'], run: get },
  lookup: { storage: true, params: 2, methods: ['GET'], run: lookup },
  redirect: { storage: true, params: 2, methods: ['GET'], run: redirect },
  delete: { storage: true, params: 2, methods: ['POST', 'PUT', 'DELETE'], run: remove },
  bulk_delete: { storage: true, params: 1, methods: ['POST', 'PUT'], run: bulkRemove, body: true },
  ping: { params: 0, methods: ['GET'], run: stat, bare: true },
  stat: { params: 0, methods: ['GET'], run: stat, bare: true },
  proxy_stat: { params: 0, methods: ['GET'], run: proxyStat, bare: true },
  update_local_config: { params: 0, methods: ['POST'], run: updateLocalConfig, body: true },
  exit: { params: 0, methods: ['GET'], run: exit },
  profile: { params: 1, methods: ['GET'], run: profile },
  metrics: { params: 0, methods: ['GET'], run: metrics, bare: true },
  status: { params: 0, methods: ['GET'], run: statusPage, bare: true },
  // HEAD too: a load balancer's HEAD /health/ must get the truth, not the liveness "OK".
  health: { params: 0, methods: ['GET', 'HEAD'], run: health, bare: true },
};
const STATIC: Route = { storage: true, params: 0, methods: ['GET'], run: staticFile };

/** Exchanges in progress, for idle-timeout and draining. */
const active = new LinkedSet<Exchange>();

/** The request target decoded once (spec §2's two passes) and split at the handler name. */
interface Target extends DecodedPath {
  handler: { name: string; rest: string | undefined };
}

/** The target, or the 400 a malformed one gets. */
function parseTarget(rawPath: string): Target | HttpError {
  let decoded: DecodedPath;
  try {
    decoded = decodePath(rawPath);
  } catch (err) {
    if (err instanceof PathError) return new HttpError(400, err.message);
    throw err;
  }
  const handler = splitHandler(decoded.path);
  if (!handler) return new HttpError(400, 'could not split URL');
  return { signPath: decoded.signPath, path: decoded.path, handler };
}

export function handleRequest(ctx: WorkerContext, res: HttpResponse, uwsReq: HttpRequest, secure: boolean): void {
  const ex = new Exchange(res, uwsReq, ctx.config.headers, secure);
  if (ctx.log.isLevelEnabled('info')) ex.captureRemote(); // the access line needs it after the reply ended
  const target = parseTarget(ex.rawPath);
  const name = target instanceof HttpError ? '' : target.handler.name;
  const route = ROUTES[name];

  if (ex.method === 'OPTIONS') return preflight(ctx, ex, route ?? STATIC);
  // HEAD is the original's liveness probe everywhere but on the routes that answer it (DESIGN §4.6).
  if (ex.method === 'HEAD' && !route?.methods.includes('HEAD')) return ex.end(200, [['Content-Type', 'text/plain; charset=utf-8']], 'OK');
  const withBody = route?.body === true && (ex.method === 'POST' || ex.method === 'PUT');
  const admitted = target instanceof HttpError ? undefined : admit(ctx, ex, route ?? STATIC, withBody);
  // uWS drops body bytes that arrive before a reader is attached: attach it now (a refused body is left unread).
  if (withBody && !(admitted instanceof HttpError)) ex.acceptBody();

  void serve(ctx, ex, admitted instanceof HttpError ? admitted : target, admitted instanceof HttpError ? undefined : admitted);
}

/** What an admitted request holds of the worker's bounds until it ends. */
interface Admitted {
  body: Charge | undefined;
}

/**
 * Stage "admit": a storage request takes a slot and, with a body, room for what the body can hold
 * in memory; without room it is refused before anything is read or sent to storage.
 */
function admit(ctx: WorkerContext, ex: Exchange, route: Route, withBody: boolean): Admitted | HttpError | undefined {
  if (!route.storage) return undefined;
  const admission = ctx.admission;
  const limits = ctx.config;
  // A refused body is not read: a large or chunked one closes the connection rather than crossing the wire for nothing.
  const announced = withBody ? Number(ex.header('content-length') ?? NaN) : 0;
  const close = withBody && !(announced <= SMALL_REFUSED_BODY);
  if (!admission.enter()) return overloaded(`${admission.requests} requests in flight (proxy.max-requests-in-flight ${limits.maxRequestsInFlight})`, close);
  if (!withBody) return { body: undefined };
  const body = admission.uploads.take(uploadCharge(Number.isFinite(announced) ? announced : undefined));
  if (!body) {
    admission.leave();
    return overloaded(`${admission.uploads.used} bytes of uploads in flight (proxy.max-upload-bytes-in-flight ${limits.maxUploadBytesInFlight})`, close);
  }
  return { body };
}

/** A refused body up to this size is skipped on a kept-alive connection; a larger one closes it. */
const SMALL_REFUSED_BODY = 64 * 1024;

/** Runs the request to its end; whatever happens, it is answered (or cut), logged and counted. */
async function serve(ctx: WorkerContext, ex: Exchange, target: Target | HttpError, admitted: Admitted | undefined): Promise<void> {
  active.add(ex);
  ctx.inFlight++;
  let req: Request | undefined;
  try {
    if (target instanceof HttpError) throw target;
    req = new Request(ex, ctx, target.signPath, target.path);
    await route(req, target.handler);
  } catch (err) {
    replyError(ctx, ex, req, err);
  } finally {
    active.delete(ex);
    ctx.inFlight--;
    if (admitted) {
      ctx.admission.leave();
      admitted.body?.release();
    }
    finish(ctx, ex, req);
  }
}

/** The handler for the request's path and method, with its path parameters; then it runs. */
function route(req: Request, split: Target['handler']): Promise<void> {
  const r = ROUTES[split.name] ?? STATIC;
  const method = req.ex.method;
  req.handler = r === STATIC ? '/' : split.name;
  if (!r.methods.includes(method)) {
    throw new HttpError(405, `method doesn't match: provided: ${method}, required: [${r.methods.join(' ')}]`, [['Allow', r.methods.join(', ')]]);
  }
  if (r !== STATIC) {
    if (split.rest === undefined && !r.bare) throw new HttpError(400, `not enough path parts for handler: ${split.name}`);
    try {
      req.params = r.params === 0 ? [split.rest ?? ''] : splitParams(split.rest ?? '', r.params);
    } catch (err) {
      if (err instanceof PathError) throw new HttpError(400, `${err.message} for handler: ${split.name}`);
      throw err;
    }
  }
  return r.run(req);
}

function replyError(ctx: WorkerContext, ex: Exchange, req: Request | undefined, err: unknown): void {
  if (err instanceof ClientGone || ex.aborted) {
    if (req) req.error ??= 'client went away';
    return;
  }
  const e = toHttpError(err);
  if (e.status >= 500 && !(err instanceof HttpError)) ctx.log.error({ err, url: ex.uri }, 'handler failed unexpectedly');
  if (req) req.error = e.message;
  ctx.stats.error({ time: Date.now(), method: ex.method, remote: ex.remote, url: ex.uri, handler: req?.handler ?? '', error: e.message, status: e.status });
  if (ex.responded) {
    ex.close();
    return;
  }
  ex.end(e.status, [['Content-Type', 'text/plain; charset=utf-8'], ['X-Content-Type-Options', 'nosniff'], ...e.headers], errorBody(ex.uri, e.status, e.message), e.close);
}

/** CORS preflight built from proxy.headers (the original answered OPTIONS with 400). */
function preflight(ctx: WorkerContext, ex: Exchange, route: Route): void {
  const origin = Object.entries(ctx.config.headers).find(([k]) => k.toLowerCase() === 'access-control-allow-origin')?.[1];
  const headers: [string, string][] = [['Allow', [...route.methods, 'OPTIONS'].join(', ')]];
  if (origin !== undefined) {
    headers.push(
      ['Access-Control-Allow-Methods', [...route.methods, 'OPTIONS'].join(', ')],
      ['Access-Control-Allow-Headers', ex.header('access-control-request-headers') ?? 'Authorization, Content-Type, Range, X-Request'],
      ['Access-Control-Max-Age', '86400'],
    );
  }
  ex.end(204, headers);
  finish(ctx, ex, undefined);
}

/** One access-log line and the counters. Never a token or a signature. */
function finish(ctx: WorkerContext, ex: Exchange, req: Request | undefined): void {
  const status = ex.aborted && !ex.responded ? 499 : ex.status;
  const seconds = (performance.now() - ex.startedAt) / 1000;
  const handler = req?.handler ?? (ex.method === 'OPTIONS' ? 'options' : '/');
  ctx.stats.request(handler, status, ex.bytesIn, ex.bytesOut, seconds);
  if (!ctx.log.isLevelEnabled('info')) return;
  ctx.log.info({
    method: ex.method,
    path: req?.path ?? ex.rawPath,
    uri: ex.uri,
    status,
    in: ex.bytesIn,
    out: ex.bytesOut,
    ms: Math.round(seconds * 1e6) / 1e3,
    bucket: req?.bucket,
    key: req?.key,
    user: req?.caller.user,
    trace: req?.traceId.toString(16),
    ok: req?.groupsOk.length ? req.groupsOk : undefined,
    failed: req?.groupsFailed.length ? req.groupsFailed : undefined,
    remote: ex.remote,
    xfwd: ex.header('x-forwarded-for'),
    err: req?.error,
  }, 'request');
}

/**
 * Closes exchanges whose client has kept us waiting for `idleSeconds` — not sending the body it
 * announced, or not reading the reply (slow or stalled clients, DESIGN §4.11). Waits on storage
 * are bounded by the storage deadlines instead.
 */
export function sweepIdle(idleSeconds: number, log: WorkerContext['log']): void {
  if (idleSeconds <= 0) return;
  const limit = Date.now() - idleSeconds * 1000;
  for (const ex of active) {
    if (ex.waitingOnClientSince !== undefined && ex.waitingOnClientSince < limit && ex.lastActivity < limit) {
      log.warn({ url: ex.uri, remote: ex.remote, idleSeconds }, 'request idle too long; connection closed');
      ex.close();
      active.delete(ex);
    }
  }
}

export function activeRequests(): number {
  return active.size;
}
