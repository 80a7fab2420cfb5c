// `sync`, as the node config and the proxy's `embedded` section both write it: "always" (fsync
// before every acknowledgement) or seconds between fsyncs (0 leaves flushing to the kernel).

import type { Section } from './reader.js';

export type SyncPolicy = 'always' | number;

export const DEFAULT_SYNC: SyncPolicy = 1;

export function syncPolicy(s: Section): SyncPolicy {
  const v = s.raw('sync');
  if (v === undefined || v === null) return DEFAULT_SYNC;
  if (v === 'always') return 'always';
  if (typeof v === 'number' && Number.isSafeInteger(v) && v >= 0) return v;
  return s.fail('sync', 'must be "always" or a number of seconds between fsyncs (0 leaves flushing to the kernel)');
}
