// Where bucket metadata lives: the metadata groups, namespace "bucket", key = bucket name
// (spec backrunner.md §9.2). Also the raw keys of that namespace: the bucket list and a stored
// proxy config.

import { readFile } from 'node:fs/promises';
import type { Cluster } from '../elliptics/cluster.js';
import { EllipticsError } from '../elliptics/errors.js';
import type { GroupResult } from '../elliptics/group-result.js';
import { Session } from '../elliptics/session.js';
import { Errno } from '../elliptics/protocol/constants.js';
import { decodeBucketMeta, encodeBucketMeta, type BucketMeta } from './metadata.js';

export const METADATA_NAMESPACE = 'bucket';

export class MetadataStore {
  readonly session: Session;

  constructor(cluster: Cluster, readonly groups: readonly number[], timeoutMs?: number) {
    this.session = new Session(cluster, { namespace: METADATA_NAMESPACE, groups, ...(timeoutMs ? { timeoutMs } : {}) });
  }

  /** Reads a key of the namespace from the metadata groups, first group that has it wins. */
  async readRaw(key: string): Promise<Buffer> {
    try {
      return (await this.session.read(key)).data;
    } catch (err) {
      if (!(err instanceof EllipticsError)) throw err;
      const where = `namespace "${METADATA_NAMESPACE}" of metadata groups ${this.groups.join(', ')} (elliptics.metadata-groups)`;
      throw new EllipticsError(err.status, err.status === Errno.ENOENT ? `no key "${key}" in the ${where}` : `key "${key}" could not be read from the ${where}: ${err.message}`);
    }
  }

  /** Writes to every metadata group; succeeds when at least one group stored it (as the original). */
  async writeRaw(key: string, data: Buffer): Promise<GroupResult[]> {
    const results = await this.session.write(key, data);
    if (!results.some((r) => r.status === 0)) {
      const last = results[results.length - 1]!;
      throw last.error ?? new EllipticsError(Errno.EIO, `write of ${key} failed in every metadata group`);
    }
    return results;
  }

  /** Reads and validates a bucket; throws EllipticsError (storage) or BucketMetaError (content). */
  async readBucket(name: string): Promise<BucketMeta> {
    return decodeBucketMeta(name, await this.readRaw(name));
  }

  writeBucket(meta: BucketMeta): Promise<GroupResult[]> {
    return this.writeRaw(meta.name, encodeBucketMeta(meta));
  }

  /**
   * The bucket list: from `key` in storage when configured and present, else from `file`.
   * Lines are trimmed; empty lines and `#` comments are skipped (the original kept `\r` and spaces).
   */
  async readBucketList(source: { key?: string; file?: string }): Promise<string[]> {
    if (source.key) {
      try {
        const names = parseBucketList((await this.readRaw(source.key)).toString('utf8'));
        if (names.length > 0 || !source.file) return names;
      } catch (err) {
        if (!source.file) throw err;
      }
    }
    if (!source.file) return [];
    return parseBucketList(await readBucketListFile(source.file));
  }
}

/** The text of a bucket-list file; the error names the file and the flag that gave it. */
export async function readBucketListFile(file: string): Promise<string> {
  try {
    return await readFile(file, 'utf8');
  } catch (err) {
    const e = err as NodeJS.ErrnoException;
    throw new Error(`cannot read the bucket-list file ${file} (--buckets): ${e.code === 'ENOENT' ? 'no such file' : e.code ?? e.message}`);
  }
}

export function parseBucketList(text: string): string[] {
  const names: string[] = [];
  for (const line of text.split('\n')) {
    const name = line.trim();
    if (name === '' || name.startsWith('#')) continue;
    if (!names.includes(name)) names.push(name);
  }
  return names;
}
