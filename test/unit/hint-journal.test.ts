// The hint journal on its own: durable adds read back after a reopen, a torn tail cut off, newer
// hints replacing older ones of the same key and group, the limit, and the rewrite that drops
// delivered records.

import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { after, describe, it } from 'node:test';
import type { Hint } from '../../src/ipc/hints.js';
import { HintJournal, JOURNAL_FILE } from '../../src/recovery/hint-journal.js';
import { tempDir } from '../helpers/nodes.js';

const hint = (n: number, group = 2, sec = 100 + n, op: Hint['op'] = 'write'): Hint => ({ bucket: 'b1', id: Buffer.alloc(64, n), group, op, sec, nsec: 0 });

describe('hint journal', () => {
  const tmp = tempDir('backrunner-hints-');
  after(() => tmp.cleanup());

  it('keeps what it acknowledged across a reopen, and cuts a torn tail', async () => {
    const dir = path.join(tmp.dir, 'a');
    const j = await HintJournal.open(dir, 100);
    assert.equal((await j.add([hint(1), hint(2), hint(3, 4, 50, 'remove')])).length, 3);
    await j.done([...j.pending()].filter((h) => h.idHex.startsWith('02')).map((h) => h.key));
    j.close();
    // A kill in the middle of an append leaves half a record.
    fs.appendFileSync(path.join(dir, JOURNAL_FILE), Buffer.from([0x40, 0, 0, 0, 1, 2]));
    const k = await HintJournal.open(dir, 100);
    const pending = [...k.pending()].map((h) => `${h.idHex.slice(0, 2)}:${h.group}:${h.op}:${h.sec}`).sort();
    assert.deepEqual(pending, ['01:2:write:101', '03:4:remove:50']);
    assert.equal(fs.statSync(path.join(dir, JOURNAL_FILE)).size, k.stats().bytes, 'the torn tail is gone');
    k.close();
  });

  it('a newer hint of the same key and group replaces the older; an older one is ignored', async () => {
    const j = await HintJournal.open(path.join(tmp.dir, 'b'), 100);
    await j.add([hint(1, 2, 100)]);
    await j.add([hint(1, 2, 200, 'remove')]);
    assert.equal((await j.add([hint(1, 2, 150)])).length, 0);
    assert.deepEqual([...j.pending()].map((h) => [h.op, h.sec]), [['remove', 200]]);
    j.close();
  });

  it('refuses hints beyond its limit and counts them', async () => {
    const j = await HintJournal.open(path.join(tmp.dir, 'c'), 5);
    const stored = await j.add(Array.from({ length: 8 }, (_, i) => hint(i)));
    assert.equal(stored.length, 5);
    assert.deepEqual(j.stats().overflowed, 3);
    assert.equal(j.size, 5);
    j.close();
  });

  it('rewrites itself once most records are delivered, and still reads back right', async () => {
    const dir = path.join(tmp.dir, 'd');
    const j = await HintJournal.open(dir, 100_000);
    for (let round = 0; round < 12; round++) {
      const batch = Array.from({ length: 1000 }, (_, i) => ({ ...hint(0), id: Buffer.from(`${round}-${i}`.padEnd(64, '.')) }));
      await j.add(batch);
      await j.done([...j.pending()].slice(0, round === 11 ? 990 : 1000).map((h) => h.key));
    }
    assert.equal(j.size, 10);
    assert.ok(j.stats().bytes < 10_000, `rewritten: ${j.stats().bytes} bytes`);
    j.close();
    const k = await HintJournal.open(dir, 100_000);
    assert.equal(k.size, 10);
    k.close();
  });
});
