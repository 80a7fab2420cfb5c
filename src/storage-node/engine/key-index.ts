// The in-memory index of one backend: key id → its committed record and, during a chunked upload,
// its prepared (uncommitted) record — or, once removed, the record that carries the removal (its
// header flagged TOMBSTONE, with the removal's time), kept for `tombstone-ttl` so that a removal can
// be ordered against a write made in another group. Rebuilt from the blob files at start-up.

import type { DnetTime } from '../../elliptics/protocol/time.js';
import type { BlobFile } from './blob-file.js';
import type { ChunkCrcBuilder } from './chunk-crc.js';
import type { SnapshotEntry } from './index-snapshot.js';
import type { SnapshotKeys } from './snapshot-keys.js';
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

/**
 * key → state. Besides its map, the index may hold the committed records an index snapshot named,
 * still packed (SnapshotKeys): a key is taken out of them into the map the first time it is asked
 * for, so everything else sees one index.
 */
export class KeyIndex {
  private readonly map = new Map<string, KeyState>();
  private packed: SnapshotKeys | undefined;
  private blobOf: (index: number) => BlobFile = () => {
    throw new Error('no blobs');
  };

  /** Hands the index a snapshot's committed records; `blobOf` finds the blob a record names when it is taken out. */
  adoptPacked(keys: SnapshotKeys, blobOf: (index: number) => BlobFile): void {
    this.packed = keys.live > 0 ? keys : undefined;
    this.blobOf = blobOf;
  }

  get(id: Buffer): KeyState | undefined {
    return this.stateOf(id, indexKey(id));
  }

  private stateOf(id: Buffer, key: string): KeyState | undefined {
    return this.map.get(key) ?? (this.packed ? this.unpack(id, key) : undefined);
  }

  private unpack(id: Buffer, key: string): KeyState | undefined {
    const packed = this.packed!;
    const n = packed.take(id);
    if (n < 0) return undefined;
    if (packed.live === 0) this.packed = undefined;
    const e = packed.entry(n);
    const st: KeyState = { committed: { blob: this.blobOf(e.blobIndex), offset: e.offset, header: e.header, crcs: e.crcs }, pending: undefined };
    this.map.set(key, st);
    return st;
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
      this.map.set(key, (st = { committed: undefined, pending: undefined }));
    }
    st[side] = ref;
    if (!st.committed && !st.pending && !st.removed) this.map.delete(key);
  }

  get size(): number {
    return this.map.size + (this.packed?.live ?? 0);
  }

  /** Keys with a committed record, with a prepared one, and removals remembered. */
  counts(): { committed: number; pending: number; removed: number } {
    let committed = this.packed?.live ?? 0;
    let pending = 0;
    for (const st of this.map.values()) {
      if (st.committed) committed++;
      if (st.pending) pending++;
    }
    return { committed, pending, removed: this.removedKeys };
  }

  /** Keys with a committed record. */
  committedCount(): number {
    let n = this.packed?.live ?? 0;
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
    const packed = this.packed?.freeze();
    function* entries(): IterableIterator<SnapshotEntry> {
      for (let i = 0; i < refs.length; i++) {
        const r = refs[i]!;
        yield { blobIndex: r.blob.index, offset: r.offset, header: headers[i]!, crcs: prepared[i] ? undefined : r.crcs };
      }
      if (packed) yield* packed.entries;
    }
    return { count: refs.length + (packed?.count ?? 0), entries: entries() };
  }


  /**
   * The keys as of now, for a walk (ITERATOR): map keys, and the snapshot's entries still packed.
   * Looked up one by one later (`walkState`), so what changed meanwhile is seen as it is then.
   */
  walkKeys(): { keys: string[]; packed: number[] } {
    return { keys: [...this.map.keys()], packed: this.packed?.remaining() ?? [] };
  }

  /**
   * The state of a key captured by walkKeys, without taking a packed entry out (a walk of a million
   * keys must not turn them into a million objects): a packed entry still untouched is read in place.
   */
  walkState(item: { key: string } | { packed: number }): KeyState | undefined {
    if ('key' in item) return this.map.get(item.key);
    const packed = this.packed;
    if (packed && packed.isLive(item.packed)) {
      const e = packed.entry(item.packed);
      return { committed: { blob: this.blobOf(e.blobIndex), offset: e.offset, header: e.header, crcs: e.crcs }, pending: undefined };
    }
    // Taken out since: it is an ordinary entry now (or gone).
    return packed ? this.map.get(indexKey(packed.entry(item.packed).header.id)) : undefined;
  }
}
