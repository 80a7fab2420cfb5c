// One digest of a body given in parts: what the piscina hash threads compute (workers/hash-worker.ts)
// for bodies too big to hash on a worker's event loop.

import { createHash } from 'node:crypto';

export interface HashTask {
  algorithm: 'md5' | 'sha256' | 'sha512';
  parts: Uint8Array[];
  encoding?: 'base64' | 'hex';
}

export function digest(task: HashTask): string {
  const h = createHash(task.algorithm);
  for (const p of task.parts) h.update(p);
  return h.digest(task.encoding ?? 'base64');
}
