// Routing (spec §3.3): greatest point ≤ key, wrapping below the first point.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { RouteTable } from '../../src/elliptics/route-table.js';

/** The owner of a key as node and backend (lookup hands out the table's own entry). */
const owner = (t: RouteTable, group: number, key: Buffer) => {
  const r = t.lookup(group, key);
  return r && { node: r.node, backendId: r.backendId };
};

const id = (first: number) => {
  const b = Buffer.alloc(64);
  b[0] = first;
  return b;
};

test('a key belongs to the greatest point at or below it; below every point it wraps to the last', () => {
  const t = new RouteTable();
  t.setNode('n1', [{ backendId: 1, group: 1, flags: 0, ids: [id(0x10), id(0x80)] }]);
  t.setNode('n2', [{ backendId: 7, group: 1, flags: 0, ids: [id(0x40)] }]);
  assert.deepEqual(owner(t, 1, id(0x10)), { node: 'n1', backendId: 1 }, 'exact match');
  assert.deepEqual(owner(t, 1, id(0x3f)), { node: 'n1', backendId: 1 });
  assert.deepEqual(owner(t, 1, id(0x40)), { node: 'n2', backendId: 7 });
  assert.deepEqual(owner(t, 1, id(0x7f)), { node: 'n2', backendId: 7 });
  assert.deepEqual(owner(t, 1, id(0xff)), { node: 'n1', backendId: 1 });
  assert.deepEqual(owner(t, 1, id(0x01)), { node: 'n1', backendId: 1 }, 'wraps to the last point (0x80)');
  assert.equal(t.lookup(2, id(0x01)), undefined, 'unknown group');
});

test('UPDATE_IDS: disable removes a backend by (node, backend) even with group 0; enable adds it back', () => {
  const t = new RouteTable();
  t.setNode('n1', [{ backendId: 1, group: 3, flags: 0, ids: [id(0x20)] }, { backendId: 2, group: 5, flags: 0, ids: [id(0x30)] }]);
  t.updateBackend('n1', { backendId: 2, group: 0, flags: 1, ids: [] });
  assert.deepEqual(t.groupIds(), [3]);
  t.updateBackend('n1', { backendId: 2, group: 5, flags: 0, ids: [id(0x31)] });
  assert.deepEqual(owner(t, 5, id(0x00)), { node: 'n1', backendId: 2 });
  t.removeNode('n1');
  assert.deepEqual(t.groupIds(), []);
});

test('a point another node already announced in the group is skipped', () => {
  const t = new RouteTable();
  t.setNode('a', [{ backendId: 1, group: 1, flags: 0, ids: [id(0x10)] }]);
  t.setNode('b', [{ backendId: 1, group: 1, flags: 0, ids: [id(0x10), id(0x90)] }]);
  assert.deepEqual(owner(t, 1, id(0x11)), { node: 'a', backendId: 1 });
  assert.deepEqual(owner(t, 1, id(0x95)), { node: 'b', backendId: 1 });
});
