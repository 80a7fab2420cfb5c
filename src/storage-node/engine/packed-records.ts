// Committed records of keys nobody touched for a while, kept packed: one growable arena of fixed-size
// entries (the index snapshot's entry layout, with room for one inline CRC) and an open-addressing
// table of entry numbers. A record costs ~150 bytes here instead of ~1.5 KB as objects (a map entry,
// the key string, the state, the reference, the header, the id buffer, the CRC array), which is what
// bounds a node's memory by the keys it serves rather than by the keys it holds. The key index moves
// keys in here when they settle and out again the moment anything asks for one.

import { idHash, type SnapshotEntry } from './index-snapshot.js';
import { readHeaderNumbers, readNum, writeHeaderNumbers, writeNum } from './record.js';

/** id[64] u32 blob index, u32 flags, u64 offset, header numbers (80..128), u32 CRC count, u32 inline CRC. */
const STRIDE = 136;
const NO_CRCS = 0xffff_ffff;

/** A record as the index snapshot names one: which blob, where in it, its header and chunk CRCs. */
export type PackedRecord = SnapshotEntry;

export class PackedRecords {
  private arena = Buffer.alloc(0);
  /** Entries the arena has room for. */
  private capacity = 0;
  /** Entries ever handed out (the arena's high-water mark); freed ones are reused first. */
  private top = 0;
  private readonly free: number[] = [];
  /** 1 while an entry holds a record. */
  private inUse = new Uint8Array(0);
  /** CRCs of records of more than one chunk, by entry (most media records are; they are few per byte). */
  private readonly manyCrcs = new Map<number, Uint32Array>();
  /** Per slot: entry number + 1 (0 = empty) and the id's hash, side by side (one cache line per probe). */
  private slots = new Uint32Array(32);
  private mask = 15;
  /** Records held. */
  live = 0;

  /** The entry holding `id`'s record, or -1. */
  find(id: Buffer): number {
    const slot = this.slotOf(id, idHash(id));
    return slot < 0 ? -1 : this.slots[2 * slot]! - 1;
  }

  record(n: number): PackedRecord {
    return decodeEntry(this.arena, this.manyCrcs, n);
  }

  blobIndexOf(n: number): number {
    return this.arena.readUInt32LE(n * STRIDE + 64);
  }

  offsetOf(n: number): number {
    return readNum(this.arena, n * STRIDE + 72);
  }

  /** Moves a record within the files (a compaction): same key, same header, another place. */
  relocate(n: number, blobIndex: number, offset: number): void {
    this.arena.writeUInt32LE(blobIndex, n * STRIDE + 64);
    writeNum(this.arena, n * STRIDE + 72, offset);
  }

  /** Packs `id`'s record; the caller has made sure the table holds none for it. */
  add(r: PackedRecord): void {
    const n = this.free.pop() ?? this.grow();
    const at = n * STRIDE;
    const a = this.arena;
    r.header.id.copy(a, at, 0, 64);
    a.writeUInt32LE(r.blobIndex, at + 64);
    a.writeUInt32LE(r.header.flags, at + 68);
    writeNum(a, at + 72, r.offset);
    writeHeaderNumbers(a, at, r.header);
    const crcs = r.crcs;
    a.writeUInt32LE(crcs ? crcs.length : NO_CRCS, at + 128);
    if (crcs?.length === 1) a.writeUInt32LE(crcs[0]!, at + 132);
    else if (crcs && crcs.length !== 1) this.manyCrcs.set(n, crcs);
    this.inUse[n] = 1;
    this.live++;
    this.place(n, idHash(r.header.id));
    if (this.live * 2 > this.mask + 1) this.rehash((this.mask + 1) * 2);
  }

  /** Takes entry `n` out (its record moved back into objects, or went). */
  remove(n: number): void {
    const at = n * STRIDE;
    const id = this.arena.subarray(at, at + 64);
    let slot = this.slotOf(id, idHash(id));
    if (slot < 0) throw new Error(`packed record ${n} is not in the table`);
    this.inUse[n] = 0;
    this.manyCrcs.delete(n);
    this.free.push(n);
    this.live--;
    // Backward-shift deletion: later members of the probe run move up, so no tombstones pile up.
    const s = this.slots;
    const mask = this.mask;
    for (let j = (slot + 1) & mask; s[2 * j] !== 0; j = (j + 1) & mask) {
      const home = s[2 * j + 1]! & mask;
      // Entry j may fill the hole when its home does not lie cyclically in (slot, j].
      const between = slot <= j ? home > slot && home <= j : home > slot || home <= j;
      if (between) continue;
      s[2 * slot] = s[2 * j]!;
      s[2 * slot + 1] = s[2 * j + 1]!;
      slot = j;
    }
    s[2 * slot] = 0;
    s[2 * slot + 1] = 0;
  }

  /** The ids of every record as of now, 64 bytes each in one buffer (a walk's list of keys). */
  ids(): Buffer {
    const out = Buffer.allocUnsafe(this.live * 64);
    let k = 0;
    for (let n = 0; n < this.top; n++) if (this.inUse[n] === 1) this.arena.copy(out, 64 * k++, n * STRIDE, n * STRIDE + 64);
    return out;
  }

  /** Every record as of now, decoded later one by one (an index snapshot writes them while the table changes). */
  freeze(): { count: number; entries: IterableIterator<SnapshotEntry> } {
    const arena = Buffer.from(this.arena.subarray(0, this.top * STRIDE));
    const inUse = this.inUse.slice(0, this.top);
    const many = new Map(this.manyCrcs);
    function* entries(): IterableIterator<SnapshotEntry> {
      for (let n = 0; n < inUse.length; n++) if (inUse[n] === 1) yield decodeEntry(arena, many, n);
    }
    return { count: this.live, entries: entries() };
  }

  private slotOf(id: Buffer, h: number): number {
    const s = this.slots;
    const mask = this.mask;
    for (let i = h & mask; ; i = (i + 1) & mask) {
      const m = s[2 * i]!;
      if (m === 0) return -1;
      if (s[2 * i + 1] === h && id.compare(this.arena, (m - 1) * STRIDE, (m - 1) * STRIDE + 64, 0, 64) === 0) return i;
    }
  }

  private place(n: number, h: number): void {
    const s = this.slots;
    const mask = this.mask;
    let i = h & mask;
    while (s[2 * i] !== 0) i = (i + 1) & mask;
    s[2 * i] = n + 1;
    s[2 * i + 1] = h;
  }

  private rehash(size: number): void {
    const old = this.slots;
    this.slots = new Uint32Array(size * 2);
    this.mask = size - 1;
    for (let i = 0; i < old.length; i += 2) if (old[i] !== 0) this.place(old[i]! - 1, old[i + 1]!);
  }

  /**
   * Room for `count` records in all, made at once: packing a million keys after a full scan grows the
   * arena and the table once instead of some thirty times (each a large allocation that makes V8
   * collect a heap still holding the million objects).
   */
  reserve(count: number): void {
    if (count > this.capacity) this.resize(count);
    let size = this.mask + 1;
    while (count * 2 > size) size *= 2;
    if (size !== this.mask + 1) this.rehash(size);
  }

  /** A new entry at the top, the arena grown by half when full (less slack than doubling; copies are rare). */
  private grow(): number {
    if (this.top === this.capacity) this.resize(Math.max(1024, Math.ceil(this.capacity * 1.5)));
    return this.top++;
  }

  private resize(capacity: number): void {
    this.capacity = capacity;
    const arena = Buffer.alloc(capacity * STRIDE);
    this.arena.copy(arena);
    this.arena = arena;
    const inUse = new Uint8Array(capacity);
    inUse.set(this.inUse);
    this.inUse = inUse;
  }
}

function decodeEntry(a: Buffer, manyCrcs: ReadonlyMap<number, Uint32Array>, n: number): PackedRecord {
  const at = n * STRIDE;
  const count = a.readUInt32LE(at + 128);
  return {
    blobIndex: a.readUInt32LE(at + 64),
    offset: readNum(a, at + 72),
    header: readHeaderNumbers(a, at, Buffer.from(a.subarray(at, at + 64)), a.readUInt32LE(at + 68)),
    crcs: count === 1 ? Uint32Array.of(a.readUInt32LE(at + 132)) : count === NO_CRCS ? undefined : manyCrcs.get(n),
  };
}
