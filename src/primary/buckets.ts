// The primary's view of buckets: the bucket list, each bucket's metadata, and (for the embedded
// default) the example buckets created when their metadata is missing.

import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { EllipticsError } from '../elliptics/errors.js';
import { Errno } from '../elliptics/protocol/constants.js';
import { describeBucket, type BucketMeta } from '../buckets/metadata.js';
import type { MetadataStore } from '../buckets/metadata-store.js';
import type { Logger } from '../util/logger.js';

/**
 * Uploads the definitions whose bucket does not exist yet. For each ACL user of what it uploads it
 * writes `<tokenDir>/<user>.token` (mode 0600), so `backrunner sign --token-file` works at once.
 */
export async function ensureBuckets(store: MetadataStore, defs: readonly BucketMeta[], tokenDir: string, log: Logger): Promise<string[]> {
  const created: string[] = [];
  for (const meta of defs) {
    try {
      await store.readBucket(meta.name);
      continue;
    } catch (err) {
      if (!(err instanceof EllipticsError && err.status === Errno.ENOENT)) {
        log.warn({ bucket: meta.name, err: (err as Error).message }, 'bucket metadata unreadable; not overwriting it');
        continue;
      }
    }
    await store.writeBucket(meta);
    created.push(meta.name);
    log.info({ bucket: meta.name }, `bucket created: ${describeBucket(meta)}`);
    mkdirSync(tokenDir, { recursive: true, mode: 0o700 });
    for (const e of meta.acl.values()) {
      if (e.token !== '') writeFileSync(path.join(tokenDir, `${e.user.replace(/[^\w.-]/g, '_')}.token`), e.token, { mode: 0o600 });
    }
  }
  if (created.length > 0) log.info({ buckets: created, tokens: tokenDir }, 'created the example buckets (their tokens are in the token directory)');
  return created;
}

export interface LoadedBuckets {
  buckets: BucketMeta[];
  failed: string[];
}

/** Reads every listed bucket; unreadable ones are logged and skipped (the original's behaviour). */
export async function loadBuckets(store: MetadataStore, names: readonly string[], log: Logger): Promise<LoadedBuckets> {
  const buckets: BucketMeta[] = [];
  const failed: string[] = [];
  await Promise.all(names.map(async (name) => {
    try {
      buckets.push(await store.readBucket(name));
    } catch (err) {
      failed.push(name);
      log.error({ bucket: name, err: (err as Error).message }, 'could not read bucket metadata; bucket skipped');
    }
  }));
  buckets.sort((a, b) => names.indexOf(a.name) - names.indexOf(b.name));
  for (const b of buckets) {
    if (b.acl.size === 0) log.warn({ bucket: b.name }, 'bucket has an empty ACL: nobody may use it (an open bucket lists "*")');
    if (b.groups.length === 0) log.warn({ bucket: b.name }, 'bucket has no groups: requests to it are refused');
  }
  return { buckets, failed };
}
