// Reusable large buffers. A fresh 1 MiB Buffer costs page faults on first touch, and garbage
// buffers are only freed when V8 next collects — it lets some 64 MiB of them pile up first. Where
// the owner knows when a buffer is free again (the node's read replies once the socket took them,
// a worker's upload blocks once every group acknowledged them) a small pool keeps the same memory
// hot and the process's size flat (see bench/node and bench/proxy).

/** Up to this size ordinary allocations do better (V8's pool and the young generation handle them well). */
const POOLED_ABOVE = 128 * 1024;
/** Sizes are rounded up to a multiple of this: a 1 MiB read reply with its headers fits 1 MiB + 64 KiB. */
const CLASS = 64 * 1024;

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
