// POST|PUT|DELETE /delete/<bucket>/<key> and POST|PUT /bulk_delete/<bucket> (spec §3.6–3.7, with
// DESIGN §4: the HTTP DELETE method works, bulk bodies are bounded and validated, never a crash).

import { EllipticsError } from '../../elliptics/errors.js';
import { Errno } from '../../elliptics/protocol/constants.js';
import { timeNow } from '../../elliptics/protocol/time.js';
import { missedGroups } from '../hint-reporter.js';
import { HttpError, storageHttpError } from '../errors.js';
import { goJson } from '../replies.js';
import type { Request } from '../request.js';

export async function remove(req: Request): Promise<void> {
  const { bucket, key } = await req.bucketAndKey('write');
  const session = req.session(bucket, { ioFlags: req.ctx.config.writerIoFlags, timeoutSeconds: req.ctx.config.writeAttemptTimeout });
  // The removal's time goes with it: our nodes remember it, so a replica that missed it cannot win.
  const timestamp = timeNow();
  const results = await session.remove(key, { timestamp });
  req.noteGroups(results);
  if (!results.some((r) => r.status === 0)) {
    // A group that had the key and failed to remove it says more than one that never had it.
    const failure = results.find((r) => r.status !== Errno.ENOENT)?.error ?? results[0]?.error ?? new EllipticsError(Errno.ENXIO, 'no group answered');
    throw storageHttpError(failure);
  }
  if (req.ctx.config.hintedHandoff) await req.ctx.hints.report(bucket.name, session.id(key), missedGroups(results, 'remove'), 'remove', timestamp);
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
  const timestamp = timeNow();
  const done = await req.session(bucket, { ioFlags: req.ctx.config.writerIoFlags, timeoutSeconds: req.ctx.config.writeAttemptTimeout }).bulkRemove(keys, { timestamp });
  const failures: Record<string, string> = {};
  for (const k of done) for (const r of k.results) if (r.status !== 0) failures[k.key] = `remove status: ${r.status}`;
  if (req.ctx.config.hintedHandoff) {
    // Removed somewhere and missed elsewhere: those groups get the removal later.
    const hinted = done.filter((k) => k.results.some((r) => r.status === 0));
    await Promise.all(hinted.map((k) => req.ctx.hints.report(bucket.name, k.id, missedGroups(k.results, 'remove'), 'remove', timestamp)));
  }
  req.ex.end(200, [['Content-Type', 'application/json']], goJson(failures));
}
