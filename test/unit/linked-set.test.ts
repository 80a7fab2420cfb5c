// LinkedSet (src/util/linked-set.ts) against a Set, over random adds and deletes.

import test from 'node:test';
import assert from 'node:assert/strict';
import { LinkedSet } from '../../src/util/linked-set.js';

interface Item {
  n: number;
  listPrev: Item | undefined;
  listNext: Item | undefined;
}

const item = (n: number): Item => ({ n, listPrev: undefined, listNext: undefined });

test('linked set: the same members as a Set through random adds and deletes, deletes of non-members ignored', () => {
  const set = new LinkedSet<Item>();
  const model = new Set<Item>();
  const items = Array.from({ length: 50 }, (_, i) => item(i));
  let seed = 7;
  const rnd = (n: number): number => ((seed = (seed * 1103515245 + 12345) & 0x7fffffff) % n);
  for (let step = 0; step < 5000; step++) {
    const x = items[rnd(items.length)]!;
    if (model.has(x) || rnd(3) === 0) {
      set.delete(x);
      model.delete(x);
    } else {
      set.add(x);
      model.add(x);
    }
    assert.equal(set.size, model.size);
  }
  assert.deepEqual([...set].map((x) => x.n).sort((a, b) => a - b), [...model].map((x) => x.n).sort((a, b) => a - b));
});

test('linked set: newest first, a member deleted while it is visited, and a deleted member lets go of its neighbours', () => {
  const set = new LinkedSet<Item>();
  const [a, b, c] = [item(1), item(2), item(3)];
  set.add(a);
  set.add(b);
  set.add(c);
  assert.deepEqual([...set].map((x) => x.n), [3, 2, 1]);
  const seen: number[] = [];
  for (const x of set) {
    seen.push(x.n);
    if (x === b) set.delete(b);
  }
  assert.deepEqual(seen, [3, 2, 1]);
  assert.deepEqual([...set].map((x) => x.n), [3, 1]);
  assert.equal(b.listPrev, undefined);
  assert.equal(b.listNext, undefined);
  set.delete(b);
  assert.equal(set.size, 2, 'deleting a non-member changes nothing');
  set.delete(c);
  set.delete(a);
  assert.equal(set.size, 0);
  assert.deepEqual([...set], []);
});
