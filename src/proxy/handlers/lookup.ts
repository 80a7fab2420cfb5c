// GET /lookup/<bucket>/<key> and /redirect/<bucket>/<key> (spec backrunner.md §3.4–3.5, §7).

import { sign } from '../../buckets/signature.js';
import { formatEndpoint, parseEndpoint } from '../../elliptics/protocol/addr.js';
import type { GroupResult } from '../../elliptics/group-result.js';
import { readFailure } from '../../elliptics/session.js';
import { HttpError, storageHttpError } from '../errors.js';
import type { HeaderList } from '../http/exchange.js';
import { parseUint } from '../http/numbers.js';
import { parseRange, RangeError_ } from '../http/ranges.js';
import { lookupResultJson } from '../replies.js';
import type { Request } from '../request.js';

/** Parallel LOOKUP in every group; the successful results, or the storage error when none. */
async function lookupAll(req: Request): Promise<{ ok: GroupResult[]; id: Buffer }> {
  const { bucket, key } = await req.bucketAndKey('read');
  // Every group in parallel, each within read-attempt-timeout: a hung replica does not hold the answer.
  const session = req.session(bucket, { ioFlags: req.ctx.config.readerIoFlags, timeoutSeconds: req.ctx.config.readAttemptTimeout });
  const id = session.id(key);
  const results = await session.lookupId(id);
  req.noteGroups(results);
  const ok = results.filter((r) => r.status === 0 && r.info);
  if (ok.length === 0) throw storageHttpError(readFailure(results.flatMap((r) => r.error ?? []), 'lookup'));
  return { ok, id };
}

export async function lookup(req: Request): Promise<void> {
  const { ok, id } = await lookupAll(req);
  req.ex.end(200, [['Content-Type', 'application/json']], lookupResultJson(ok, id));
}

export async function redirect(req: Request): Promise<void> {
  const cfg = req.ctx.config;
  if (cfg.redirectPort < 1 || cfg.redirectPort > 65535) {
    throw new HttpError(503, `redirect is not allowed because of invalid redirect port ${cfg.redirectPort}`);
  }
  const { ok } = await lookupAll(req);
  const withFile = ok.filter((r) => r.info!.path !== '');
  if (withFile.length === 0) throw new HttpError(503, 'lookup returned invalid filename');
  const r = withFile[Math.floor(Math.random() * withFile.length)]!;
  const info = r.info!;
  let filename = info.path;
  if (cfg.redirectRoot && filename.startsWith(cfg.redirectRoot)) filename = filename.slice(cfg.redirectRoot.length);

  // Range (first range) wins over ?offset=/?size= here (spec §8.2).
  let offset = 0;
  let size = 0;
  try {
    const ranges = parseRange(req.ex.header('range') ?? '', info.size);
    if (ranges.length > 0) {
      offset = ranges[0]!.start;
      size = ranges[0]!.length;
    } else {
      for (const name of ['offset', 'size'] as const) {
        const text = req.query.get(name);
        if (text === undefined || text === '') continue;
        const n = parseUint(text, 53);
        if (n === undefined) throw new HttpError(400, `redirect: could not parse ${name} URI: ${JSON.stringify(text)}`);
        if (name === 'offset') offset = Number(n);
        else size = Number(n);
      }
    }
  } catch (err) {
    if (err instanceof RangeError_) throw new HttpError(400, `redirect: ${err.message}`);
    throw err;
  }
  if (offset >= info.size) throw new HttpError(400, `redirect: offset is beyond size of the object: offset: ${offset}, size: ${info.size}`);
  if (size === 0 || offset + size >= info.size) size = info.size - offset;

  const host = r.storage ? r.storage.host : parseEndpoint(r.address).host;
  const slash = filename.startsWith('/') ? '' : '/';
  const urlPath = `${slash}${filename}:${info.offset + offset}:${size}`;
  const url = `http://${formatEndpoint({ host, port: cfg.redirectPort })}${urlPath}`; // IPv6 in brackets (the original did not)
  const headers: HeaderList = [
    ['X-Ell-Mtime', String(info.mtime.sec)],
    ['X-Ell-Signtime', String(Math.floor(Date.now() / 1000))],
    ['X-Ell-Signature-Timeout', String(cfg.redirectSignatureTimeout)],
    ['X-Ell-File-Offset', String(info.offset)],
    ['X-Ell-Total-Size', String(info.size)],
    ['X-Ell-File', filename],
  ];
  // Signed: the six headers above and every configured X-Ell-* header (spec §7).
  const signedHeaders: HeaderList = [...Object.entries(cfg.headers).filter(([k]) => k.toLowerCase().startsWith('x-ell-')), ...headers];
  const signature = sign(cfg.redirectToken, { method: 'GET', signPath: urlPath, rawQuery: '', headers: signedHeaders });
  headers.push(['Authorization', signature], ['Location', url], ['Content-Type', 'text/html; charset=utf-8']);
  req.ex.end(302, headers, `<a href="${escapeHtml(url)}">Found</a>.\n\n`);
}

function escapeHtml(s: string): string {
  return s.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&#34;', "'": '&#39;' })[c]!);
}
