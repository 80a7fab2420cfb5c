// A walk over a backend's keys (what ITERATOR reports): the keys are captured when it starts and
// looked up one by one as the walk reaches them, so every key live at the start is reported once,
// as it is when reached — a record moved by a compaction meanwhile is found where it is now, one
// overwritten is reported in its new version, one removed is skipped (or reported as a removal). Keys
// written after the start are not part of the walk. The capture costs one pointer per key; records
// still packed in an index snapshot are read in place, never unpacked.

import type { KeyRange } from '../../elliptics/protocol/iterator.js';
import type { KeyIndex, KeyState, RecordRef } from './key-index.js';

export type WalkedKind = 'committed' | 'pending' | 'removed';

export interface WalkedRecord {
  ref: RecordRef;
  kind: WalkedKind;
}

export interface WalkOptions {
  /** Keys inside any of these (inclusive, memcmp order); none: every key. */
  ranges: readonly KeyRange[];
  /** Report remembered removals too. */
  removed: boolean;
}

export class KeyWalk {
  /** Records of the keys captured at the start (committed + prepared, and removals when asked). */
  readonly total: number;
  /** Keys passed so far (reported or not). */
  passed = 0;
  private readonly keys: string[];
  /** Settled keys' ids, 64 bytes each. */
  private readonly ids: Buffer;
  private readonly packed: number[];
  private at = 0;

  constructor(
    private readonly index: KeyIndex,
    private readonly opts: WalkOptions,
  ) {
    const captured = index.walkKeys();
    this.keys = captured.keys;
    this.ids = captured.ids;
    this.packed = captured.packed;
    const counts = index.counts();
    this.total = counts.committed + counts.pending + (opts.removed ? counts.removed : 0);
  }

  private get length(): number {
    return this.keys.length + this.ids.length / 64 + this.packed.length;
  }

  get done(): boolean {
    return this.at >= this.length;
  }

  /** The records of the next `maxKeys` keys (fewer at the end); [] once done. */
  next(maxKeys: number): WalkedRecord[] {
    const out: WalkedRecord[] = [];
    const end = Math.min(this.at + maxKeys, this.length);
    const settled = this.ids.length / 64;
    for (; this.at < end; this.at++) {
      const i = this.at;
      const j = i - this.keys.length;
      const st: KeyState | undefined = j < 0
        ? this.index.walkState({ key: this.keys[i]! })
        : j < settled
          ? this.index.walkState({ id: this.ids.subarray(64 * j, 64 * j + 64) })
          : this.index.walkState({ packed: this.packed[j - settled]! });
      this.passed++;
      if (!st) continue;
      const id = (st.committed ?? st.pending ?? st.removed)?.header.id;
      if (!id || !this.inRanges(id)) continue;
      if (st.committed) out.push({ ref: st.committed, kind: 'committed' });
      if (st.pending) out.push({ ref: st.pending, kind: 'pending' });
      if (this.opts.removed && st.removed && !st.committed) out.push({ ref: st.removed, kind: 'removed' });
    }
    return out;
  }

  private inRanges(id: Buffer): boolean {
    if (this.opts.ranges.length === 0) return true;
    for (const r of this.opts.ranges) if (Buffer.compare(id, r.begin) >= 0 && Buffer.compare(id, r.end) <= 0) return true;
    return false;
  }
}

