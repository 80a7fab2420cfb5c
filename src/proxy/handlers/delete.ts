// POST|PUT|DELETE /delete/<bucket>/<key> and POST|PUT /bulk_delete/<bucket> (spec §3.6–3.7, with
// DESIGN §4: the HTTP DELETE method works, bulk bodies are bounded and validated, never a crash).

import { EllipticsError } from '../../elliptics/errors.js';
import { Errno } from '../../elliptics/protocol/constants.js';
import { HttpError, storageHttpError } from '../errors.js';
import { goJson } from '../replies.js';
import type { Request } from '../request.js';

export async function remove(req: Request): Promise<void> {
  const { bucket, key } = await req.bucketAndKey('write');
  const results = await req.session(bucket, { ioFlags: req.ctx.config.writerIoFlags, timeoutSeconds: req.ctx.config.writeAttemptTimeout }).remove(key);
  req.noteGroups(results);
  if (!results.some((r) => r.status === 0)) {
    // A group that had the key and failed to remove it says more than one that never had it.
    const failure = results.find((r) => r.status !== Errno.ENOENT)?.error ?? results[0]?.error ?? new EllipticsError(Errno.ENXIO, 'no group answered');
    throw storageHttpError(failure);
  }
  req.ex.end(200, []);
}

/** The body of /bulk_delete/: {"keys": ["k1", …]} with at least one key, all strings. */
export function parseBulkDeleteBody(body: Buffer): string[] {
  let doc: unknown;
  try {
    doc = JSON.parse(body.toString('utf8'));
  } catch (err) {
    throw new HttpError(400, `bulk_delete: could not parse input json: ${(err as Error).message}`);
  }
  if (typeof doc !== 'object' || doc === null || Array.isArray(doc)) throw new HttpError(400, 'bulk_delete: could not parse input json: the body must be a JSON object');
  const keys = (doc as Record<string, unknown>).keys;
  if (keys === undefined) throw new HttpError(400, "bulk_delete: there is no 'keys' array");
  if (!Array.isArray(keys)) throw new HttpError(400, "bulk_delete: 'keys' must be an array of strings");
  if (keys.length === 0) throw new HttpError(400, "bulk_delete: 'keys' array is empty");
  keys.forEach((k, i) => {
    if (typeof k !== 'string' || k === '') throw new HttpError(400, `bulk_delete: 'keys'[${i}] must be a non-empty string`);
  });
  return keys as string[];
}

export async function bulkRemove(req: Request): Promise<void> {
  const [bucketName] = req.params as [string];
  const keys = parseBulkDeleteBody(await req.smallBody('bulk_delete'));
  const bucket = await req.usableBucket(bucketName, 'write');
  const done = await req.session(bucket, { ioFlags: req.ctx.config.writerIoFlags, timeoutSeconds: req.ctx.config.writeAttemptTimeout }).bulkRemove(keys);
  const failures: Record<string, string> = {};
  for (const k of done) for (const r of k.results) if (r.status !== 0) failures[k.key] = `remove status: ${r.status}`;
  req.ex.end(200, [['Content-Type', 'application/json']], goJson(failures));
}
