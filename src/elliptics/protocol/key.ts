// Key → id (spec §3.1): SHA-512(namespace ‖ 0x00 ‖ key) with a namespace, SHA-512(key) without.
// The group is not part of the hash: the same id addresses every replica.

import { hash } from 'node:crypto';
import { ID_SIZE } from './constants.js';

const NUL = Buffer.from([0]);

// One-shot hashing: every request hashes its key, and crypto.hash skips the Hash object.
export function keyToId(key: string | Buffer, namespace?: string | Buffer): Buffer {
  if (namespace === undefined || namespace.length === 0) return hash('sha512', key, 'buffer');
  if (typeof key === 'string' && typeof namespace === 'string') return hash('sha512', `${namespace}\0${key}`, 'buffer');
  return hash('sha512', Buffer.concat([Buffer.from(namespace), NUL, Buffer.from(key)]), 'buffer');
}

export function idToHex(id: Buffer): string {
  return id.toString('hex');
}

/** Byte-wise comparison of two 64-byte ids (the ring order). */
export function compareIds(a: Buffer, b: Buffer): number {
  return a.compare(b, 0, ID_SIZE, 0, ID_SIZE);
}
