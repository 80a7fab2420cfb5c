// Bucket metadata records as read from storage (msgpack, spec backrunner.md §9), mutated bytes and
// mutated values: each must decode or fail with a BucketMetaError; what decodes must encode again.

import { Packr } from 'msgpackr';
import { BucketMetaError, decodeBucketMeta, encodeBucketMeta, type BucketMeta } from '../../../src/buckets/metadata.js';
import { mutate } from '../mutate.js';
import type { Harness, Target } from '../target.js';

const SAMPLES: BucketMeta[] = [
  { version: 1, name: 'b1', acl: new Map([['*', { version: 2, user: '*', token: '', flags: 1n }], ['writer', { version: 2, user: 'writer', token: 'writer token', flags: 2n }]]), groups: [1, 2], flags: 0n, maxSize: 0, maxKeyNum: 0 },
  { version: 1, name: 'strict', acl: new Map([['u', { version: 2, user: 'u', token: 't', flags: 7n }]]), groups: [3, 4, 5], flags: 0x1000n, maxSize: 1 << 20, maxKeyNum: 10 },
  { version: 1, name: 'none', acl: new Map(), groups: [], flags: 0n, maxSize: 0, maxKeyNum: 0 },
];

const packr = new Packr({ useRecords: false, mapsAsObjects: false, variableMapSize: true });
const EDGES: readonly unknown[] = [null, true, -1, 0, 2 ** 32, 2 ** 64, 1.5, '', 'x', [], [1], new Map(), new Map([[1, 2]]), Buffer.alloc(3), -(2 ** 63)];

export const bucketMetaTarget: Target = {
  name: 'bucket-meta',
  description: 'bucket metadata records (mutated msgpack) → a BucketMetaError or a bucket',
  async start(): Promise<Harness> {
    const records = SAMPLES.map((m) => encodeBucketMeta(m));
    return {
      make(rng) {
        const base = rng.pick(records);
        if (rng.chance(0.5)) return mutate(rng, base, records);
        // Value-level: one element of the record (or of its ACL) replaced.
        const value = packr.unpack(base) as unknown[];
        const at = rng.int(value.length);
        value[at] = rng.pick(EDGES);
        return packr.pack(value);
      },
      async check(input) {
        let meta: BucketMeta;
        try {
          meta = decodeBucketMeta('fuzz', input);
        } catch (err) {
          return err instanceof BucketMetaError ? undefined : `${(err as Error).name}: ${(err as Error).message}`;
        }
        try {
          encodeBucketMeta(meta);
          if (!meta.groups.every((g) => Number.isInteger(g) && g > 0)) return `decoded groups ${String(meta.groups)}`;
        } catch (err) {
          return `decoded, but could not encode again: ${(err as Error).message}`;
        }
        return undefined;
      },
      async close() {},
    };
  },
};
