// proxy.write-quorum: how many groups an upload needs, shared by uploads and /health/.

import { it } from 'node:test';
import assert from 'node:assert/strict';
import { quorumNeeds } from '../../src/config/proxy-config.js';

it('any needs one group, majority more than half, all every group (never fewer than one)', () => {
  const table = [1, 2, 3, 4, 5].map((n) => [n, quorumNeeds('any', n), quorumNeeds('majority', n), quorumNeeds('all', n)]);
  assert.deepEqual(table, [[1, 1, 1, 1], [2, 1, 2, 2], [3, 1, 2, 3], [4, 1, 3, 4], [5, 1, 3, 5]]);
  assert.equal(quorumNeeds('all', 0), 1);
});
