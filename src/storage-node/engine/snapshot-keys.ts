// The committed records an index snapshot named, left packed in the snapshot's bytes until each is
// touched: a start with a million records fills one open-addressing table of entry numbers instead
// of building a million objects and map entries. The key index takes a record out (and makes it an
// ordinary entry) the first time a read, write, remove or compaction asks for its key.

import { idHash, type SnapshotEntries, type SnapshotEntry } from './index-snapshot.js';

export class SnapshotKeys {
  /**
   * Per slot two words, side by side so that a probe touches one cache line: entry number + 1
   * (0 = empty) and the id's hash. Taken entries keep their slot so probes pass over them.
   */
  private readonly slots: Uint32Array;
  private readonly mask: number;
  /** 1 once the entry was taken out (or was never in: prepared, or a duplicate id). */
  private readonly taken: Uint8Array;
  /** Entries not taken out yet. */
  live = 0;

  /** `members`: the entry numbers to index (the committed ones). */
  constructor(
    private readonly entries: SnapshotEntries,
    members: readonly number[],
  ) {
    let size = 16;
    while (size < members.length * 2) size *= 2;
    this.slots = new Uint32Array(size * 2);
    this.mask = size - 1;
    this.taken = new Uint8Array(entries.count).fill(1);
    for (const n of members) this.insert(n);
  }

  private insert(n: number): void {
    const h = this.entries.hash(n);
    const slots = this.slots;
    for (let i = h & this.mask; ; i = (i + 1) & this.mask) {
      const m = slots[2 * i]! - 1;
      if (m < 0) {
        slots[2 * i] = n + 1;
        slots[2 * i + 1] = h;
        this.taken[n] = 0;
        this.live++;
        return;
      }
      if (slots[2 * i + 1] === h && this.entries.sameId(n, m)) return; // a duplicate id: the first one stands
    }
  }

  /** Takes out the entry of `id`: its number, or -1 when the snapshot has none left for it. */
  take(id: Buffer): number {
    const m = this.find(id);
    if (m >= 0) {
      this.taken[m] = 1;
      this.live--;
    }
    return m;
  }

  /** The entry of `id` not taken out yet, left in place: its number, or -1. */
  find(id: Buffer): number {
    const h = idHash(id);
    const slots = this.slots;
    for (let i = h & this.mask; ; i = (i + 1) & this.mask) {
      const m = slots[2 * i]! - 1;
      if (m < 0) return -1;
      if (slots[2 * i + 1] === h && this.taken[m] === 0 && this.entries.idEquals(m, id)) return m;
    }
  }

  entry(n: number): SnapshotEntry {
    return this.entries.entry(n);
  }

  /**
   * The entries not taken out as of now, to be read later: what is taken meanwhile has moved into
   * the key index's map, whose own capture holds it.
   */
  freeze(): { count: number; entries: IterableIterator<SnapshotEntry> } {
    return { count: this.live, entries: this.remainingOf(this.taken.slice()) };
  }

  /** The entries not taken out in `taken`, decoded one by one (they stay packed). */
  private *remainingOf(taken: Uint8Array): IterableIterator<SnapshotEntry> {
    for (let n = 0; n < taken.length; n++) if (taken[n] === 0) yield this.entries.entry(n);
  }

  /** Entry numbers not taken out as of now (a walk's list of them). */
  remaining(): number[] {
    const out: number[] = [];
    for (let n = 0; n < this.taken.length; n++) if (this.taken[n] === 0) out.push(n);
    return out;
  }

  /** Whether entry `n` is still packed (not taken out). */
  isLive(n: number): boolean {
    return this.taken[n] === 0;
  }
}
