// Removal of a key: a tombstone record is appended (it shadows older copies of the key if the
// index is rebuilt before their REMOVED marks are on disk), then every record of the key is flagged
// REMOVED in place, and the key leaves the index.

import { Errno } from '../../elliptics/protocol/constants.js';
import { indexKey } from './key-index.js';
import { encodeRecordHeader, RECORD_HEADER_SIZE, RecordFlag, type RecordHeader } from './record.js';
import { markRemoved, writeRecord } from './record-io.js';
import type { BackendState } from './state.js';
import { StorageError } from './storage-error.js';
import { blankHeader } from './write-path.js';

export function removeKey(s: BackendState, id: Buffer): Promise<void> {
  return s.gate.run(() => s.locks.run(indexKey(id), async () => {
    const st = s.index.get(id);
    if (!st?.committed && !st?.pending) throw new StorageError(Errno.ENOENT, 'no such key');
    const tombstone: RecordHeader = { ...blankHeader(id), flags: RecordFlag.TOMBSTONE, seq: s.nextSeq() };
    const { blob, offset } = s.blobs.allocate(RECORD_HEADER_SIZE, 0);
    await writeRecord(blob, [encodeRecordHeader(tombstone)], offset);
    blob.records++;
    blob.removedRecords++;
    blob.removedBytes += RECORD_HEADER_SIZE;
    if (st.committed) await markRemoved(st.committed);
    if (st.pending) await markRemoved(st.pending);
    s.index.delete(id);
    await s.blobs.durable(blob);
  }));
}
