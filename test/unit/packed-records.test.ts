// The settled keys' packed table, against a plain Map as the model under thousands of random adds
// and removals (backward-shift deletion must keep every other key findable, ids sharing 60 bytes
// included), and the key index that moves keys between objects and the table: a key asked for comes
// out, one left alone for a round goes back in, a compaction's move is followed in either form, an
// index capture and a walk see every key exactly once wherever it is.

import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { PackedRecords, type PackedRecord } from '../../src/storage-node/engine/packed-records.js';
import { KeyIndex, type RecordRef } from '../../src/storage-node/engine/key-index.js';
import { KeyWalk } from '../../src/storage-node/engine/walk.js';
import type { BlobFile } from '../../src/storage-node/engine/blob-file.js';

const idOf = (k: string): Buffer => createHash('sha512').update(k).digest();

function record(id: Buffer, seq: number): PackedRecord {
  const crcs = seq % 3 === 0 ? undefined : seq % 3 === 1 ? Uint32Array.of(seq * 7) : Uint32Array.from({ length: 1 + (seq % 5) + 1 }, (_, i) => seq + i);
  return { blobIndex: seq % 4, offset: seq * 128 + 2 ** 33, header: { id, flags: seq % 2 ? 8 : 0, capacity: 5000 + seq, size: 4000 + seq, tsec: 1_700_000_000 + seq, tnsec: seq * 11, userFlags: BigInt(seq) << 40n, seq }, crcs };
}

describe('packed records', () => {
  it('agrees with a Map through 20,000 random adds and removals, colliding prefixes included', () => {
    const t = new PackedRecords();
    const model = new Map<string, PackedRecord>();
    const ids = [
      ...Array.from({ length: 3000 }, (_, i) => idOf(`k${i}`)),
      ...Array.from({ length: 200 }, (_, i) => Buffer.concat([Buffer.alloc(60, 0x5a), Buffer.from([0, 0, i >> 8, i & 0xff])])),
    ];
    let seed = 12345;
    const rand = (n: number): number => ((seed = (Math.imul(seed, 1103515245) + 12345) >>> 0) % n);
    for (let step = 1; step <= 20_000; step++) {
      const id = ids[rand(ids.length)]!;
      const key = id.toString('hex');
      const n = t.find(id);
      assert.equal(n >= 0, model.has(key), `step ${step}: found iff held`);
      if (n >= 0) {
        assert.deepEqual(t.record(n), model.get(key), `step ${step}: the record as packed`);
        if (rand(3) > 0) {
          t.remove(n);
          model.delete(key);
        } else {
          t.relocate(n, 9, step * 128);
          model.get(key)!.blobIndex = 9;
          model.get(key)!.offset = step * 128;
        }
      } else {
        const r = record(Buffer.from(id), step);
        t.add(r);
        model.set(key, r);
      }
      assert.equal(t.live, model.size);
    }
    for (const id of ids) assert.equal(t.find(id) >= 0, model.has(id.toString('hex')));
    const ids64 = t.ids();
    assert.equal(ids64.length, model.size * 64);
    const listed = new Set(Array.from({ length: model.size }, (_, i) => ids64.subarray(64 * i, 64 * i + 64).toString('hex')));
    assert.deepEqual([...listed].sort(), [...model.keys()].sort());
    const frozen = t.freeze();
    t.remove(t.find(Buffer.from([...listed][0]!, 'hex'))); // changes after the freeze are not seen
    const seen = [...frozen.entries];
    assert.equal(frozen.count, model.size);
    assert.deepEqual(seen.sort((a, b) => a.header.seq - b.header.seq), [...model.values()].sort((a, b) => a.header.seq - b.header.seq));
  });
});

describe('key index: objects and packed records', () => {
  const blobs = [0, 1, 2, 3].map((index) => ({ index, path: `blob-${index}` }) as unknown as BlobFile);
  const compacted = { index: 1, path: 'blob-1 (compacted)' } as unknown as BlobFile;
  const blobOf = (i: number): BlobFile => blobs[i]!;
  function ref(id: Buffer, seq: number): RecordRef {
    const r = record(id, seq);
    return { blob: blobs[r.blobIndex]!, offset: r.offset, header: r.header, crcs: r.crcs };
  }
  function indexWith(n: number): { index: KeyIndex; ids: Buffer[] } {
    const index = new KeyIndex(blobOf);
    const ids = Array.from({ length: n }, (_, i) => idOf(`key ${i}`));
    ids.forEach((id, i) => index.setCommitted(id, ref(id, i + 1)));
    return { index, ids };
  }

  it('packs keys left alone, takes out a key asked for, and serves the same record either way', () => {
    const { index, ids } = indexWith(100);
    const before = ids.map((id) => index.committed(id));
    assert.equal(index.settle(), 0, 'every key was just used: none is packed in this round');
    index.committed(ids[5]!);
    assert.equal(index.settle(), 99, 'untouched for a round: packed, the one asked for stays an object');
    assert.deepEqual(index.holding(), { objects: 1, packed: 99, snapshot: 0 });
    ids.forEach((id, i) => assert.deepEqual(index.committed(id), before[i], `key ${i} as it was`));
    assert.equal(index.holding().objects, 100, 'asked for: out again');
    assert.equal(index.size, 100);
    assert.equal(index.committedCount(), 100);
  });

  it('a key whose chunks a read verified stays an object for the verified rounds, then is packed too', () => {
    const { index, ids } = indexWith(3);
    index.settle();
    index.committed(ids[0]!)!.verifiedAt = new Uint32Array(1);
    index.committed(ids[1]!);
    index.committed(ids[2]!);
    index.settle(false, 3); // rounds go on; nobody asks for the keys any more
    assert.equal(index.settle(false, 3), 2, 'the two unverified keys are packed after one idle round');
    assert.equal(index.settle(false, 3), 0);
    assert.equal(index.settle(false, 3), 0, 'the verified key: still an object, 2 rounds later');
    assert.equal(index.settle(false, 3), 1, 'and packed 3 rounds after the others');
    assert.equal(index.committed(ids[0]!)?.verifiedAt, undefined, 'taken out again: verified anew by the next read');
  });

  it('a prepared record or a removal keeps its key an object; a write over a packed key replaces it', () => {
    const { index, ids } = indexWith(10);
    index.setPending(ids[0]!, { ...ref(ids[0]!, 50), builder: undefined });
    index.setRemoved(ids[1]!, ref(ids[1]!, 51));
    index.setCommitted(ids[1]!, undefined);
    assert.equal(index.settle(true), 8);
    const next = ref(ids[2]!, 77);
    index.setCommitted(ids[2]!, next);
    assert.equal(index.committed(ids[2]!), next);
    index.settle(true);
    assert.equal(index.committed(ids[2]!)?.header.seq, 77, 'packed again with the new record');
    assert.equal(index.removed(ids[1]!)?.header.seq, 51);
    assert.equal(index.get(ids[0]!)?.pending?.header.seq, 50);
    assert.deepEqual(index.counts(), { committed: 9, pending: 1, removed: 1 });
  });

  it('follows a compaction in either form, and not a key that changed meanwhile', () => {
    const { index, ids } = indexWith(40);
    const on1 = ids.map((id, i) => ({ id, from: ref(id, i + 1).offset })).filter(({ id }) => index.committed(id)!.blob === blobs[1]);
    assert.equal(on1.length, 10);
    index.settle(true);
    index.committed(on1[0]!.id); // taken out: an object
    index.setCommitted(on1[1]!.id, ref(on1[1]!.id, 1000)); // rewritten since, into blob 0
    on1.forEach(({ id, from }, k) => index.relocate(id, blobs[1]!, k === 9 ? from + 128 : from, compacted, 128 * k));
    const [obj, rewritten, ...packed] = on1.map(({ id }) => index.committed(id)!);
    assert.equal(obj!.blob, compacted);
    assert.equal(obj!.offset, 0);
    assert.equal(rewritten!.header.seq, 1000, 'the newer record is left alone');
    assert.equal(rewritten!.blob, blobs[0]);
    packed.slice(0, 7).forEach((r, k) => assert.equal(r.offset, 128 * (k + 2), `packed key ${k + 2} moved`));
    assert.equal(packed[7]!.offset, on1[9]!.from, 'a move from another place is not this record');
  });

  it('an index capture and a walk see each key once, wherever it is and wherever it goes meanwhile', () => {
    const { index, ids } = indexWith(300);
    index.settle(true);
    for (let i = 0; i < 300; i += 3) index.committed(ids[i]!); // a third out as objects
    const captured = index.capture();
    assert.equal(captured.count, 300);
    assert.deepEqual([...captured.entries].map((e) => e.header.seq).sort((a, b) => a - b), ids.map((_, i) => i + 1));
    const walk = new KeyWalk(index, { ranges: [], removed: false });
    const seen: number[] = [];
    let moved = false;
    while (!walk.done) {
      for (const w of walk.next(25)) seen.push(w.ref.header.seq);
      if (!moved) {
        index.settle(true); // the objects go back into the table mid-walk
        for (let i = 1; i < 300; i += 3) index.committed(ids[i]!); // and others come out
        moved = true;
      }
    }
    assert.deepEqual(seen.sort((a, b) => a - b), ids.map((_, i) => i + 1));
  });
});
