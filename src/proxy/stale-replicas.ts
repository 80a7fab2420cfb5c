// The replicas this worker must not read (the primary's word, see ipc/hints.ts): groups that missed
// a write or a removal acknowledged under the quorum, until their hint is delivered.

import { staleKey, type StaleReplicas } from '../ipc/hints.js';
import type { StaleSet } from '../elliptics/session.js';

export class StaleReplicaSet implements StaleSet {
  private readonly keys = new Set<string>();

  get size(): number {
    return this.keys.size;
  }

  has(id: Buffer, group: number): boolean {
    return this.keys.has(staleKey(id, group));
  }

  apply(m: StaleReplicas): void {
    if (m.reset) this.keys.clear();
    for (const k of m.add) this.keys.add(k);
    for (const k of m.drop) this.keys.delete(k);
  }
}
