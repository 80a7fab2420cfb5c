// Where windows of our node's records lie, as the node let a reader keep them (FlagsHigh.KEEP): a
// read of the same window in the same group within KEEP_SECONDS takes the bytes from the file
// without asking the node — the round trip is most of what a small read costs.
//
// Why that serves no stale bytes: the reader compares the record header on disk with the kept one
// at each use, and the node changes that header (REMOVED) before it acknowledges an overwrite or a
// removal; a compaction renames a new file over the old one, which the reader sees as the old
// file's last link gone (local-files.ts). Why it serves no unverified bytes: the node grants
// KEEP_SECONDS only while its verification of the window's chunks holds that long (verify-ttl).
// Entries name windows as asked (offset, size, io-flags): a whole-object read is its own entry.
// Only windows whose bytes the node read a moment ago are kept (a small one it sent, a large one
// it marked WARM): they are read again on the event loop, which a read from the disk would stall.

import type { IoAttr, Location } from './protocol/index.js';
import { KEEP_SECONDS } from './protocol/index.js';

export interface KeptWindow {
  /** The io_attr the node answered for the window (shared by every read served from it: never changed). */
  io: IoAttr;
  location: Location;
  /** Date.now() after which the node must be asked again. */
  until: number;
}

/** As many windows as a worker keeps (an entry is ~0.5 KiB: its header, io_attr and key). */
const MAX_WINDOWS = 4096;

export class KeptLocations {
  private readonly windows = new Map<string, KeptWindow>();

  constructor(private readonly max = MAX_WINDOWS) {}

  get size(): number {
    return this.windows.size;
  }

  /** The kept window for this read, if the node's grant still holds. */
  get(group: number, id: Buffer, offset: number, size: number, ioFlags: number): KeptWindow | undefined {
    const key = keyOf(group, id, offset, size, ioFlags);
    const w = this.windows.get(key);
    if (w && w.until <= Date.now()) {
      this.windows.delete(key);
      return undefined;
    }
    return w;
  }

  /** Keeps a window the node answered with FlagsHigh.KEEP, for KEEP_SECONDS from now. */
  keep(group: number, id: Buffer, offset: number, size: number, ioFlags: number, io: IoAttr, location: Location): void {
    const key = keyOf(group, id, offset, size, ioFlags);
    // Re-inserted at the end: the oldest grant is the first dropped when full.
    this.windows.delete(key);
    if (this.windows.size >= this.max) this.windows.delete(this.windows.keys().next().value!);
    // The io_attr's ids are views into the received frame: copied, so a kept entry holds no socket buffer.
    const ids = Buffer.allocUnsafe(128);
    io.parent.copy(ids, 0);
    io.id.copy(ids, 64);
    const own = { ...io, parent: ids.subarray(0, 64), id: ids.subarray(64) };
    this.windows.set(key, { io: own, location, until: Date.now() + KEEP_SECONDS * 1000 });
  }

  /** The window no longer lies there (its record was superseded, removed or moved). */
  drop(group: number, id: Buffer, offset: number, size: number, ioFlags: number): void {
    this.windows.delete(keyOf(group, id, offset, size, ioFlags));
  }

  clear(): void {
    this.windows.clear();
  }
}

function keyOf(group: number, id: Buffer, offset: number, size: number, ioFlags: number): string {
  return `${group}/${offset}/${size}/${ioFlags}/${id.toString('latin1')}`;
}
