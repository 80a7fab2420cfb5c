// Bucket definitions as operators write them for `bmeta -upload` (spec backrunner.md §10):
//
//   {"generic": {"acl": [{"user": "*", "token": "…", "flags": 1}], "flags": 0, "max-size": 0,
//                "max-key-num": 0, "groups": []},
//    "buckets": {"b1": {"groups": [1, 2]}, "b2": {"groups": [3, 4], "acl": [ … ]}}}
//
// Each bucket starts from a copy of `generic`; its own flags and limits override, its groups are
// appended, its ACL entries are added or replace the generic ones by user. Unlike the original, the
// generic ACL is copied per bucket (no ACL leaks from one bucket into the next) and any bad entry
// fails the whole file, naming the bucket and the field.

import { ConfigError, isPlainObject } from '../config/reader.js';
import { ACL_VERSION, BUCKET_VERSION, type AclEntry, type BucketMeta } from './metadata.js';

export function parseBucketDefinitions(doc: unknown): BucketMeta[] {
  if (!isPlainObject(doc)) throw new ConfigError('', 'the bucket definitions must be a JSON object');
  const template: BucketMeta = {
    version: BUCKET_VERSION,
    name: '',
    acl: new Map(),
    groups: [],
    flags: 0n,
    maxSize: 0,
    maxKeyNum: 0,
  };
  if (doc.generic !== undefined) applySection(template, doc.generic, 'generic');
  if (!isPlainObject(doc.buckets)) {
    throw new ConfigError('buckets', "there is no 'buckets' section in the metadata file, nothing to upload");
  }
  const out: BucketMeta[] = [];
  for (const [name, def] of Object.entries(doc.buckets)) {
    const at = `buckets.${name}`;
    if (name.trim() === '' || name !== name.trim() || name.includes('/')) throw new ConfigError(at, 'a bucket name must be non-empty, without surrounding spaces or "/"');
    const meta: BucketMeta = { ...template, name, acl: new Map(template.acl), groups: [...template.groups] };
    applySection(meta, def, at);
    if (meta.groups.length === 0) throw new ConfigError(`${at}.groups`, 'a bucket needs at least one group');
    if (new Set(meta.groups).size !== meta.groups.length) throw new ConfigError(`${at}.groups`, `lists a group twice: [${meta.groups.join(', ')}]`);
    out.push(meta);
  }
  if (out.length === 0) throw new ConfigError('buckets', 'is empty, nothing to upload');
  return out;
}

function applySection(meta: BucketMeta, def: unknown, at: string): void {
  if (!isPlainObject(def)) throw new ConfigError(at, 'must be an object');
  if (def.flags !== undefined) meta.flags = BigInt(uint(def.flags, `${at}.flags`));
  if (def['max-size'] !== undefined) meta.maxSize = uint(def['max-size'], `${at}.max-size`);
  if (def['max-key-num'] !== undefined) meta.maxKeyNum = uint(def['max-key-num'], `${at}.max-key-num`);
  if (def.groups !== undefined) {
    if (!Array.isArray(def.groups)) throw new ConfigError(`${at}.groups`, 'must be an array of group ids');
    def.groups.forEach((g, i) => {
      const n = uint(g, `${at}.groups[${i}]`);
      if (n === 0 || n > 0xffff_ffff) throw new ConfigError(`${at}.groups[${i}]`, 'must be a group id (1..2^32-1)');
      meta.groups.push(n);
    });
  }
  if (def.acl !== undefined) {
    if (!Array.isArray(def.acl)) throw new ConfigError(`${at}.acl`, 'must be an array of {"user", "token", "flags"}');
    def.acl.forEach((e, i) => {
      const entry = aclEntry(e, `${at}.acl[${i}]`);
      meta.acl.set(entry.user, entry);
    });
  }
}

function aclEntry(e: unknown, at: string): AclEntry {
  if (!isPlainObject(e)) throw new ConfigError(at, 'must be an object {"user", "token", "flags"}');
  if (typeof e.user !== 'string' || e.user === '') throw new ConfigError(`${at}.user`, 'must be a non-empty string');
  if (/[\s:]/.test(e.user)) throw new ConfigError(`${at}.user`, 'cannot contain spaces or ":" (the Authorization header could not name it)');
  if (typeof e.token !== 'string') throw new ConfigError(`${at}.token`, 'must be a string');
  return { version: ACL_VERSION, user: e.user, token: e.token, flags: BigInt(uint(e.flags, `${at}.flags`)) };
}

function uint(v: unknown, at: string): number {
  if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < 0) throw new ConfigError(at, 'must be a non-negative integer');
  return v;
}

/**
 * Definitions embedded in another config document at `field` (the proxy's `embedded.buckets`):
 * errors name the field inside that document. Undefined: none.
 */
export function parseDefinitionsAt(doc: unknown, field: string): BucketMeta[] {
  if (doc === undefined) return [];
  try {
    return parseBucketDefinitions(doc);
  } catch (err) {
    if (err instanceof ConfigError) throw new ConfigError(`${field}${err.field ? `.${err.field}` : ''}`, err.problem);
    throw err;
  }
}
