// Reusable large buffers. A fresh 1 MiB Buffer costs page faults on first touch, and garbage
// buffers are only freed when V8 next collects — it lets some 64 MiB of them pile up first. Where
// the owner knows when a buffer is free again (the node's read replies once the socket took them,
// a worker's upload blocks once every group acknowledged them) a small pool keeps the same memory
// hot and the process's size flat (see bench/node and bench/proxy).
//
// A pool nobody used between two rounds of `reclaimIdle` (a timer each process's entry point starts,
// startIdleReclaim) hands its buffers back, so a process at rest after a burst does not keep them.

/** By default, up to this size ordinary allocations do better (V8's pool and the young generation handle them well). */
const POOLED_ABOVE = 128 * 1024;
/** Sizes are rounded up to a multiple of this: a 1 MiB read reply with its headers fits 1 MiB + 64 KiB. */
const CLASS = 64 * 1024;
/** Below CLASS, sizes are rounded up to a power of two from this. */
const SMALLEST = 8 * 1024;

/** The size class `size` is served from. */
function classOf(size: number): number {
  if (size >= CLASS) return Math.ceil(size / CLASS) * CLASS;
  let c = SMALLEST;
  while (c < size) c *= 2;
  return c;
}

/** Every pool of the process, for reclaimIdle (weakly: a test's pool may go away). */
const pools = new Set<WeakRef<BufferPool>>();

export class BufferPool {
  private readonly free = new Map<number, Buffer[]>();
  private held = 0;
  /** Acquires so far, and as the last reclaimIdle round saw them. */
  private uses = 0;
  private usesSeen = 0;

  /**
   * `pooledAbove`: smaller buffers are ordinary allocations. The storage node pools from 4 KiB: every
   * small read fills a buffer the socket then holds, and as garbage they pile up outside V8's heap
   * (tens of MiB between collections) where a pool of them stays a few MiB.
   */
  constructor(
    private readonly maxBytes: number = 64 * 1024 * 1024,
    private readonly pooledAbove = POOLED_ABOVE,
  ) {
    pools.add(new WeakRef(this));
  }

  /** Bytes kept for reuse. */
  get kept(): number {
    return this.held;
  }

  /** A buffer of at least `size` bytes. Give it back with `release` once nothing refers to it. */
  acquire(size: number): Buffer {
    if (size <= this.pooledAbove) return Buffer.allocUnsafe(size);
    this.uses++;
    const cls = classOf(size);
    const list = this.free.get(cls);
    const buf = list?.pop();
    if (buf) {
      this.held -= buf.length;
      return buf;
    }
    return Buffer.allocUnsafeSlow(cls);
  }

  release(buf: Buffer): void {
    if (buf.length <= this.pooledAbove || buf.length !== classOf(buf.length) || this.held + buf.length > this.maxBytes) return;
    let list = this.free.get(buf.length);
    if (!list) this.free.set(buf.length, (list = []));
    list.push(buf);
    this.held += buf.length;
  }

  /** Drops every kept buffer when the pool was not used since the last call; returns the bytes dropped. */
  trimIfIdle(): number {
    const used = this.uses !== this.usesSeen;
    this.usesSeen = this.uses;
    if (used || this.held === 0) return 0;
    const dropped = this.held;
    this.free.clear();
    this.held = 0;
    return dropped;
  }
}

/** Trims every pool of the process that was not used since the last call; returns the bytes dropped. */
export function reclaimIdle(): number {
  let dropped = 0;
  for (const ref of pools) {
    const pool = ref.deref();
    if (pool) dropped += pool.trimIfIdle();
    else pools.delete(ref);
  }
  return dropped;
}

/**
 * Runs reclaimIdle every `everyMs`. Dropped buffers are only freed when V8 collects them, and a
 * process at rest may not collect for a long while: when something was dropped a full collection
 * is asked for, where the process runs with --expose-gc (the proxy starts its workers and the
 * embedded node so). The large buffers are then unmapped at once (see MALLOC_ENV).
 */
export function startIdleReclaim(everyMs = 5_000): NodeJS.Timeout {
  const timer = setInterval(() => {
    if (reclaimIdle() > 0) (globalThis as { gc?: () => void }).gc?.();
  }, everyMs);
  timer.unref();
  return timer;
}
