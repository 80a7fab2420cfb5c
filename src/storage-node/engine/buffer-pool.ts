// Reusable buffers for large reads. A fresh 1 MiB Buffer costs page faults on first touch and GC
// work later; a read buffer is free again as soon as the socket has taken the reply, so a small
// pool keeps the same memory hot (see bench/node).

/** Reads up to this size use ordinary allocations (V8's pool and the young generation handle them well). */
const POOLED_ABOVE = 128 * 1024;
const CLASS = 1024 * 1024;

export class BufferPool {
  private readonly free = new Map<number, Buffer[]>();
  private held = 0;

  constructor(private readonly maxBytes: number = 64 * 1024 * 1024) {}

  /** A buffer of at least `size` bytes. Give it back with `release` once nothing refers to it. */
  acquire(size: number): Buffer {
    if (size <= POOLED_ABOVE) return Buffer.allocUnsafe(size);
    const cls = Math.ceil(size / CLASS) * CLASS;
    const list = this.free.get(cls);
    const buf = list?.pop();
    if (buf) {
      this.held -= buf.length;
      return buf;
    }
    return Buffer.allocUnsafeSlow(cls);
  }

  release(buf: Buffer): void {
    if (buf.length <= POOLED_ABOVE || buf.length % CLASS !== 0 || this.held + buf.length > this.maxBytes) return;
    let list = this.free.get(buf.length);
    if (!list) this.free.set(buf.length, (list = []));
    list.push(buf);
    this.held += buf.length;
  }
}
