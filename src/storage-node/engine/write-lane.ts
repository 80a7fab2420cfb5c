// The thread-pool writes of one file, one at a time. Concurrent writes to one file serialise on its
// inode lock inside the kernel anyway, and the threads that wait for it spin first
// (rwsem_spin_on_owner: a fifth of the node's CPU with sixteen 1 MiB writes in flight, bench/node).
// Queued here they cost nothing while they wait, and those that continue one another — records
// are appended back to back — leave together in one pwritev.

import { pwriteAll } from './file-io.js';

/** A batch stays within one pwritev's buffer limit (IOV_MAX) and this many bytes. */
const MAX_PARTS = 1024;
const MAX_BYTES = 8 * 1024 * 1024;

interface Job {
  buffers: readonly Buffer[];
  position: number;
  length: number;
  resolve: () => void;
  reject: (err: unknown) => void;
}

export class WriteLane {
  private readonly queue: Job[] = [];
  private draining = false;
  /** pwritev batches issued (a batch may resume after a short write). */
  batches = 0;

  constructor(private readonly fd: number) {}

  /** Writes `buffers` (`length` bytes in all) at `position`; resolves once the kernel has them all. */
  write(buffers: readonly Buffer[], position: number, length: number): Promise<void> {
    return new Promise((resolve, reject) => {
      this.queue.push({ buffers, position, length, resolve, reject });
      if (!this.draining) void this.drain();
    });
  }

  private async drain(): Promise<void> {
    this.draining = true;
    while (this.queue.length > 0) {
      const batch = this.takeBatch();
      this.batches++;
      if (batch.length === 1) {
        await run(this.fd, batch[0]!);
        continue;
      }
      try {
        await pwriteAll(this.fd, batch.flatMap((j) => j.buffers), batch[0]!.position);
        for (const j of batch) j.resolve();
      } catch {
        // Each write gets its own outcome (a full disk may take the first and refuse the next):
        // a write reported failed must not be one that landed whole.
        for (const j of batch) await run(this.fd, j);
      }
    }
    this.draining = false;
  }

  /** A write is in progress or waiting. */
  get busy(): boolean {
    return this.draining;
  }

  /** The first queued write and those that continue it. */
  private takeBatch(): Job[] {
    const first = this.queue.shift()!;
    const batch = [first];
    let end = first.position + first.length;
    let parts = first.buffers.length;
    let bytes = first.length;
    for (;;) {
      const next = this.queue[0];
      if (!next || next.position !== end || parts + next.buffers.length > MAX_PARTS || bytes + next.length > MAX_BYTES) break;
      batch.push(this.queue.shift()!);
      end += next.length;
      parts += next.buffers.length;
      bytes += next.length;
    }
    return batch;
  }
}

async function run(fd: number, j: Job): Promise<void> {
  try {
    await pwriteAll(fd, j.buffers, j.position);
    j.resolve();
  } catch (err) {
    j.reject(err);
  }
}
