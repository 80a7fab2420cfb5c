// Memory and event-loop figures of a process, for /metrics: this process from the inside
// (heap, event-loop delay), another one (the embedded node) from /proc.

import { readFileSync } from 'node:fs';
import { monitorEventLoopDelay } from 'node:perf_hooks';

export interface ProcessFigures {
  pid: number;
  rss: number;
  heapUsed: number;
  /** p99 event-loop delay since the last read, milliseconds (0 for another process). */
  loopLagMs: number;
}

/** Resident set size of a process in bytes (Linux /proc), 0 when unknown. */
export function rssOf(pid: number): number {
  try {
    const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? Number(m[1]) * 1024 : 0;
  } catch {
    return 0;
  }
}

/**
 * Proportional set size in bytes (Linux /proc smaps_rollup): pages shared with other processes — the
 * node binary's code, which every process of the tree maps — counted in shares. The sum over a
 * process tree is the memory the tree uses; a sum of RSS counts the shared pages once per process.
 */
export function pssOf(pid: number): number {
  try {
    const m = /^Pss:\s+(\d+) kB/m.exec(readFileSync(`/proc/${pid}/smaps_rollup`, 'utf8'));
    return m ? Number(m[1]) * 1024 : 0;
  } catch {
    return 0;
  }
}

export class ProcessMeter {
  private readonly loop = monitorEventLoopDelay({ resolution: 10 });

  constructor() {
    this.loop.enable();
  }

  read(pid: number): ProcessFigures {
    if (pid !== process.pid) return { pid, rss: rssOf(pid), heapUsed: 0, loopLagMs: 0 };
    const mem = process.memoryUsage();
    const lag = this.loop.count > 0 ? this.loop.percentile(99) / 1e6 : 0;
    this.loop.reset();
    return { pid, rss: mem.rss, heapUsed: mem.heapUsed, loopLagMs: lag };
  }
}
