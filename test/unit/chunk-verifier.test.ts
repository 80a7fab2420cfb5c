// Chunk verification: a mismatch is -EILSEQ; a recently verified chunk is trusted only within the TTL.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ChunkVerifier } from '../../src/storage-node/engine/chunk-verifier.js';
import { ChunkCrcBuilder } from '../../src/storage-node/engine/chunk-crc.js';
import { CHUNK_SIZE } from '../../src/storage-node/engine/record.js';
import type { RecordRef } from '../../src/storage-node/engine/key-index.js';
import type { BlobFile } from '../../src/storage-node/engine/blob-file.js';

function record(data: Buffer): RecordRef {
  const b = new ChunkCrcBuilder();
  b.feed(data);
  return {
    blob: { path: '/data/data-0.0' } as BlobFile,
    offset: 0,
    header: { id: Buffer.alloc(64), flags: 0, capacity: data.length, size: data.length, tsec: 0, tnsec: 0, userFlags: 0n, seq: 1 },
    crcs: b.finish(),
  };
}

const data = Buffer.from(Array.from({ length: 3 * CHUNK_SIZE }, (_, i) => (i * 31) % 256));
const eilseq = (e: unknown) => (e as { status?: number }).status === -84;

test('verify-ttl 0 checks every read: corruption after a good read is still caught', () => {
  const ref = record(data);
  const v = new ChunkVerifier(0);
  v.verify(ref, data, 0);
  const rotten = Buffer.from(data);
  rotten[CHUNK_SIZE + 5]! ^= 1;
  assert.throws(() => v.verify(ref, rotten, 0), eilseq);
  assert.throws(() => v.verify(ref, rotten.subarray(CHUNK_SIZE, 2 * CHUNK_SIZE), CHUNK_SIZE), eilseq);
  assert.equal(ref.verifiedAt, undefined);
});

test('within the TTL a verified chunk is trusted, an unverified one is still checked', () => {
  const ref = record(data);
  const v = new ChunkVerifier(10);
  v.verify(ref, data.subarray(0, CHUNK_SIZE), 0); // chunk 0 verified
  const rotten = Buffer.from(data);
  rotten[5]! ^= 1; // chunk 0 (already verified): trusted
  rotten[2 * CHUNK_SIZE + 5]! ^= 1; // chunk 2 (never verified): caught
  assert.doesNotThrow(() => v.verify(ref, rotten.subarray(0, CHUNK_SIZE), 0));
  assert.throws(() => v.verify(ref, rotten, 0), eilseq);
});

test('a partial last chunk is verified over its real length', () => {
  const short = data.subarray(0, CHUNK_SIZE + 100);
  const ref = record(short);
  assert.doesNotThrow(() => new ChunkVerifier(0).verify(ref, short, 0));
  assert.doesNotThrow(() => new ChunkVerifier(0).verify(ref, short.subarray(CHUNK_SIZE), CHUNK_SIZE));
});

test('with a margin a chunk is trusted only if its verification holds that much longer; holdsFor follows the TTL', (t) => {
  t.mock.timers.enable({ apis: ['Date'], now: Date.now() });
  const ref = record(data);
  const v = new ChunkVerifier(10);
  v.verify(ref, data.subarray(0, CHUNK_SIZE), 0);
  assert.ok(v.fresh(ref, 0, CHUNK_SIZE, 2), 'just verified: holds 2 s more');
  // Verified 8 s ago (the clock counts whole seconds): fresh, but not for 2 s more — a margin of 2 re-verifies.
  t.mock.timers.tick(8000);
  assert.ok(v.fresh(ref, 0, CHUNK_SIZE));
  assert.ok(!v.fresh(ref, 0, CHUNK_SIZE, 2));
  const rotten = Buffer.from(data.subarray(0, CHUNK_SIZE));
  rotten[5]! ^= 1;
  assert.doesNotThrow(() => v.verify(ref, rotten, 0), 'within the TTL: trusted');
  assert.throws(() => v.verify(ref, rotten, 0, 2), eilseq, 'with the margin: checked again');
  assert.ok(new ChunkVerifier(10).holdsFor(2));
  assert.ok(!new ChunkVerifier(2).holdsFor(2));
  assert.ok(!new ChunkVerifier(0).holdsFor(2));
});
