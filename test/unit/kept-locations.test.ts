// The windows a worker keeps (FlagsHigh.KEEP): found again only as asked (group, offset, size,
// io-flags), for KEEP_SECONDS, the oldest dropped when full, and holding no view into a frame.

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { KeptLocations } from '../../src/elliptics/kept-locations.js';
import { KEEP_SECONDS, makeIoAttr } from '../../src/elliptics/protocol/index.js';

const id = (n: number): Buffer => Buffer.alloc(64, n);
const location = { path: '/data/data-0.1', recordOffset: 4096, header: Buffer.alloc(96, 1) };

test('a window is found again only as it was asked, in the same group', () => {
  const k = new KeptLocations();
  const io = makeIoAttr({ id: id(1), offset: 0, size: 4096, totalSize: 4096 });
  k.keep(1, id(1), 0, 0, 0, io, location);
  assert.equal(k.get(1, id(1), 0, 0, 0)?.io.size, 4096);
  assert.equal(k.get(2, id(1), 0, 0, 0), undefined, 'another group');
  assert.equal(k.get(1, id(2), 0, 0, 0), undefined, 'another key');
  assert.equal(k.get(1, id(1), 0, 1, 0), undefined, 'another size');
  assert.equal(k.get(1, id(1), 0, 0, 0x10), undefined, 'other io-flags');
  k.drop(1, id(1), 0, 0, 0);
  assert.equal(k.get(1, id(1), 0, 0, 0), undefined, 'dropped');
});

test('the io_attr kept is a copy: the frame it was decoded from may be reused', () => {
  const k = new KeptLocations();
  const frame = Buffer.alloc(128, 9);
  const io = { ...makeIoAttr({ id: id(3), size: 10, totalSize: 10 }), parent: frame.subarray(0, 64), id: frame.subarray(64) };
  k.keep(1, id(3), 0, 0, 0, io, location);
  frame.fill(0);
  assert.deepEqual(k.get(1, id(3), 0, 0, 0)?.io.id, Buffer.alloc(64, 9));
});

test('a grant ends after KEEP_SECONDS; when full the oldest grant goes first', (t) => {
  t.mock.timers.enable({ apis: ['Date'], now: 1_000_000 });
  const k = new KeptLocations(3);
  const io = makeIoAttr({ id: id(1), size: 1, totalSize: 1 });
  for (const n of [1, 2, 3]) k.keep(1, id(n), 0, 0, 0, io, location);
  k.keep(1, id(1), 0, 0, 0, io, location); // renewed: now the newest
  k.keep(1, id(4), 0, 0, 0, io, location);
  assert.equal(k.size, 3);
  assert.equal(k.get(1, id(2), 0, 0, 0), undefined, 'the oldest grant was dropped');
  assert.ok(k.get(1, id(1), 0, 0, 0) && k.get(1, id(3), 0, 0, 0) && k.get(1, id(4), 0, 0, 0));
  t.mock.timers.tick(KEEP_SECONDS * 1000 - 1);
  assert.ok(k.get(1, id(4), 0, 0, 0));
  t.mock.timers.tick(1);
  assert.equal(k.get(1, id(4), 0, 0, 0), undefined, 'the grant ended');
});
