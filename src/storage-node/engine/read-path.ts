// The read path of a backend: the committed record of a key, a range of its bytes into a pooled
// buffer (verifying the 64 KiB chunks it touches against their CRCs), and the SHA-512 a client may
// ask for. Reads never wait on the mutation gate; a read that overlaps a compaction pins the old
// file and finishes on it.

import { createHash } from 'node:crypto';
import { Errno } from '../../elliptics/protocol/constants.js';
import type { BufferPool } from '../../util/buffer-pool.js';
import type { Logger } from '../../util/logger.js';
import type { ChunkVerifier } from './chunk-verifier.js';
import { dataOffset, type RecordRef } from './key-index.js';
import { CHUNK_SIZE, decodeRecordHeader, isLive, RECORD_HEADER_SIZE } from './record.js';
import { pieces } from './record-io.js';
import type { BackendState } from './state.js';
import { fromFsError, StorageError } from './storage-error.js';

export interface ReadResult {
  /** Holds the data at `start`, with at least `headroom` free bytes in front of it. */
  buf: Buffer;
  start: number;
  length: number;
  ref: RecordRef;
  /** Returns `buf` to the pool; call once nothing refers to it (the socket has taken the bytes). */
  release: () => void;
}

/** A window located (FlagsHigh.LOCATE): its record and length, and whether its bytes were read a moment ago. */
export interface Located {
  ref: RecordRef;
  length: number;
  warm: boolean;
  /** The reader may keep the location (FlagsHigh.KEEP): the window's verification holds that long. */
  keep: boolean;
}

/** How a window is located (see ReadPath.locate). */
export interface LocateOptions {
  /** Verify the window's chunks as a read does (not with the NOCSUM io-flag). */
  verify: boolean;
  /** Up to this many bytes the window is read and sent rather than located. */
  inlineMax: number;
  /** Bytes free in front of read bytes (for the reply's head). */
  headroom: number;
  /** The reader would keep the location this many seconds (FlagsHigh.KEEP); 0: it would not. */
  keepSeconds: number;
}

/**
 * Bytes this node read (verified) less than this long ago count as in the page cache. The verifier
 * keeps only whole seconds; a few of them are a moment against how long the kernel keeps a page.
 */
const WARM_SECONDS = 10;

/** A damaged blob file is named in the log at most this often. */
const LOG_EVERY_MS = 10_000;

export class ReadPath {
  private readonly logged = new Map<string, number>();

  constructor(
    private readonly s: BackendState,
    private readonly verifier: ChunkVerifier,
    private readonly buffers: BufferPool,
    private readonly log?: Logger,
  ) {}

  /**
   * A read that the disk failed (an I/O error, a file cut short under the record) or whose bytes
   * do not match their checksums: counted as a damaged record (MONITOR_STAT records_corrupted), the
   * file named in the log, and answered -EIO / -EILSEQ so that the client reads another replica.
   */
  private damaged(file: string, err: StorageError): StorageError {
    this.s.recordsCorrupted++;
    const now = Date.now();
    if ((this.logged.get(file) ?? 0) + LOG_EVERY_MS <= now) {
      this.logged.set(file, now);
      this.log?.error({ file, status: err.status, err: err.message }, 'a record could not be read from its blob file (damaged or cut short): clients are served from another replica');
    }
    return err;
  }

  /** The committed record of `id`; -ENOENT when absent. */
  committed(id: Buffer): RecordRef {
    const ref = this.s.index.committed(id);
    if (!ref) throw new StorageError(Errno.ENOENT, 'no such key');
    return ref;
  }

  /** `size` bytes (0: to the end) from `offset`, with `headroom` bytes free in front for a reply header. */
  read(id: Buffer, offset: number, size: number, verify: boolean, headroom: number): Promise<ReadResult> {
    const ref = this.committed(id);
    return this.readWindow(ref, offset, windowLength(ref.header.size, offset, size), verify, headroom);
  }

  /**
   * `length` bytes of `ref`'s data from `offset` (a window already checked against its size); with
   * `margin`, the verification must hold that many more seconds (see ChunkVerifier.verify).
   */
  private async readWindow(ref: RecordRef, offset: number, length: number, verify: boolean, headroom: number, margin = 0): Promise<ReadResult> {
    const crcs = verify ? ref.crcs : undefined;
    const from = crcs ? Math.floor(offset / CHUNK_SIZE) * CHUNK_SIZE : offset;
    const to = crcs ? Math.min(ref.header.size, Math.ceil((offset + length) / CHUNK_SIZE) * CHUNK_SIZE) : offset + length;
    const buf = this.buffers.acquire(headroom + (to - from));
    const release = (): void => this.buffers.release(buf);
    const blob = ref.blob;
    blob.pin(); // a compaction may replace the file meanwhile: this read finishes on the old one
    try {
      await blob.readExact(buf, headroom, to - from, dataOffset(ref) + from);
      if (crcs) this.verifier.verify(ref, buf.subarray(headroom, headroom + (to - from)), from, margin);
    } catch (err) {
      release();
      const e = fromFsError(err, `read of ${blob.path}`);
      // A file shorter than its record reads short: the disk lost it, which is an I/O error.
      throw this.damaged(blob.path, e.status === Errno.ENODATA ? new StorageError(Errno.EIO, e.message) : e);
    } finally {
      blob.unpin();
    }
    return { buf, start: headroom + (offset - from), length, ref, release };
  }

  /**
   * Checks a window as `read` does — its chunks verified unless they were a moment ago — without
   * keeping the bytes (FlagsHigh.LOCATE: a reader on this host takes them from the file): the record
   * and the window's length. A window of at most `inlineMax` bytes is cheaper read and sent than
   * located: it is read, as `read` would (`headroom` in front), with the one index lookup.
   * `warm`: this node read the window's bytes now or within WARM_SECONDS (FlagsHigh.WARM).
   * `keep` (FlagsHigh.KEEP): the reader may serve the window from the file for `keepSeconds`
   * without asking, as the chunks' verification holds that long — verified again now if it would
   * not; never when the verify-ttl is shorter.
   */
  async locate(id: Buffer, offset: number, size: number, o: LocateOptions): Promise<Located | { read: ReadResult; keep: boolean }> {
    const ref = this.committed(id);
    const length = windowLength(ref.header.size, offset, size);
    const keep = o.keepSeconds > 0 && (!o.verify || !ref.crcs || this.verifier.holdsFor(o.keepSeconds));
    const margin = keep && o.verify ? o.keepSeconds : 0;
    if (length <= o.inlineMax) return { read: await this.readWindow(ref, offset, length, o.verify, o.headroom, margin), keep };
    if (o.verify && !this.verifier.fresh(ref, offset, offset + length, margin)) {
      (await this.readWindow(ref, offset, length, o.verify, 0, margin)).release();
      return { ref, length, warm: true, keep };
    }
    return { ref, length, warm: this.verifier.seenWithin(ref, offset, offset + length, WARM_SECONDS), keep };
  }

  /**
   * The live committed record whose data starts at `dataOffset` of the blob file `file` (what a
   * redirect names), with its blob pinned so the bytes stay readable while they are sent — or
   * undefined when there is none there now: removed, overwritten, or moved by a compaction. The
   * record's header is read from the file and must be the one the index holds for its key.
   */
  async liveRecordAt(file: string, dataOffset: number): Promise<{ ref: RecordRef; unpin: () => void } | undefined> {
    const blob = this.s.blobs.all.find((b) => b.path === file);
    const at = dataOffset - RECORD_HEADER_SIZE;
    if (!blob || at < 0 || dataOffset > blob.size) return undefined;
    blob.pin();
    try {
      const head = Buffer.allocUnsafe(RECORD_HEADER_SIZE);
      await blob.readExact(head, 0, RECORD_HEADER_SIZE, at);
      const h = decodeRecordHeader(head);
      const ref = h && isLive(h) ? this.s.index.committed(h.id) : undefined;
      if (!ref || ref.blob !== blob || ref.offset !== at) {
        blob.unpin();
        return undefined;
      }
      let pinned = true;
      const unpin = (): void => {
        if (!pinned) return;
        pinned = false;
        blob.unpin();
      };
      return { ref, unpin };
    } catch {
      blob.unpin();
      return undefined;
    }
  }

  /** SHA-512 of the whole object, verifying its chunks on the way (LOOKUP with the CHECKSUM cflag). */
  async checksum(ref: RecordRef): Promise<Buffer> {
    const hash = createHash('sha512');
    const blob = ref.blob;
    blob.pin();
    try {
      for await (const { bytes, at } of pieces(ref, 0, ref.header.size)) {
        this.verifier.verify(ref, bytes, at);
        hash.update(bytes);
      }
    } finally {
      blob.unpin();
    }
    return hash.digest();
  }
}

/** The bytes a read of `size` (0: to the end) at `offset` gets of a `total`-byte object; -E2BIG past its end. */
function windowLength(total: number, offset: number, size: number): number {
  if (offset !== 0 && offset >= total) throw new StorageError(Errno.E2BIG, `offset ${offset} is beyond the ${total}-byte object`);
  return Math.min(size === 0 ? Infinity : size, total - offset);
}
