// `--page-cache-cap <MiB>`: the storage processes of a bench run in a memory cgroup of that size, so
// that the page cache of the files they write is reclaimed within it and new writes land in pages
// just freed — as on a host whose memory is already full of cache, a storage node's steady state.
// Without it, a bench on a freshly booted VM grows the page cache into memory the hypervisor has
// not backed yet (or took back: free page reporting), and every first touch of a page costs a
// fault on the host inside write(); bench/page-cache measures that cost apart from any program.
// Both figures are real; the capped one is what the code costs, the other what a young VM adds.

import { existsSync, mkdirSync, readFileSync, rmdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { argValue } from './args.js';

const V2_ROOT = '/sys/fs/cgroup';
const V1_ROOT = '/sys/fs/cgroup/memory';

export class MemoryCap {
  private constructor(
    /** The cgroup's directory. */
    readonly dir: string,
    readonly mib: number,
    private readonly version: 1 | 2,
  ) {}

  /** The cap `--page-cache-cap` asks for, or undefined without it. */
  static fromArgs(label: string): MemoryCap | undefined {
    const value = argValue('--page-cache-cap');
    if (value === undefined) return undefined;
    const mib = Number(value);
    if (!Number.isInteger(mib) || mib < 64) throw new Error(`${label}: --page-cache-cap takes a whole number of MiB, at least 64 (the node's own memory counts too)`);
    return MemoryCap.create(`backrunner-bench-${process.pid}`, mib);
  }

  /** Why no cap can be made here (not root, no memory controller), or undefined when one can. */
  static unavailable(): string | undefined {
    if (process.getuid?.() !== 0) return 'needs root';
    if (!controllers(V2_ROOT).includes('memory') && !existsSync(path.join(V1_ROOT, 'memory.limit_in_bytes'))) return 'no memory cgroup controller';
    return undefined;
  }

  /** A new memory cgroup of `mib` MiB (cgroup v2 with the memory controller, else v1). */
  static create(name: string, mib: number): MemoryCap {
    const bytes = String(mib * 1024 * 1024);
    try {
      if (controllers(V2_ROOT).includes('memory')) {
        const subtree = path.join(V2_ROOT, 'cgroup.subtree_control');
        if (!readFileSync(subtree, 'utf8').split(/\s+/).includes('memory')) writeFileSync(subtree, '+memory');
        const dir = path.join(V2_ROOT, name);
        mkdirSync(dir);
        writeFileSync(path.join(dir, 'memory.max'), bytes);
        return new MemoryCap(dir, mib, 2);
      }
      if (existsSync(path.join(V1_ROOT, 'memory.limit_in_bytes'))) {
        const dir = path.join(V1_ROOT, name);
        mkdirSync(dir);
        writeFileSync(path.join(dir, 'memory.limit_in_bytes'), bytes);
        return new MemoryCap(dir, mib, 1);
      }
    } catch (err) {
      throw new Error(`--page-cache-cap: cannot create a memory cgroup (${(err as Error).message}): run the bench as root, or without the option`);
    }
    throw new Error(`--page-cache-cap: this machine has no memory cgroup controller (neither ${V2_ROOT}/cgroup.controllers lists "memory" nor ${V1_ROOT} exists): run without the option`);
  }

  /** Moves a running process into the cgroup; the pages it allocates from now on count against the cap. */
  add(pid: number): void {
    writeFileSync(path.join(this.dir, 'cgroup.procs'), String(pid));
  }

  /** The most memory (own and page cache) its processes held at once, in bytes. */
  peakBytes(): number {
    return Number(readFileSync(path.join(this.dir, this.version === 2 ? 'memory.peak' : 'memory.max_usage_in_bytes'), 'utf8'));
  }

  /**
   * What the run held in the cap, for its table title; throws when nothing was charged to it (the
   * processes never ran in it, and the figures would be uncapped ones under a capped label).
   */
  report(): string {
    const peak = this.peakBytes();
    if (peak < 1024 * 1024) throw new Error(`--page-cache-cap: nothing was charged to ${this.dir} (peak ${peak} bytes): the storage processes did not run in it`);
    return `peak ${(peak / 1024 / 1024).toFixed(0)} MiB of the ${this.mib} MiB cap`;
  }

  /**
   * Removes the cgroup once its processes have exited (the kernel refuses while one is left, and a
   * stopped node may take a moment to go): tries for a few seconds, then leaves it (an empty cgroup
   * costs nothing; its name says which bench made it).
   */
  async remove(): Promise<void> {
    for (let attempt = 0; attempt < 50; attempt++) {
      try {
        rmdirSync(this.dir);
        return;
      } catch {
        await new Promise((r) => setTimeout(r, 100));
      }
    }
  }

  get label(): string {
    return `storage processes in a ${this.mib} MiB memory cgroup (page cache recycled)`;
  }
}

function controllers(root: string): string[] {
  try {
    return readFileSync(path.join(root, 'cgroup.controllers'), 'utf8').trim().split(/\s+/);
  } catch {
    return [];
  }
}
