// The index snapshot's file format read back, and the packed table of its committed records: every
// key found once, unknown keys and keys already taken not found, duplicates resolved to the first,
// prepared records left out, the rest iterated; ids that share a prefix (not hashes) still separate.

import { describe, it, after } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { idHash, installSnapshot, readSnapshot, writeSnapshotTemp, type SnapshotEntry } from '../../src/storage-node/engine/index-snapshot.js';
import { RecordFlag } from '../../src/storage-node/engine/record.js';
import { SnapshotKeys } from '../../src/storage-node/engine/snapshot-keys.js';
import { tempDir } from '../helpers/nodes.js';

const idOf = (k: string): Buffer => createHash('sha512').update(k).digest();

function entry(id: Buffer, seq: number, flags = 0, crcs: Uint32Array | undefined = new Uint32Array([seq, seq + 1])): SnapshotEntry {
  return { blobIndex: seq % 3, offset: seq * 128, header: { id, flags, capacity: 1000 + seq, size: 900 + seq, tsec: seq, tnsec: 7, userFlags: BigInt(seq) << 40n, seq }, crcs };
}

describe('index snapshot entries, packed', () => {
  const tmp = tempDir('backrunner-snapkeys-');
  after(() => tmp.cleanup());

  async function roundTrip(entries: SnapshotEntry[]): Promise<Awaited<ReturnType<typeof readSnapshot>>> {
    const dir = fs.mkdtempSync(path.join(tmp.dir, 's-'));
    await writeSnapshotTemp(dir, { seq: 99, blobs: [{ index: 0, inode: 5, covered: 4096, fileBytes: 4000, records: 3, removedRecords: 1, removedBytes: 256 }], count: entries.length, entries });
    await installSnapshot(dir);
    return readSnapshot(dir);
  }

  it('reads back what was written, field by field, and finds every committed key exactly once', async () => {
    const ids = Array.from({ length: 2000 }, (_, i) => idOf(`k${i}`));
    // Ids equal in their first 60 bytes: the hash must use all of them.
    const prefix = Array.from({ length: 50 }, (_, i) => Buffer.concat([Buffer.alloc(60, 0xaa), Buffer.from([0, 0, i >> 8, i & 0xff])]));
    const written = [...ids, ...prefix].map((id, i) => entry(id, i + 1, 0, i % 5 === 0 ? undefined : new Uint32Array([i, i * 3])));
    written.push(entry(idOf('prepared'), 5000, RecordFlag.UNCOMMITTED, undefined));
    written.push(entry(ids[7]!, 6000)); // a duplicate id: the first entry stands
    const snap = await roundTrip(written);
    assert.ok(snap && !('unusable' in snap));
    assert.equal(snap.seq, 99);
    assert.deepEqual(snap.blobs, [{ index: 0, inode: 5, covered: 4096, fileBytes: 4000, records: 3, removedRecords: 1, removedBytes: 256 }]);
    assert.equal(snap.entries.count, written.length);
    for (let n = 0; n < written.length; n++) assert.deepEqual(snap.entries.entry(n), written[n], `entry ${n}`);

    const committed = written.map((_, n) => n).filter((n) => !(snap.entries.flags(n) & RecordFlag.UNCOMMITTED));
    const keys = new SnapshotKeys(snap.entries, committed);
    assert.equal(keys.live, ids.length + prefix.length, 'the prepared record and the duplicate are not in');
    assert.equal(keys.take(idOf('prepared')), -1);
    assert.equal(keys.take(idOf('never written')), -1);
    for (let i = 0; i < ids.length; i += 2) assert.equal(keys.take(ids[i]!), i, `k${i}`);
    for (let i = 0; i < prefix.length; i++) assert.equal(keys.take(prefix[i]!), ids.length + i, `prefix ${i}`);
    assert.equal(keys.take(ids[0]!), -1, 'taken once only');
    const frozen = keys.freeze();
    assert.equal(keys.take(ids[1]!), 1, 'taken after the freeze');
    const left = [...frozen.entries].map((e) => e.header.seq);
    assert.deepEqual(left, ids.map((_, i) => i + 1).filter((seq) => (seq - 1) % 2 === 1), 'the frozen view still has what was left when it was taken');
    assert.equal(frozen.count, left.length);
    assert.equal(keys.live, left.length - 1);
  });

  it('hashes an id alike from a Buffer and from the snapshot bytes', async () => {
    const id = idOf('same');
    const snap = await roundTrip([entry(id, 1)]);
    assert.ok(snap && !('unusable' in snap));
    assert.equal(snap.entries.hash(0), idHash(id));
    const unaligned = Buffer.concat([Buffer.alloc(1), id]);
    assert.equal(idHash(unaligned, 1), idHash(id));
  });

  it('a torn or altered snapshot is unusable, with the reason', async () => {
    const dir = fs.mkdtempSync(path.join(tmp.dir, 'bad-'));
    await writeSnapshotTemp(dir, { seq: 1, blobs: [], count: 1, entries: [entry(idOf('a'), 1)] });
    await installSnapshot(dir);
    const file = path.join(dir, 'index.snapshot');
    const good = fs.readFileSync(file);
    fs.writeFileSync(file, good.subarray(0, good.length - 3));
    assert.deepEqual(await readSnapshot(dir), { unusable: 'no end marker (the write did not finish)' });
    const flipped = Buffer.from(good);
    flipped[60] = flipped[60]! ^ 1;
    fs.writeFileSync(file, flipped);
    assert.deepEqual(await readSnapshot(dir), { unusable: 'checksum mismatch' });
    fs.rmSync(file);
    assert.equal(await readSnapshot(dir), undefined);
  });
});
