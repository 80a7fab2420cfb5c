// Socket reads into large slabs instead of fresh 64 KiB chunks: each read syscall can fill the rest
// of the slab, so a 1 MiB reply arrives in a couple of reads instead of sixteen, and the chunks
// handed on are views of the slab (no copy). Used through net.connect's `onread` option.

import type { OnReadOpts } from 'node:net';

const SLAB = 1024 * 1024;
/** Below this much room the next read gets a fresh slab. */
const MIN_ROOM = 64 * 1024;

export function slabReader(onChunk: (chunk: Buffer) => void): OnReadOpts {
  let slab = Buffer.allocUnsafe(SLAB);
  let used = 0;
  return {
    buffer: () => {
      if (slab.length - used < MIN_ROOM) {
        slab = Buffer.allocUnsafe(SLAB);
        used = 0;
      }
      return slab.subarray(used);
    },
    callback: (bytes: number, buf: Uint8Array) => {
      const view = buf as Buffer;
      used += bytes;
      onChunk(view.subarray(0, bytes));
      return true;
    },
  };
}
