// Start-up: the index of a backend rebuilt from its blob files — from the index snapshot plus each
// blob's tail when the snapshot still describes the files, else from every record. A torn tail is
// cut off; records that lost to a newer version or to a tombstone are flagged REMOVED on disk (a
// crash can leave them unflagged): a dead record must never need a tombstone to stay dead once
// compaction drops the tombstones.

import fs from 'node:fs/promises';
import type { Logger } from '../../util/logger.js';
import { BlobFile } from './blob-file.js';
import { discardUnfinishedCompactions } from './compaction.js';
import { fileSize, ftruncate } from './file-io.js';
import { readSnapshot, type SnapshotBlob, type SnapshotEntries } from './index-snapshot.js';
import { indexKey, type PendingRecord, type RecordRef } from './key-index.js';
import { RecordFlag, recordSpan } from './record.js';
import { countDead, writeRemovedMark } from './record-io.js';
import { readRecordAt, scanBlob, type ScannedRecord } from './scan.js';
import { SnapshotKeys } from './snapshot-keys.js';
import type { BackendState } from './state.js';

/** How much of each blob's tail is re-verified after an unclean shutdown (a power loss may reorder writeback). */
const UNCLEAN_VERIFY_TAIL = 64 * 1024 * 1024;

export interface LoadedIndex {
  /** Whether a snapshot was used, the keys found, the bytes scanned, and how long it took. */
  startedFrom: { snapshot: boolean; records: number; scannedBytes: number; ms: number };
  /** The sequence number the snapshot on disk was taken at; -1 without one. */
  snapshotSeq: number;
}

/** `clean`: the previous run stopped cleanly, so only torn tails need a look, not the last 64 MiB. */
export async function loadIndex(s: BackendState, clean: boolean, log: Logger | undefined): Promise<LoadedIndex> {
  const t0 = performance.now();
  const discarded = await discardUnfinishedCompactions(s.dir);
  if (discarded.length > 0) log?.warn({ files: discarded }, 'unfinished compactions discarded (the blobs they copied are intact)');
  const names = (await fs.readdir(s.dir)).filter((n) => /^data-0\.\d+$/.test(n));
  const indexes = names.map((n) => Number(n.slice('data-0.'.length))).sort((a, b) => a - b);
  if (indexes.length === 0) indexes.push(0);
  const blobs: BlobFile[] = [];
  for (const n of indexes) blobs.push(await BlobFile.open(s.dir, n, 0));
  const snap = await usableSnapshot(s.dir, blobs, log);
  s.blobs.adopt(blobs);
  // The snapshot's committed records go into the index packed; its prepared ones are read again.
  const preparedByBlob = new Map<number, number[]>();
  /** Per key, its newest removal (highest seq). */
  const tombstones = new Map<string, RecordRef>();
  const noteTombstone = (ref: RecordRef): void => {
    const key = indexKey(ref.header.id);
    if ((tombstones.get(key)?.header.seq ?? -1) < ref.header.seq) tombstones.set(key, ref);
  };
  if (snap) {
    const committed: number[] = [];
    for (let n = 0; n < snap.entries.count; n++) {
      const flags = snap.entries.flags(n);
      if (flags & RecordFlag.TOMBSTONE) {
        const e = snap.entries.entry(n);
        noteTombstone({ blob: s.blobs.byIndex(e.blobIndex), offset: e.offset, header: e.header, crcs: undefined });
      } else if (!(flags & RecordFlag.UNCOMMITTED)) committed.push(n);
      else {
        const blobIndex = snap.entries.entry(n).blobIndex;
        const list = preparedByBlob.get(blobIndex);
        if (list) list.push(n);
        else preparedByBlob.set(blobIndex, [n]);
      }
    }
    s.index.adoptPacked(new SnapshotKeys(snap.entries, committed));
  }

  const pendingSeen: PendingRecord[] = [];
  const losers: RecordRef[] = [];
  const lose = (ref: RecordRef): void => {
    countDead(ref);
    losers.push(ref);
  };
  /** One record; `counted`: found by the scan (the blob's counters do not include it yet). */
  const admit = (blob: BlobFile, r: ScannedRecord, counted: boolean): void => {
    const h = r.header;
    s.sawSeq(h.seq);
    if (counted) blob.records++;
    const dead = (h.flags & (RecordFlag.REMOVED | RecordFlag.TOMBSTONE)) !== 0 || !r.intact;
    if (!r.intact) s.recordsCorrupted++;
    if (h.flags & RecordFlag.TOMBSTONE) noteTombstone({ blob, offset: r.offset, header: h, crcs: undefined });
    if (dead) {
      blob.removedRecords++;
      blob.removedBytes += recordSpan(h.capacity);
      return;
    }
    const ref: RecordRef = { blob, offset: r.offset, header: h, crcs: r.crcs };
    if (h.flags & RecordFlag.UNCOMMITTED) {
      pendingSeen.push({ ...ref, builder: undefined });
      return;
    }
    const prev = s.index.committed(h.id);
    if (prev && prev.header.seq > h.seq) lose(ref);
    else {
      if (prev) lose(prev);
      s.index.setCommitted(h.id, ref);
    }
  };

  let scannedBytes = 0;
  for (const blob of blobs) {
    const covered = snap?.blobs.get(blob.index);
    if (covered) {
      blob.records = covered.records;
      blob.removedRecords = covered.removedRecords;
      blob.removedBytes = covered.removedBytes;
      for (const n of preparedByBlob.get(blob.index) ?? []) {
        // A prepared record may have been committed or removed in place since: read its header again.
        const e = snap!.entries.entry(n);
        const r = await readRecordAt(blob, e.offset);
        if (r) admit(blob, r, false);
        else countDead({ blob, offset: e.offset, header: e.header, crcs: undefined });
      }
    }
    const from = covered?.covered ?? 0;
    const scan = await scanBlob(blob, clean ? 0 : UNCLEAN_VERIFY_TAIL, from);
    scannedBytes += scan.end + scan.tornTail - from;
    if (scan.tornTail > 0) await ftruncate(blob.fd, scan.end);
    blob.resetEnd(scan.end);
    s.recordsCorrupted += scan.damagedRegions;
    for (const r of scan.records) admit(blob, r, true);
  }
  if (snap) s.sawSeq(snap.seq);
  // Removals shadow older copies that were never marked removed (a crash between the two writes),
  // and are remembered while younger than tombstone-ttl. A removal without a time (written by an
  // older version of this node, as a bare tombstone) only shadows.
  const forgetBefore = s.tombstoneTtl > 0 ? Date.now() / 1000 - s.tombstoneTtl : 0;
  for (const t of tombstones.values()) {
    const id = t.header.id;
    const c = s.index.committed(id);
    if (c && t.header.seq > c.header.seq) {
      lose(c);
      s.index.setCommitted(id, undefined);
    }
    if (!s.index.committed(id) && t.header.tsec > 0 && t.header.tsec >= forgetBefore) s.index.setRemoved(id, t);
  }
  for (const p of pendingSeen) {
    const committedSeq = s.index.committed(p.header.id)?.header.seq ?? -1;
    const deletedSeq = tombstones.get(indexKey(p.header.id))?.header.seq ?? -1;
    const prev = s.index.get(p.header.id)?.pending;
    if (p.header.seq > committedSeq && p.header.seq > deletedSeq && (!prev || prev.header.seq < p.header.seq)) {
      if (prev) lose(prev);
      s.index.setPending(p.header.id, p);
    } else lose(p);
  }
  for (const ref of losers) await writeRemovedMark(ref);
  if (losers.length > 0) {
    await s.blobs.syncAll();
    log?.info({ records: losers.length }, 'records that lost to newer versions marked removed');
  }
  return {
    snapshotSeq: snap ? snap.seq : -1,
    startedFrom: { snapshot: snap !== undefined, records: s.index.size, scannedBytes, ms: Math.round(performance.now() - t0) },
  };
}

/** The snapshot when it still describes every blob it names; else undefined (logged). */
async function usableSnapshot(dir: string, blobs: readonly BlobFile[], log: Logger | undefined): Promise<{ seq: number; blobs: Map<number, SnapshotBlob>; entries: SnapshotEntries } | undefined> {
  const snap = await readSnapshot(dir);
  if (!snap) return undefined;
  const ignore = (why: string): undefined => {
    log?.warn({ dir, why }, 'index snapshot ignored: every blob is scanned');
    return undefined;
  };
  if ('unusable' in snap) return ignore(snap.unusable);
  const byIndex = new Map(blobs.map((b) => [b.index, b]));
  for (const sb of snap.blobs) {
    const blob = byIndex.get(sb.index);
    if (!blob) return ignore(`blob ${BlobFile.fileName(sb.index)} is gone`);
    if ((await blob.inode()) !== sb.inode) return ignore(`blob ${BlobFile.fileName(sb.index)} was replaced`);
    if ((await fileSize(blob.fd)) < sb.fileBytes) return ignore(`blob ${BlobFile.fileName(sb.index)} is shorter than the snapshot says`);
  }
  return { seq: snap.seq, blobs: new Map(snap.blobs.map((b) => [b.index, b])), entries: snap.entries };
}
