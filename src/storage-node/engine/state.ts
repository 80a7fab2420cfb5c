// What the parts of a backend share: its blob files, its index, the per-key lock, the mutation gate,
// and the sequence number that orders its records. The write path, removal, start-up and the
// housekeeping each work on this one state; Backend (backend.ts) owns it.

import { BlobSet, type BlobLimits } from './blob-set.js';
import { KeyIndex } from './key-index.js';
import { KeyLock } from './key-lock.js';
import { MutationGate } from './mutation-gate.js';

export class BackendState {
  readonly blobs: BlobSet;
  index: KeyIndex;
  readonly locks = new KeyLock();
  readonly gate = new MutationGate();
  /** Records found damaged (at start-up, or by a read). */
  recordsCorrupted = 0;
  /**
   * Drops the index snapshot: a change was made inside the region it covers (a removal in place), where
   * a start from it would not look. Set by the backend (housekeeping owns the snapshot).
   */
  invalidateSnapshot: () => Promise<void> = () => Promise.resolve();
  /** The highest sequence number handed out: the record of a key with the highest wins at start-up. */
  private seqNow = 0;

  constructor(
    readonly dir: string,
    limits: BlobLimits,
    /** Seconds a removal is remembered (0: for ever); older ones are forgotten. */
    readonly tombstoneTtl = 0,
  ) {
    this.blobs = new BlobSet(dir, limits);
    this.index = this.newIndex();
  }

  /** An empty index whose packed records name blobs of this backend by number. */
  newIndex(): KeyIndex {
    return new KeyIndex((i) => this.blobs.byIndex(i));
  }

  get seq(): number {
    return this.seqNow;
  }

  nextSeq(): number {
    return ++this.seqNow;
  }

  /** Start-up: sequence numbers continue after the highest one found on disk. */
  sawSeq(seq: number): void {
    if (seq > this.seqNow) this.seqNow = seq;
  }
}
