// Removal of a key. A bare tombstone record (its header only: TOMBSTONE, the removal's time, a fresh
// sequence number) is appended, then the key's records are flagged REMOVED in place. The sequence
// number orders the removal against the key's other records when the index is rebuilt; the time
// orders it against a write of the key made in another group (recovery, read-repair, CAS_TIMESTAMP).
// The index remembers the removal for `tombstone-ttl`; compaction keeps the tombstone meanwhile.
//
// On a full disk (no room for 128 bytes) the key's record itself becomes the tombstone, rewritten
// where it lies — one page write, no new space, as eblob removes — so a full disk can still be
// emptied through the API. That change lies inside what the index snapshot already covers, where a
// snapshot start would not look: the snapshot is dropped (the next start scans every blob).

import { Errno } from '../../elliptics/protocol/constants.js';
import { type DnetTime, compareTime, isSetTime, timeNow } from '../../elliptics/protocol/time.js';
import { indexKey, recordTime, type RecordRef } from './key-index.js';
import { encodeRecordHeader, RECORD_HEADER_SIZE, RecordFlag, type RecordHeader } from './record.js';
import { countDead, markRemoved, writeRecord } from './record-io.js';
import type { BackendState } from './state.js';
import { StorageError } from './storage-error.js';

export interface RemoveOptions {
  /** When the removal was made (the DEL's io_attr timestamp); unset: now. */
  timestamp?: DnetTime;
  /** CAS_TIMESTAMP: refuse (-EBADFD) when the stored record is newer than `timestamp`. */
  casTimestamp?: boolean;
}

export function removeKey(s: BackendState, id: Buffer, opts: RemoveOptions = {}): Promise<void> {
  return s.gate.run(() => s.locks.run(indexKey(id), async () => {
    const st = s.index.get(id);
    if (!st?.committed && !st?.pending) throw new StorageError(Errno.ENOENT, 'no such key');
    const when = opts.timestamp && isSetTime(opts.timestamp) ? opts.timestamp : timeNow();
    if (opts.casTimestamp && st.committed && compareTime(recordTime(st.committed), when) > 0) {
      throw new StorageError(Errno.EBADFD, 'the stored record is newer than the removal');
    }
    const removal = { flags: RecordFlag.REMOVED | RecordFlag.TOMBSTONE, tsec: when.sec, tnsec: when.nsec, seq: s.nextSeq() };
    let removed = await appendTombstone(s, id, removal);
    if (removed) {
      if (st.committed) await markRemoved(st.committed);
      if (st.pending) await markRemoved(st.pending);
    } else {
      const carrier = (st.committed ?? st.pending)!;
      if (st.committed && st.pending) await markRemoved(st.pending);
      const header: RecordHeader = { ...carrier.header, ...removal, flags: (carrier.header.flags & ~RecordFlag.UNCOMMITTED) | removal.flags };
      countDead(carrier);
      await writeRecord(carrier.blob, [encodeRecordHeader(header)], carrier.offset);
      removed = { blob: carrier.blob, offset: carrier.offset, header, crcs: undefined };
      await s.invalidateSnapshot();
    }
    s.index.setCommitted(id, undefined);
    s.index.setPending(id, undefined);
    s.index.setRemoved(id, removed);
    await s.blobs.durable(removed.blob);
  }));
}

/** The bare tombstone at the end of the active blob; undefined when there is no room for it. */
async function appendTombstone(s: BackendState, id: Buffer, removal: Pick<RecordHeader, 'flags' | 'tsec' | 'tnsec' | 'seq'>): Promise<RecordRef | undefined> {
  const header: RecordHeader = { id, capacity: 0, size: 0, userFlags: 0n, ...removal };
  let at;
  try {
    at = s.blobs.allocate(RECORD_HEADER_SIZE, 0, true);
    await writeRecord(at.blob, [encodeRecordHeader(header)], at.offset);
  } catch (err) {
    at?.blob.unallocate(at.offset, RECORD_HEADER_SIZE);
    if (err instanceof StorageError && err.status === Errno.ENOSPC) return undefined;
    throw err;
  }
  at.blob.records++;
  at.blob.removedRecords++;
  at.blob.removedBytes += RECORD_HEADER_SIZE;
  return { blob: at.blob, offset: at.offset, header, crcs: undefined };
}
