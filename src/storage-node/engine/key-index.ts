// The in-memory index of one backend: key id → its committed record and, during a chunked upload,
// its prepared (uncommitted) record — or, once removed, the record that carries the removal (its
// header flagged TOMBSTONE, with the removal's time), kept for `tombstone-ttl` so that a removal can
// be ordered against a write made in another group. Rebuilt from the blob files at start-up.

import type { DnetTime } from '../../elliptics/protocol/time.js';
import type { BlobFile } from './blob-file.js';
import type { ChunkCrcBuilder } from './chunk-crc.js';
import type { SnapshotEntry } from './index-snapshot.js';
import type { SnapshotKeys } from './snapshot-keys.js';
import { PackedRecords } from './packed-records.js';
import { RECORD_HEADER_SIZE, type RecordHeader } from './record.js';

export interface RecordRef {
  blob: BlobFile;
  /** Offset of the record header in the blob file. */
  offset: number;
  header: RecordHeader;
  /** Chunk CRCs (committed records written with checksums). */
  crcs: Uint32Array | undefined;
  /** Per chunk, when a read last verified it (ChunkVerifier clock); allocated on first verification. */
  verifiedAt?: Uint32Array;
}

export interface PendingRecord extends RecordRef {
  /** CRCs folded in while chunks arrive in order; recomputed at commit when they did not. */
  builder: ChunkCrcBuilder | undefined;
}

export interface KeyState {
  committed: RecordRef | undefined;
  pending: PendingRecord | undefined;
  /** The key was removed: the record carrying the removal (TOMBSTONE; its timestamp is the removal's). */
  removed?: RecordRef | undefined;
}

/** The record's timestamp (a removal's: when it was removed). */
export function recordTime(ref: RecordRef): DnetTime {
  return { sec: ref.header.tsec, nsec: ref.header.tnsec };
}

export function dataOffset(ref: RecordRef): number {
  return ref.offset + RECORD_HEADER_SIZE;
}

/** Index keys are the 64 id bytes as a one-byte string: cheaper to hash than hex. */
export function indexKey(id: Buffer): string {
  return id.toString('latin1', 0, 64);
}

/** A key's state in the map, with the settle round in which it was last asked for. */
interface HeldState extends KeyState {
  touched: number;
}

/**
 * key → state, in three places that everything else sees as one index: the map of objects (keys in
 * use: asked for lately, being written, prepared, removed); the committed records of keys left alone
 * for a settle round, packed (PackedRecords); and the committed records an index snapshot named,
 * still in its bytes (SnapshotKeys). A packed key is taken out into the map the moment it is asked
 * for; `settle()` packs again what nobody asked for since the round before.
 */
export class KeyIndex {
  private readonly map = new Map<string, HeldState>();
  private readonly settled = new PackedRecords();
  /** The settle round: a map entry not touched during the last one is packed at the next. */
  private round = 0;
  /** The committed records the index snapshot named, still in its bytes. */
  private snapshot: SnapshotKeys | undefined;
  /** `blobOf`: the blob file a packed record names by number. */
  constructor(private readonly blobOf: (index: number) => BlobFile) {}

  /** Hands the index a snapshot's committed records. */
  adoptPacked(keys: SnapshotKeys): void {
    this.snapshot = keys.live > 0 ? keys : undefined;
  }

  get(id: Buffer): KeyState | undefined {
    return this.stateOf(id, indexKey(id));
  }

  private stateOf(id: Buffer, key: string): KeyState | undefined {
    const st = this.map.get(key);
    if (st) {
      st.touched = this.round;
      return st;
    }
    if (this.settled.live > 0) {
      const n = this.settled.find(id);
      if (n >= 0) {
        const e = this.settled.record(n);
        this.settled.remove(n);
        return this.hold(key, e);
      }
    }
    return this.snapshot ? this.unpack(id, key) : undefined;
  }

  /** Takes `id`'s record out of the snapshot's bytes into the map. */
  private unpack(id: Buffer, key: string): KeyState | undefined {
    const packed = this.snapshot!;
    const n = packed.take(id);
    if (n < 0) return undefined;
    if (packed.live === 0) this.snapshot = undefined;
    return this.hold(key, packed.entry(n));
  }

  /** A packed committed record made an object in the map. */
  private hold(key: string, e: SnapshotEntry): KeyState {
    const st: HeldState = { committed: this.refOf(e), pending: undefined, touched: this.round };
    this.map.set(key, st);
    return st;
  }

  private refOf(e: SnapshotEntry): RecordRef {
    return { blob: this.blobOf(e.blobIndex), offset: e.offset, header: e.header, crcs: e.crcs };
  }

  /**
   * Packs the committed records of keys nobody asked for since the last round (`all`: every key with
   * only a committed record, e.g. right after start-up). Keys with a prepared record or a remembered
   * removal stay objects; so does a key whose chunks a read verified, for `verifiedRounds` more rounds
   * (verify-ttl: packing would forget the verification and the next read would repeat it). Returns
   * how many were packed.
   */
  settle(all = false, verifiedRounds = 0): number {
    if (all) this.settled.reserve(this.settled.live + this.map.size);
    let n = 0;
    for (const [key, st] of this.map) {
      const idle = st.touched < this.round - (st.committed?.verifiedAt ? verifiedRounds : 0);
      if ((all || idle) && st.committed && !st.pending && !st.removed) {
        const c = st.committed;
        this.settled.add({ blobIndex: c.blob.index, offset: c.offset, header: c.header, crcs: c.crcs });
        this.map.delete(key);
        n++;
      }
    }
    this.round++;
    return n;
  }

  /**
   * A compaction moved `id`'s committed record from (`old`, `from`) to (`next`, `to`): the index
   * follows unless the key changed meanwhile. Packed records name blobs by number (a compacted file
   * keeps its predecessor's), so they are matched by number and offset.
   */
  relocate(id: Buffer, old: BlobFile, from: number, next: BlobFile, to: number): void {
    const st = this.map.get(indexKey(id));
    if (st) {
      const ref = st.committed;
      if (ref && ref.blob === old && ref.offset === from) st.committed = { blob: next, offset: to, header: ref.header, crcs: ref.crcs };
      return;
    }
    const n = this.settled.live > 0 ? this.settled.find(id) : -1;
    if (n >= 0) {
      if (this.settled.blobIndexOf(n) === old.index && this.settled.offsetOf(n) === from) this.settled.relocate(n, next.index, to);
      return;
    }
    const packed = this.snapshot;
    if (!packed) return;
    const m = packed.find(id);
    if (m < 0) return;
    const e = packed.entry(m);
    if (e.blobIndex !== old.index || e.offset !== from) return;
    this.unpack(id, indexKey(id))!.committed = { blob: next, offset: to, header: e.header, crcs: e.crcs };
  }

  committed(id: Buffer): RecordRef | undefined {
    return this.get(id)?.committed;
  }

  setCommitted(id: Buffer, ref: RecordRef | undefined): void {
    this.set(id, 'committed', ref);
  }

  setPending(id: Buffer, ref: PendingRecord | undefined): void {
    this.set(id, 'pending', ref);
  }

  /** The removal of `id` (undefined: the key is not removed, or its removal is forgotten). */
  removed(id: Buffer): RecordRef | undefined {
    return this.get(id)?.removed;
  }

  setRemoved(id: Buffer, ref: RecordRef | undefined): void {
    if (ref && !this.get(id)?.removed) this.removedKeys++;
    else if (!ref && this.get(id)?.removed) this.removedKeys--;
    this.set(id, 'removed', ref);
  }

  /** Keys whose removal is remembered. */
  removedKeys = 0;

  /** Forgets removals made before `before` (seconds since the epoch): they leave no trace any more. */
  forgetRemovalsBefore(before: number): number {
    if (this.removedKeys === 0) return 0;
    let n = 0;
    for (const [key, st] of this.map) {
      if (st.removed && st.removed.header.tsec < before) {
        st.removed = undefined;
        this.removedKeys--;
        n++;
        if (!st.committed && !st.pending) this.map.delete(key);
      }
    }
    return n;
  }

  /** Sets one side of a key's state; a key with nothing left is dropped. */
  private set<K extends keyof KeyState>(id: Buffer, side: K, ref: KeyState[K]): void {
    const key = indexKey(id);
    let st = this.stateOf(id, key);
    if (!st) {
      if (!ref) return;
      this.map.set(key, (st = { committed: undefined, pending: undefined, touched: this.round } as HeldState));
    }
    st[side] = ref;
    if (!st.committed && !st.pending && !st.removed) this.map.delete(key);
  }

  get size(): number {
    return this.map.size + this.settled.live + (this.snapshot?.live ?? 0);
  }

  /** Where the keys are: objects in the map, packed after settling, still in the snapshot's bytes. */
  holding(): { objects: number; packed: number; snapshot: number } {
    return { objects: this.map.size, packed: this.settled.live, snapshot: this.snapshot?.live ?? 0 };
  }

  /** Keys with a committed record, with a prepared one, and removals remembered. */
  counts(): { committed: number; pending: number; removed: number } {
    let committed = this.settled.live + (this.snapshot?.live ?? 0);
    let pending = 0;
    for (const st of this.map.values()) {
      if (st.committed) committed++;
      if (st.pending) pending++;
    }
    return { committed, pending, removed: this.removedKeys };
  }

  /** Keys with a committed record. */
  committedCount(): number {
    let n = this.settled.live + (this.snapshot?.live ?? 0);
    for (const st of this.map.values()) if (st.committed) n++;
    return n;
  }

  /**
   * Every record as of now, for an index snapshot: taken quickly (references and the headers they
   * have now), encoded later while the index goes on changing.
   */
  capture(): { count: number; entries: Iterable<SnapshotEntry> } {
    const refs: RecordRef[] = [];
    const headers: RecordHeader[] = [];
    /** A prepared record (or a removal) carries no CRCs. */
    const prepared: boolean[] = [];
    const add = (ref: RecordRef, isPrepared: boolean): void => {
      refs.push(ref);
      headers.push(ref.header);
      prepared.push(isPrepared);
    };
    for (const st of this.map.values()) {
      if (st.committed) add(st.committed, false);
      if (st.pending) add(st.pending, true);
      // A remembered removal: its TOMBSTONE flag tells the next start what it is.
      if (st.removed) add(st.removed, true);
    }
    const settled = this.settled.freeze();
    const packed = this.snapshot?.freeze();
    function* entries(): IterableIterator<SnapshotEntry> {
      for (let i = 0; i < refs.length; i++) {
        const r = refs[i]!;
        yield { blobIndex: r.blob.index, offset: r.offset, header: headers[i]!, crcs: prepared[i] ? undefined : r.crcs };
      }
      yield* settled.entries;
      if (packed) yield* packed.entries;
    }
    return { count: refs.length + settled.count + (packed?.count ?? 0), entries: entries() };
  }


  /**
   * The keys as of now, for a walk (ITERATOR): map keys, the settled records' ids (copied into one
   * buffer), and the snapshot's entries still packed. Looked up one by one later (`walkState`), so
   * what changed meanwhile is seen as it is then.
   */
  walkKeys(): { keys: string[]; ids: Buffer; packed: number[] } {
    return { keys: [...this.map.keys()], ids: this.settled.ids(), packed: this.snapshot?.remaining() ?? [] };
  }

  /**
   * The state of a key captured by walkKeys, wherever it is now, without taking anything out of a
   * packed form (a walk of a million keys must not turn them into a million objects).
   */
  walkState(item: { key: string } | { id: Buffer } | { packed: number }): KeyState | undefined {
    if ('packed' in item) {
      const packed = this.snapshot;
      if (packed && packed.isLive(item.packed)) return { committed: this.refOf(packed.entry(item.packed)), pending: undefined };
      // Taken out since: it is an ordinary entry now (or gone).
      return packed ? this.peek(packed.entry(item.packed).header.id) : undefined;
    }
    return 'key' in item ? this.peek(Buffer.from(item.key, 'latin1'), item.key) : this.peek(item.id);
  }

  /** `id`'s state wherever it is, leaving it there (a compaction asks this of every record it meets). */
  peek(id: Buffer, key = indexKey(id)): KeyState | undefined {
    const st = this.map.get(key);
    if (st) return st;
    const n = this.settled.live > 0 ? this.settled.find(id) : -1;
    if (n >= 0) return { committed: this.refOf(this.settled.record(n)), pending: undefined };
    const m = this.snapshot ? this.snapshot.find(id) : -1;
    return m >= 0 ? { committed: this.refOf(this.snapshot!.entry(m)), pending: undefined } : undefined;
  }
}
