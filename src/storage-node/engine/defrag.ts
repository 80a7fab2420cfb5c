// Defragmentation of one backend, as eblob runs it: started by BACKEND_CONTROL (level 0 "full":
// every blob holding dead bytes; level 1 "compact": the blobs past `defrag-percentage`), or by a
// timer every `defrag-timeout` seconds when a blob is past the threshold; stopped between copies by
// BACKEND_CONTROL stop. The state and times are what MONITOR_STAT and BACKEND_STATUS report.

import { Errno } from '../../elliptics/protocol/constants.js';
import type { Logger } from '../../util/logger.js';
import type { BlobFile } from './blob-file.js';
import { compactBlob, type CompactionHost } from './compaction.js';
import { fromFsError } from './storage-error.js';

export { DefragState, DEFRAG_STATE_NAMES, DefragLevel } from '../../elliptics/protocol/backend.js';
import { DefragLevel, DefragState } from '../../elliptics/protocol/backend.js';

/** eblob's per-blob `want_defrag`. */
export const WantDefrag = { NOT_NEEDED: 0, DEFRAG_NEEDED: 1, MERGE_NEEDED: 2, REMOVE_NEEDED: 3 } as const;
export const WANT_DEFRAG_NAMES: Record<number, string> = { 0: 'not_needed', 1: 'defrag_needed', 2: 'merge_needed', 3: 'remove_needed' };

export interface BlobGarbage {
  records: number;
  removedRecords: number;
  removedBytes: number;
  size: number;
}

/** A blob whose every record is dead wants removal; one whose dead bytes reach `percentage` % wants defragmentation. */
export function wantDefrag(b: BlobGarbage, percentage: number): number {
  if (b.records > 0 && b.removedRecords >= b.records) return WantDefrag.REMOVE_NEEDED;
  if (b.size > 0 && b.removedBytes * 100 >= b.size * percentage) return WantDefrag.DEFRAG_NEEDED;
  return WantDefrag.NOT_NEEDED;
}

export interface DefragHost extends CompactionHost {
  /**
   * With the mutation gate closed: picks the blobs the level asks for, closing the blob being
   * appended to when it is one of them (new writes go to a fresh blob), and returns them.
   */
  defragTargets(level: number): Promise<BlobFile[]>;
  /** Makes every completed write durable: REMOVED marks older than the targets' tombstones included. */
  syncAll(): Promise<void>;
  /** Writes a fresh index snapshot (the compaction dropped the old one). */
  saveSnapshot(): Promise<void>;
  /** Some blob is past the threshold (the automatic trigger). */
  wantsDefrag(): boolean;
}

export interface DefragOptions {
  /** Seconds between automatic checks; 0 turns the automatic trigger off. */
  timeoutSeconds: number;
  /** Bytes per second a compaction may copy, so it leaves the disk to clients; 0 = as fast as it goes. */
  rateLimit: number;
  log: Logger | undefined;
}

export class Defragmenter {
  state: number = DefragState.NOT_STARTED;
  /** Seconds since the epoch (eblob's datasort_start_time / datasort_completion_time); 0 = never. */
  startTime = 0;
  completionTime = 0;
  /** 0, or the negative errno the last run failed with. */
  completionStatus = 0;
  /** Bytes the last run took back. */
  lastReclaimed = 0;
  private running: Promise<void> | undefined;
  private stopping = false;
  private timer: NodeJS.Timeout | undefined;

  constructor(
    private readonly host: DefragHost,
    private readonly opts: DefragOptions,
  ) {}

  get active(): boolean {
    return this.running !== undefined;
  }

  /** 0, or -EALREADY when a run is in progress (eblob refuses a second start). */
  start(level: number): number {
    if (this.running) return Errno.EALREADY;
    this.stopping = false;
    this.state = level === DefragLevel.FULL ? DefragState.DATA_SORT : DefragState.COMPACT;
    this.startTime = Math.floor(Date.now() / 1000);
    this.running = this.run(level).finally(() => {
      this.running = undefined;
      this.state = DefragState.NOT_STARTED;
      this.completionTime = Math.floor(Date.now() / 1000);
    });
    return 0;
  }

  /** Asks a run to stop after the copy in progress; -EALREADY when none runs. */
  stop(): number {
    if (!this.running) return Errno.EALREADY;
    this.stopping = true;
    return 0;
  }

  /** Stops a run and waits for it (the backend is being disabled). */
  async halt(): Promise<void> {
    this.stopAuto();
    this.stopping = true;
    await this.running;
  }

  /** The completion of the current run (resolved at once when none runs). */
  async idle(): Promise<void> {
    await this.running;
  }

  startAuto(): void {
    if (this.opts.timeoutSeconds <= 0 || this.timer) return;
    this.timer = setInterval(() => {
      if (!this.running && this.host.wantsDefrag()) {
        this.opts.log?.info('blobs past defrag-percentage: automatic defragmentation');
        this.start(DefragLevel.COMPACT);
      }
    }, this.opts.timeoutSeconds * 1000);
    this.timer.unref();
  }

  stopAuto(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
  }

  private async run(level: number): Promise<void> {
    const log = this.opts.log;
    let reclaimed = 0;
    const pace = pacer(this.opts.rateLimit, () => this.stopping);
    try {
      const targets = await this.host.defragTargets(level);
      await this.host.syncAll();
      log?.info({ level, blobs: targets.map((b) => b.index) }, 'defragmentation started');
      let changed = false;
      let noRoom = 0;
      for (const blob of targets) {
        if (this.stopping) break;
        let out;
        try {
          out = await compactBlob(this.host, blob, { shouldStop: () => this.stopping, pace });
        } catch (err) {
          // No room for this blob's copy (its .compact is gone again): the next, once more is free.
          if (fromFsError(err, 'compaction').status !== Errno.ENOSPC) throw err;
          noRoom++;
          log?.warn({ blob: blob.index }, 'no room to copy the live records of this blob: left for later');
          continue;
        }
        if (out.result === 'compacted' || out.result === 'deleted') {
          changed = true;
          reclaimed += out.before - out.after;
        }
        log?.info({ blob: blob.index, result: out.result, before: out.before, after: out.after }, 'blob defragmented');
      }
      if (changed) await this.host.saveSnapshot();
      this.completionStatus = noRoom > 0 ? Errno.ENOSPC : 0;
      log?.info({ reclaimed, stopped: this.stopping }, 'defragmentation finished');
    } catch (err) {
      const e = fromFsError(err, 'defragmentation');
      this.completionStatus = e.status;
      log?.error({ err: e.message }, 'defragmentation failed');
    }
    this.lastReclaimed = reclaimed;
  }
}

/** Paces a copy to `rate` bytes per second (from the first byte); never waits once stopping. */
function pacer(rate: number, stopping: () => boolean): (bytes: number) => Promise<void> {
  if (rate <= 0) return () => Promise.resolve();
  const start = performance.now();
  let copied = 0;
  return async (bytes) => {
    copied += bytes;
    let wait = start + (copied / rate) * 1000 - performance.now();
    while (wait > 0 && !stopping()) {
      await new Promise((r) => setTimeout(r, Math.min(wait, 100)));
      wait = start + (copied / rate) * 1000 - performance.now();
    }
  };
}
