// The storage node's HTTP listener for redirect targets (node config `redirect`): GET and HEAD of
// what the proxy's /redirect/ points at, checked by redirect-target.ts, then streamed from the blob
// file with backpressure (a slow client holds one chunk in memory, never the object), with Range
// inside the object (206), Content-Length, Last-Modified and kept-alive connections.

import http from 'node:http';
import path from 'node:path';
import { formatEndpoint } from '../elliptics/protocol/addr.js';
import type { Logger } from '../util/logger.js';
import type { RedirectTargetConfig } from './config.js';
import type { Backend } from './engine/backend.js';
import { RedirectRefused, verifyRedirect, type LiveRecordLookup } from './redirect-target.js';

const CHUNK = 1024 * 1024;
const BLOB_NAME = /^data-0\.\d+$/;

export class RedirectServer {
  private constructor(
    private readonly server: http.Server,
    readonly port: number,
  ) {}

  static start(cfg: RedirectTargetConfig, backends: readonly Backend[], log: Logger): Promise<RedirectServer> {
    const store: LiveRecordLookup = {
      isBlobFile: (file) => BLOB_NAME.test(path.basename(file)) && backends.some((b) => b.enabled && b.dir === path.dirname(file)),
      liveRecordAt: (file, off) => backends.find((b) => b.dir === path.dirname(file))?.liveRecordAt(file, off) ?? Promise.resolve(undefined),
    };
    const server = http.createServer({ keepAliveTimeout: 60_000 }, (req, res) => void serve(req, res, cfg, store, log));
    return new Promise((resolve, reject) => {
      server.once('error', (err: NodeJS.ErrnoException) => reject(new Error(`cannot listen on ${formatEndpoint(cfg.listen)} (node config redirect.address): ${err.code ?? err.message}`)));
      server.listen(cfg.listen.port, cfg.listen.host, () => {
        server.removeAllListeners('error');
        server.on('error', (err) => log.error({ err: err.message }, 'redirect listener error'));
        const port = (server.address() as { port: number }).port;
        log.info({ address: formatEndpoint({ host: cfg.listen.host, port }), root: cfg.root || '/' }, 'serving redirect targets');
        resolve(new RedirectServer(server, port));
      });
    });
  }

  close(): Promise<void> {
    return new Promise((resolve) => {
      this.server.close(() => resolve());
      this.server.closeAllConnections();
    });
  }
}

async function serve(req: http.IncomingMessage, res: http.ServerResponse, cfg: RedirectTargetConfig, store: LiveRecordLookup, log: Logger): Promise<void> {
  if (req.method !== 'GET' && req.method !== 'HEAD') return end(res, 405, 'GET or HEAD only', [['Allow', 'GET, HEAD']]);
  const rawPath = (req.url ?? '/').split('?')[0]!;
  let verified;
  try {
    verified = await verifyRedirect(rawPath, req.headers, { token: cfg.token, root: cfg.root }, store);
  } catch (err) {
    if (err instanceof RedirectRefused) {
      log.debug({ path: rawPath, status: err.status, why: err.message }, 'redirect target refused');
      return end(res, err.status, err.message);
    }
    log.error({ path: rawPath, err: (err as Error).message }, 'redirect target failed');
    return end(res, 500, 'internal error');
  }
  const { target, unpin } = verified;
  try {
    const range = byteRange(req.headers.range, target.length);
    if (range === 'unsatisfiable') return end(res, 416, 'range not satisfiable', [['Content-Range', `bytes */${target.length}`]]);
    const [from, count] = range ?? [0, target.length];
    res.statusCode = range ? 206 : 200;
    res.setHeader('Content-Type', 'application/octet-stream');
    res.setHeader('Content-Length', String(count));
    res.setHeader('Accept-Ranges', 'bytes');
    res.setHeader('Last-Modified', new Date(target.mtime * 1000).toUTCString());
    if (range) res.setHeader('Content-Range', `bytes ${from}-${from + count - 1}/${target.length}`);
    if (req.method === 'HEAD' || count === 0) {
      res.end();
      return;
    }
    await stream(res, verified.blob, target.position + from, count);
  } catch (err) {
    log.warn({ path: rawPath, err: (err as Error).message }, 'redirect target stream cut');
    res.destroy();
  } finally {
    unpin();
  }
}

/** `count` bytes of the (pinned) blob from `position`, chunk by chunk at the client's pace. */
async function stream(res: http.ServerResponse, blob: { read(buf: Buffer, offset: number, length: number, position: number): Promise<number> }, position: number, count: number): Promise<void> {
  for (let done = 0; done < count && !res.destroyed; ) {
    const buf = Buffer.allocUnsafe(Math.min(CHUNK, count - done));
    const n = await blob.read(buf, 0, buf.length, position + done);
    if (n <= 0) throw new Error(`the blob file ended at ${position + done}`);
    done += n;
    if (done >= count) {
      res.end(buf.subarray(0, n));
      return;
    }
    if (!res.write(buf.subarray(0, n)) && !res.destroyed) {
      await new Promise<void>((resolve) => {
        res.once('drain', resolve);
        res.once('close', resolve);
      });
    }
  }
}

/** A single `bytes=` range within `size`: [start, length], undefined (none or several: the whole), or unsatisfiable. */
export function byteRange(value: string | undefined, size: number): [number, number] | undefined | 'unsatisfiable' {
  if (!value) return undefined;
  const m = /^bytes=\s*(\d*)\s*-\s*(\d*)\s*$/.exec(value.trim());
  if (!m || (m[1] === '' && m[2] === '')) return value.includes(',') ? undefined : 'unsatisfiable';
  if (m[1] === '') {
    const n = Math.min(Number(m[2]), size);
    return n === 0 ? 'unsatisfiable' : [size - n, n];
  }
  const start = Number(m[1]);
  const end = m[2] === '' ? size - 1 : Math.min(Number(m[2]), size - 1);
  if (start >= size || end < start) return 'unsatisfiable';
  return [start, end - start + 1];
}

function end(res: http.ServerResponse, status: number, text: string, headers: [string, string][] = []): void {
  for (const [k, v] of headers) res.setHeader(k, v);
  res.statusCode = status;
  res.setHeader('Content-Type', 'text/plain; charset=utf-8');
  res.end(`${text}\n`);
}
