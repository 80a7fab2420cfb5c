// A backend's background work: fsync every `sync` seconds, an index snapshot every
// `index-snapshot-interval` seconds while keys change (and at a clean stop), and what the
// defragmenter asks of the backend — which blobs want it, and the space statistics MONITOR_STAT shows.

import type { Logger } from '../../util/logger.js';
import { BlobFile } from './blob-file.js';
import { DefragLevel, wantDefrag } from './defrag.js';
import { fileSize } from './file-io.js';
import { dropSnapshot, installSnapshot, writeSnapshotTemp, type IndexSnapshot } from './index-snapshot.js';
import type { SyncPolicy } from '../../config/sync-policy.js';
import type { BackendState } from './state.js';

/** The automatic trigger leaves a blob alone until this much of it is dead (a fresh blob is not worth a copy). */
const AUTO_DEFRAG_MIN_BYTES = 1024 * 1024;
/** How often removals past tombstone-ttl are looked for. */
const FORGET_EVERY_MS = 60_000;
/** How often keys left alone are packed (KeyIndex.settle): a key stays an object 1–2 rounds (≤ 0.5 s) after its last use. */
const SETTLE_EVERY_MS = 250;

export interface HousekeepingSettings {
  sync: SyncPolicy;
  defragPercentage: number;
  defragTimeout: number;
  defragRateLimit: number;
  snapshotInterval: number;
  /** Seconds a read's verification of a chunk holds (verify-ttl): a verified key stays unpacked that long. */
  verifyTtl: number;
}

export interface BackendSummary {
  recordsTotal: number;
  recordsRemoved: number;
  recordsRemovedSize: number;
  recordsCorrupted: number;
  baseSize: number;
  /** Sum of the blobs' want_defrag codes, as eblob sums its per-blob statistics. */
  wantDefrag: number;
  blobs: { name: string; records: number; removed: number; removedSize: number; size: number; wantDefrag: number }[];
}

export class Housekeeping {
  /** `seq` when the last snapshot was captured: a snapshot is written again only after a change. */
  snapshotSeq = -1;
  /** Bumped whenever blob files are replaced: a snapshot captured before is not installed. */
  private layoutGeneration = 0;
  private savingSnapshot: Promise<void> | undefined;
  private syncTimer: NodeJS.Timeout | undefined;
  private snapshotTimer: NodeJS.Timeout | undefined;
  private forgetTimer: NodeJS.Timeout | undefined;
  private settleTimer: NodeJS.Timeout | undefined;

  constructor(
    private readonly s: BackendState,
    readonly settings: HousekeepingSettings,
    private readonly log: Logger | undefined,
  ) {}

  startTimers(): void {
    const { sync, snapshotInterval } = this.settings;
    this.s.index.settle(true); // what start-up read is at rest until asked for
    const verifiedRounds = Math.ceil((this.settings.verifyTtl * 1000) / SETTLE_EVERY_MS);
    this.settleTimer = setInterval(() => this.s.index.settle(false, verifiedRounds), SETTLE_EVERY_MS);
    this.settleTimer.unref();
    if (typeof sync === 'number' && sync > 0) {
      this.syncTimer = setInterval(() => void this.s.blobs.syncAll().catch(() => undefined), sync * 1000);
      this.syncTimer.unref();
    }
    if (snapshotInterval > 0) {
      this.snapshotTimer = setInterval(() => {
        if (this.s.seq !== this.snapshotSeq) void this.saveSnapshot().catch((err: unknown) => this.log?.warn({ err: (err as Error).message }, 'index snapshot failed'));
      }, snapshotInterval * 1000);
      this.snapshotTimer.unref();
    }
    if (this.s.tombstoneTtl > 0) {
      // Removals older than tombstone-ttl are forgotten; their bare headers go at the next compaction.
      this.forgetTimer = setInterval(() => this.s.index.forgetRemovalsBefore(Date.now() / 1000 - this.s.tombstoneTtl), FORGET_EVERY_MS);
      this.forgetTimer.unref();
    }
  }

  /** A clean stop leaves a snapshot (none when the one on disk is still current), then stops the fsync timer. */
  async stop(): Promise<void> {
    if (this.settleTimer) clearInterval(this.settleTimer);
    this.settleTimer = undefined;
    if (this.forgetTimer) clearInterval(this.forgetTimer);
    this.forgetTimer = undefined;
    if (this.snapshotTimer) clearInterval(this.snapshotTimer);
    this.snapshotTimer = undefined;
    if (this.snapshotSeq !== this.s.seq) {
      await this.saveSnapshot().catch((err: unknown) => this.log?.warn({ err: (err as Error).message }, 'index snapshot at stop failed; the next start scans the blobs'));
    }
    if (this.syncTimer) clearInterval(this.syncTimer);
    this.syncTimer = undefined;
  }

  /**
   * Captures the index with the mutation gate closed (every allocated record is written), makes the
   * blobs durable, writes the snapshot, and installs it unless blob files changed meanwhile.
   */
  saveSnapshot(): Promise<void> {
    this.savingSnapshot ??= this.writeSnapshotNow().finally(() => (this.savingSnapshot = undefined));
    return this.savingSnapshot;
  }

  /** The snapshot names offsets in files about to change: it goes, and one captured meanwhile is not installed. */
  async dropSnapshot(): Promise<void> {
    this.layoutGeneration++;
    this.snapshotSeq = -1;
    await dropSnapshot(this.s.dir);
  }

  private async writeSnapshotNow(): Promise<void> {
    const t0 = performance.now();
    const { snap, generation } = await this.s.gate.exclusive(async () => ({ snap: await this.captureSnapshot(), generation: this.layoutGeneration }));
    await this.s.blobs.syncAll();
    const bytes = await writeSnapshotTemp(this.s.dir, snap);
    const installed = await this.s.gate.exclusive(async () => {
      if (generation !== this.layoutGeneration) return false;
      await installSnapshot(this.s.dir);
      return true;
    });
    if (installed) this.snapshotSeq = snap.seq;
    this.log?.debug({ records: snap.count, bytes, installed, ms: Math.round(performance.now() - t0) }, 'index snapshot written');
  }

  private async captureSnapshot(): Promise<IndexSnapshot> {
    const blobs = [];
    for (const b of this.s.blobs.all) {
      blobs.push({ index: b.index, inode: await b.inode(), covered: b.size, fileBytes: await fileSize(b.fd), records: b.records, removedRecords: b.removedRecords, removedBytes: b.removedBytes });
    }
    return { seq: this.s.seq, blobs, ...this.s.index.capture() };
  }

  /** With the mutation gate closed: the blobs a defragmentation of `level` works on (see DefragHost). */
  defragTargets(level: number): Promise<BlobFile[]> {
    return this.s.gate.exclusive(async () => {
      const pct = this.settings.defragPercentage;
      const wanted = (b: BlobFile): boolean => (level === DefragLevel.FULL ? b.removedRecords > 0 : wantDefrag(b, pct) !== 0);
      const active = this.s.blobs.active;
      // The blob being appended to is closed when it needs the work too: new writes go to a fresh one.
      if (active.size > 0 && wanted(active)) this.s.blobs.openNext();
      // Blobs with nothing live first (deleted, no copy needed), then the smallest live sets: on a
      // full disk, each one done makes room for the next.
      const live = (b: BlobFile): number => b.size - b.removedBytes;
      return this.s.blobs.all.slice(0, -1).filter(wanted).sort((a, b) => live(a) - live(b));
    });
  }

  wantsDefrag(): boolean {
    const pct = this.settings.defragPercentage;
    // Worth a pass when the blobs past the threshold together hold enough dead bytes to matter.
    let dead = 0;
    for (const b of this.s.blobs.all) if (wantDefrag(b, pct) !== 0) dead += b.removedBytes;
    return dead >= AUTO_DEFRAG_MIN_BYTES;
  }

  summary(): BackendSummary {
    const pct = this.settings.defragPercentage;
    const blobs = this.s.blobs.all.map((b) => ({
      name: BlobFile.fileName(b.index),
      records: b.records,
      removed: b.removedRecords,
      removedSize: b.removedBytes,
      size: b.size,
      wantDefrag: wantDefrag(b, pct),
    }));
    return {
      wantDefrag: blobs.reduce((n, b) => n + b.wantDefrag, 0),
      recordsTotal: blobs.reduce((n, b) => n + b.records, 0),
      recordsRemoved: blobs.reduce((n, b) => n + b.removed, 0),
      recordsRemovedSize: blobs.reduce((n, b) => n + b.removedSize, 0),
      recordsCorrupted: this.s.recordsCorrupted,
      baseSize: this.s.blobs.baseSize(),
      blobs,
    };
  }
}
