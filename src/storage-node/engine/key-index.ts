// The in-memory index of one backend: key id → its committed record and, during a chunked upload,
// its prepared (uncommitted) record. Rebuilt from the blob files at start-up.

import type { BlobFile } from './blob-file.js';
import type { ChunkCrcBuilder } from './chunk-crc.js';
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
}

export function dataOffset(ref: RecordRef): number {
  return ref.offset + RECORD_HEADER_SIZE;
}

/** Index keys are the 64 id bytes as a one-byte string: cheaper to hash than hex. */
export function indexKey(id: Buffer): string {
  return id.toString('latin1', 0, 64);
}

export class KeyIndex {
  private readonly map = new Map<string, KeyState>();

  get(id: Buffer): KeyState | undefined {
    return this.map.get(indexKey(id));
  }

  committed(id: Buffer): RecordRef | undefined {
    return this.map.get(indexKey(id))?.committed;
  }

  /** For a key not in the index yet (an index snapshot names each key once). */
  addCommitted(id: Buffer, ref: RecordRef): void {
    this.map.set(indexKey(id), { committed: ref, pending: undefined });
  }

  setCommitted(id: Buffer, ref: RecordRef | undefined): void {
    this.set(id, 'committed', ref);
  }

  setPending(id: Buffer, ref: PendingRecord | undefined): void {
    this.set(id, 'pending', ref);
  }

  /** Sets one side of a key's state; a key with neither side left is dropped. */
  private set<K extends keyof KeyState>(id: Buffer, side: K, ref: KeyState[K]): void {
    const key = indexKey(id);
    let st = this.map.get(key);
    if (!st) {
      if (!ref) return;
      this.map.set(key, (st = { committed: undefined, pending: undefined }));
    }
    st[side] = ref;
    if (!st.committed && !st.pending) this.map.delete(key);
  }

  delete(id: Buffer): void {
    this.map.delete(indexKey(id));
  }

  get size(): number {
    return this.map.size;
  }

  values(): IterableIterator<KeyState> {
    return this.map.values();
  }
}
