// Incremental CRC32 per 64 KiB chunk, fed with bytes in object order.

import { crc32 } from 'node:zlib';
import { CHUNK_SIZE, chunkCount } from './record.js';

export class ChunkCrcBuilder {
  private readonly crcs: number[] = [];
  private current = 0;
  private inChunk = 0;
  /** Object bytes folded in so far. */
  position = 0;

  feed(data: Buffer): void {
    let at = 0;
    while (at < data.length) {
      const take = Math.min(CHUNK_SIZE - this.inChunk, data.length - at);
      this.current = crc32(data.subarray(at, at + take), this.current);
      this.inChunk += take;
      at += take;
      if (this.inChunk === CHUNK_SIZE) {
        this.crcs.push(this.current);
        this.current = 0;
        this.inChunk = 0;
      }
    }
    this.position += data.length;
  }

  /** The chunk CRCs of `data` (the chunks of one object, in order). */
  static of(data: readonly Buffer[]): Uint32Array {
    const b = new ChunkCrcBuilder();
    for (const part of data) b.feed(part);
    return b.finish();
  }

  /** The chunk CRCs of the bytes fed so far. */
  finish(): Uint32Array {
    const out = new Uint32Array(chunkCount(this.position));
    out.set(this.crcs);
    if (this.inChunk > 0) out[this.crcs.length] = this.current;
    return out;
  }
}
