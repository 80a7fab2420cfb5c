// Bucket metadata as stored in Elliptics (spec backrunner.md §9.2): a msgpack array of 10 elements
//
//   [version=1, name, {user: [acl_version, user, token, flags]}, [groups…], flags, max_size,
//    max_key_num, 0, 0, 0]
//
// written byte for byte as the Go original writes it and read from any msgpack integer width.

import { Unpackr } from 'msgpackr';
import { MsgpackWriter } from './msgpack-writer.js';

export const BUCKET_VERSION = 1;
/** ACL entries parsed from JSON (bmeta) carry version 2, as the original writes them. */
export const ACL_VERSION = 2;

export const AclFlags = {
  /** Skip the signature check for this user (typical for `*`). */
  NO_TOKEN: 1n,
  /** May upload, delete, bulk-delete. */
  WRITE: 2n,
  /** Control endpoints (defined, not used by the original). */
  ADMIN: 4n,
} as const;

export const BucketFlags = {
  /**
   * Signed requests must carry X-Ell-Date within the allowed skew, and uploads X-Ell-Content-SHA256
   * of their body (ours, DESIGN §4.16; the original stored bucket flags without meaning). A high bit,
   * so no bucket written by the original's tools turns strict by accident.
   */
  STRICT_SIGNATURES: 0x1000n,
} as const;

export interface AclEntry {
  version: number;
  user: string;
  /** The HMAC key of this user. Never logged, never printed. */
  token: string;
  flags: bigint;
}

export interface BucketMeta {
  version: number;
  name: string;
  /** In the order the entries were given / stored. */
  acl: Map<string, AclEntry>;
  groups: number[];
  flags: bigint;
  maxSize: number;
  maxKeyNum: number;
}

/** A bucket record that cannot be used; the message names the bucket and the field. */
export class BucketMetaError extends Error {
  constructor(
    readonly bucket: string,
    readonly field: string,
    problem: string,
  ) {
    super(`bucket ${bucket}: ${field}: ${problem}`);
    this.name = 'BucketMetaError';
  }
}

export function encodeBucketMeta(meta: BucketMeta): Buffer {
  const w = new MsgpackWriter().array(10).int(meta.version).str(meta.name).map(meta.acl.size);
  for (const [user, e] of meta.acl) w.str(user).array(4).int(e.version).str(e.user).str(e.token).uint(e.flags);
  w.array(meta.groups.length);
  for (const g of meta.groups) w.uint(g);
  return w.uint(meta.flags).uint(meta.maxSize).uint(meta.maxKeyNum).uint(0).uint(0).uint(0).bytes();
}

const unpackr = new Unpackr({ mapsAsObjects: false, useRecords: false, int64AsType: 'bigint' });

/**
 * Decodes and validates a stored record. `name` is the bucket that was asked for: the in-memory
 * name comes from it, not from element 1 (as in the original).
 */
export function decodeBucketMeta(name: string, bytes: Buffer): BucketMeta {
  let value: unknown;
  try {
    value = unpackr.unpack(bytes);
  } catch (err) {
    throw new BucketMetaError(name, 'record', `not valid msgpack: ${(err as Error).message}`);
  }
  if (!Array.isArray(value)) throw new BucketMetaError(name, 'record', 'must be a msgpack array');
  if (value.length !== 10) throw new BucketMetaError(name, 'record', `must have 10 elements, has ${value.length}`);
  const version = int(name, 'version', value[0]);
  if (version !== BUCKET_VERSION) throw new BucketMetaError(name, 'version', `must be ${BUCKET_VERSION}, is ${version}`);
  if (typeof value[1] !== 'string') throw new BucketMetaError(name, 'name', 'must be a string');
  const acl = new Map<string, AclEntry>();
  const rawAcl = value[2];
  if (rawAcl !== null && rawAcl !== undefined) {
    if (!(rawAcl instanceof Map)) throw new BucketMetaError(name, 'acl', 'must be a map of user → entry');
    for (const [user, entry] of rawAcl) {
      const at = `acl[${JSON.stringify(String(user))}]`;
      if (typeof user !== 'string') throw new BucketMetaError(name, at, 'user name must be a string');
      if (!Array.isArray(entry) || entry.length < 4) throw new BucketMetaError(name, at, 'must be [version, user, token, flags]');
      if (typeof entry[1] !== 'string') throw new BucketMetaError(name, `${at}.user`, 'must be a string');
      if (typeof entry[2] !== 'string') throw new BucketMetaError(name, `${at}.token`, 'must be a string');
      acl.set(user, { version: int(name, `${at}.version`, entry[0]), user: entry[1], token: entry[2], flags: uint64(name, `${at}.flags`, entry[3]) });
    }
  }
  const rawGroups = value[3];
  let groups: number[] = [];
  if (rawGroups !== null && rawGroups !== undefined) {
    if (!Array.isArray(rawGroups)) throw new BucketMetaError(name, 'groups', 'must be an array of group ids');
    groups = rawGroups.map((g, i) => {
      const n = int(name, `groups[${i}]`, g);
      if (n <= 0 || n > 0xffff_ffff) throw new BucketMetaError(name, `groups[${i}]`, `must be a group id (1..2^32-1), is ${n}`);
      return n;
    });
  }
  return {
    version,
    name,
    acl,
    groups,
    flags: uint64(name, 'flags', value[4]),
    maxSize: size(name, 'max-size', value[5]),
    maxKeyNum: size(name, 'max-key-num', value[6]),
  };
}

function int(bucket: string, field: string, v: unknown): number {
  if (typeof v === 'number' && Number.isSafeInteger(v)) return v;
  if (typeof v === 'bigint' && v <= BigInt(Number.MAX_SAFE_INTEGER) && v >= BigInt(Number.MIN_SAFE_INTEGER)) return Number(v);
  throw new BucketMetaError(bucket, field, 'must be an integer');
}

/** An unsigned field the proxy computes with (uint64 in the original; beyond 2^53 no limit is meant). */
function size(bucket: string, field: string, v: unknown): number {
  const n = int(bucket, field, v);
  if (n < 0) throw new BucketMetaError(bucket, field, `must not be negative, is ${n}`);
  return n;
}

function uint64(bucket: string, field: string, v: unknown): bigint {
  if (typeof v === 'number' && Number.isSafeInteger(v) && v >= 0) return BigInt(v);
  if (typeof v === 'bigint' && v >= 0n) return v;
  throw new BucketMetaError(bucket, field, 'must be an unsigned integer');
}

/**
 * The description line of bmeta and the proxy logs (spec §10), with tokens masked:
 * `b1: version: 1, groups: [1 2], acl: [*:****:0x1 writer:****:0x2], flags: 0x0, max-size: 0, max-key-num: 0`
 */
export function describeBucket(meta: BucketMeta): string {
  const acl = [...meta.acl.values()].map((e) => `${e.user}:${e.token === '' ? '' : '****'}:0x${e.flags.toString(16)}`).join(' ');
  return `${meta.name}: version: ${meta.version}, groups: [${meta.groups.join(' ')}], acl: [${acl}], flags: 0x${meta.flags.toString(16)}, max-size: ${meta.maxSize}, max-key-num: ${meta.maxKeyNum}`;
}
