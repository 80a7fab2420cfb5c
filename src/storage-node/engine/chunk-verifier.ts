// Verification of the chunks a read touches against their stored CRC32.
//
// Records are immutable once committed, so a chunk that was verified a moment ago is still good
// while it sits in the page cache: re-hashing it on every read of a hot object would only burn
// CPU (for 1 MiB reads the CRC is the largest cost on the node, see bench/node). A chunk verified
// less than `ttlSeconds` ago is therefore trusted; 0 verifies every read, as eblob does.

import { crc32 } from 'node:zlib';
import { Errno } from '../../elliptics/protocol/constants.js';
import type { RecordRef } from './key-index.js';
import { CHUNK_SIZE } from './record.js';
import { StorageError } from './storage-error.js';

const START = Date.now();

/** Seconds since start, +1 so that 0 means "never verified". */
const clock = (): number => Math.floor((Date.now() - START) / 1000) + 1;

export class ChunkVerifier {
  constructor(private readonly ttlSeconds: number) {}

  /**
   * Whether every chunk of [from, to) was verified less than the TTL ago (then a read would not hash
   * them) — and, with `margin`, will still be for `margin` more seconds.
   */
  fresh(ref: RecordRef, from: number, to: number, margin = 0): boolean {
    return !ref.crcs || (this.ttlSeconds > margin && this.seenWithin(ref, from, to, this.ttlSeconds - margin));
  }

  /** Whether a verification holds `seconds` after it was made (a reader may then keep a window that long: FlagsHigh.KEEP). */
  holdsFor(seconds: number): boolean {
    return this.ttlSeconds > seconds;
  }

  /** Whether every chunk of [from, to) was verified (and so read) less than `seconds` ago. */
  seenWithin(ref: RecordRef, from: number, to: number, seconds: number): boolean {
    const seen = ref.verifiedAt;
    if (!ref.crcs || !seen) return false;
    const now = clock();
    for (let c = Math.floor(from / CHUNK_SIZE); c * CHUNK_SIZE < to; c++) if (!(seen[c]! > 0 && now - seen[c]! < seconds)) return false;
    return true;
  }

  /**
   * Checks `data` (record bytes starting at chunk boundary `from`); throws -EILSEQ on a mismatch.
   * Chunks verified less than the TTL ago are trusted — less than the TTL minus `margin` when the
   * verification must hold `margin` more seconds.
   */
  verify(ref: RecordRef, data: Buffer, from: number, margin = 0): void {
    const crcs = ref.crcs;
    if (!crcs) return;
    const first = from / CHUNK_SIZE;
    const now = clock();
    const remember = this.ttlSeconds > 0;
    const seen = remember ? (ref.verifiedAt ??= new Uint32Array(crcs.length)) : undefined;
    const trusted = this.ttlSeconds - margin;
    for (let i = 0; i * CHUNK_SIZE < data.length; i++) {
      const c = first + i;
      if (seen && seen[c]! > 0 && now - seen[c]! < trusted) continue;
      if (crc32(data.subarray(i * CHUNK_SIZE, (i + 1) * CHUNK_SIZE)) !== crcs[c]) {
        throw new StorageError(Errno.EILSEQ, `checksum mismatch in ${ref.blob.path}, record at ${ref.offset}, chunk ${c}`);
      }
      if (seen) seen[c] = now;
    }
  }
}
