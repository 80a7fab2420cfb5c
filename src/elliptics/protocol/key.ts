// Key → id (spec §3.1): SHA-512(namespace ‖ 0x00 ‖ key) with a namespace, SHA-512(key) without.
// The group is not part of the hash: the same id addresses every replica.

import { createHash } from 'node:crypto';
import { ID_SIZE } from './constants.js';

const NUL = Buffer.from([0]);

export function keyToId(key: string | Buffer, namespace?: string | Buffer): Buffer {
  const h = createHash('sha512');
  if (namespace !== undefined && namespace.length > 0) h.update(namespace).update(NUL);
  return h.update(key).digest();
}

export function idToHex(id: Buffer): string {
  return id.toString('hex');
}

/** Byte-wise comparison of two 64-byte ids (the ring order). */
export function compareIds(a: Buffer, b: Buffer): number {
  return Buffer.compare(a.subarray(0, ID_SIZE), b.subarray(0, ID_SIZE));
}
