// MONITOR_STAT JSON → typed backend stats, read as backrunner reads them (spec §11.1).

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseNodeStats } from '../../src/elliptics/stats.js';
import { fixture } from '../helpers/fixtures.js';

test('the statistics a real node sent parse into per-backend free space, limits, records and counters', () => {
  const doc = JSON.parse(fixture('stats', 'stat_cat84_node1.pretty.json').toString());
  const s = parseNodeStats('127.0.0.1:1025:2', doc);
  assert.equal(s.monitorEnabled, true);
  assert.equal(s.timestamp, doc.timestamp.tv_sec * 1000 + Math.floor(doc.timestamp.tv_usec / 1000));
  assert.deepEqual(s.backends.map((b) => [b.backendId, b.group]), [[1, 1], [2, 3], [3, 5]]);
  const raw = doc.backends['1'].backend;
  const b1 = s.backends[0]!;
  assert.equal(b1.total, raw.vfs.frsize * raw.vfs.blocks);
  assert.equal(b1.avail, raw.vfs.bfree * raw.vfs.bsize, 'bfree, not bavail');
  assert.equal(b1.limit, raw.config.blob_size_limit, 'blob_size_limit applies: free-space checks are on');
  assert.equal(b1.used, raw.summary_stats.base_size);
  assert.equal(b1.recordsTotal, raw.summary_stats.records_total);
  assert.equal(b1.recordsRemoved, raw.summary_stats.records_removed);
  assert.equal(b1.removedSize, raw.summary_stats.records_removed_size);
  const w = doc.backends['1'].commands.WRITE;
  assert.equal(b1.commands.WRITE!.requestsSuccess, w.cache.outside.successes + w.cache.internal.successes + w.disk.outside.successes + w.disk.internal.successes);
  assert.equal(b1.readOnly, false);
  assert.equal(b1.error, 0);
});

test('disabled backends are left out, stale ones carry their error, NO_FREE_SPACE_CHECK ignores the blob limit', () => {
  const backend = (id: number, state: number, extra: Record<string, unknown> = {}) => ({
    backend_id: id,
    status: { state, read_only: id === 3, delay: 7, defrag_state: 0 },
    backend: {
      config: { group: 10 + id, blob_size_limit: 1000, blob_flags: id === 2 ? 16 : 0 },
      vfs: { frsize: 4096, blocks: 100, bfree: 50, bsize: 4096 },
      summary_stats: { base_size: 10 },
      ...extra,
    },
  });
  const s = parseNodeStats('n', {
    monitor_status: 'enabled',
    timestamp: { tv_sec: 1, tv_usec: 0 },
    backends: { '1': backend(1, 0), '2': backend(2, 1), '3': backend(3, 1, { error: { code: 110 } }) },
  });
  assert.deepEqual(s.disabled, [1]);
  assert.deepEqual(s.backends.map((b) => [b.backendId, b.limit, b.error, b.readOnly, b.delay]), [[2, 409600, 0, false, 7], [3, 1000, 110, true, 7]]);
  assert.deepEqual(parseNodeStats('n', { monitor_status: 'disabled' }).backends, []);
});
