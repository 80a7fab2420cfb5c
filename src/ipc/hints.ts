// Hints: what a worker tells the primary when a write or a removal succeeded under the quorum but
// missed a group — the primary journals them and replays them once the group's node is back — and
// the stale replicas the primary tells every worker about meanwhile, so that a read never serves
// the version a group missed.

/** One group that missed a write or a removal of one key. */
export interface Hint {
  bucket: string;
  /** The key's id (64 bytes). */
  id: Uint8Array;
  group: number;
  op: 'write' | 'remove';
  /** When the write or the removal was made (its record timestamp). */
  sec: number;
  nsec: number;
}

/** Worker → primary: hints of one request; the primary answers with HintsAck once they are durable. */
export interface HintsMessage {
  type: 'hints';
  seq: number;
  hints: Hint[];
}

export interface HintsAck {
  type: 'hints-ack';
  seq: number;
  /** False: the journal is full (or hinted handoff is off); the hints were dropped. */
  stored: boolean;
}

/**
 * Primary → workers: replicas that hold an older state than was acknowledged, until their hint is
 * delivered. `reset` replaces the worker's whole set (a new worker, or a set too large to send).
 */
export interface StaleReplicas {
  type: 'stale';
  reset: boolean;
  add: string[];
  drop: string[];
}

/** The stale-replica key of (id, group): the id's first 16 bytes in hex and the group. */
export function staleKey(id: Uint8Array, group: number): string {
  return `${Buffer.from(id.buffer, id.byteOffset, 16).toString('hex')}:${group}`;
}
