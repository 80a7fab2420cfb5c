// SIGKILL of a storage node in every phase of a defragmentation (copy, swap, snapshot write,
// install) under writes, overwrites and removes: after every restart each key holds its last
// acknowledged state or the one in flight, never an older version or a removed key.

import { describe, it, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { BackendCommand, Errno } from '../../src/elliptics/protocol/index.js';
import { DefragLevel } from '../../src/storage-node/engine/defrag.js';
import { RawClient } from '../helpers/raw-client.js';
import { spawnNode, tempDir, type NodeSpec } from '../helpers/nodes.js';
import { bodyFor, control, statusOf, untilDefragDone } from '../helpers/defrag.js';

describe('SIGKILL during defragmentation', () => {
  const tmp = tempDir('backrunner-defrag-kill-');
  after(() => tmp.cleanup());

  it('under writes, overwrites and removes: every key holds its last acknowledged state or the one in flight, across rounds', async (t) => {
    const root = path.join(tmp.dir, 'node');
    // Small blobs, automatic defragmentation every second at a low threshold, a slow copy and a
    // snapshot every second: kills land in every phase (copy, swap, snapshot write, install).
    // Odd rounds only write, into one big blob, so that their kills land between snapshots and the
    // next start reads one and scans its tail.
    const specFor = (round: number): NodeSpec => ({
      backends: [{ id: 1, group: 1, 'blob-size': round % 2 ? 64 * 1024 * 1024 : 256 * 1024, 'defrag-percentage': 10, 'defrag-timeout': round % 2 ? 0 : 1, 'defrag-rate-limit': 2 * 1024 * 1024, 'index-snapshot-interval': 1 }],
    });
    const spec = specFor(0);
    /** A key's content: the version written last, or 0 when it is absent or removed. */
    const KEYS = 48;
    const acked: number[] = new Array(KEYS).fill(0);
    const inFlight: (number | undefined)[] = new Array(KEYS).fill(undefined);
    const keyOf = (k: number): string => `kill-${k}`;
    const sizeOf = (k: number, v: number): number => 1000 + ((k * 7919 + v * 104_729) % 30_000);
    const content = (k: number, v: number): Buffer => {
      const body = bodyFor(keyOf(k), v, sizeOf(k, v));
      Buffer.from(String(v).padEnd(12)).copy(body);
      return body;
    };
    let version = 0;
    let compactions = 0;
    let snapshotStarts = 0;

    const verify = async (c: RawClient, when: string): Promise<void> => {
      for (let k = 0; k < KEYS; k++) {
        let seen = 0;
        try {
          const got = (await c.read(1, keyOf(k))).data;
          seen = Number(got.subarray(0, 12).toString().trim());
          assert.ok(seen > 0 && got.equals(content(k, seen)), `${when}: ${keyOf(k)} is not a whole version (it says v${seen})`);
        } catch (err) {
          if (err instanceof assert.AssertionError) throw err;
          assert.equal(statusOf(err), Errno.ENOENT, `${when}: ${keyOf(k)}: ${(err as Error).message}`);
        }
        assert.ok(seen === acked[k] || seen === inFlight[k],
          `${when}: ${keyOf(k)} holds ${seen ? `v${seen}` : 'nothing'}; acknowledged ${acked[k] ? `v${acked[k]}` : 'nothing'}, in flight ${inFlight[k] === undefined ? '-' : inFlight[k] ? `v${inFlight[k]}` : 'a remove'}`);
        acked[k] = seen; // what is on disk now is what the next round starts from
        inFlight[k] = undefined;
      }
    };

    for (let round = 0; round < 6; round++) {
      if (fs.existsSync(path.join(root, 'b1-g1', 'index.snapshot'))) snapshotStarts++;
      const child = await spawnNode(root, specFor(round));
      const c = await RawClient.connect(child.port);
      if (round > 0) await verify(c, `start of round ${round}`);
      let stop = false;
      const worker = async (w: number): Promise<void> => {
        for (let i = 0; !stop; i++) {
          const k = w + 8 * (i % (KEYS / 8));
          const next = i % 5 === 4 ? 0 : ++version;
          inFlight[k] = next;
          try {
            if (next === 0) {
              const st = await c.remove(1, keyOf(k));
              if (st !== 0 && st !== Errno.ENOENT) throw new Error(`remove of ${keyOf(k)}: ${st}`);
            } else await c.write(1, keyOf(k), content(k, next));
            acked[k] = next;
            inFlight[k] = undefined;
            // Paced in write-only rounds: the last versions then lie in the tail after the snapshot.
            if (round % 2) await new Promise((r) => setTimeout(r, 10));
          } catch {
            return; // killed under us: this key's in-flight state stays recorded
          }
        }
      };
      const kicker = async (): Promise<void> => {
        while (!stop) {
          await new Promise((r) => setTimeout(r, 150));
          try {
            if ((await control(c, 1, BackendCommand.START_DEFRAG, DefragLevel.COMPACT)).at(-1)!.header.status === 0) compactions++;
          } catch {
            return;
          }
        }
      };
      const running = [...Array.from({ length: 8 }, (_, w) => worker(w)), ...(round % 2 ? [] : [kicker()])];
      await new Promise((r) => setTimeout(r, (round % 2 ? 2200 : 600) + Math.random() * 1400));
      child.proc.kill('SIGKILL');
      stop = true;
      await Promise.all(running);
      await child.exited;
      c.close();
    }

    if (fs.existsSync(path.join(root, 'b1-g1', 'index.snapshot'))) snapshotStarts++;
    const child = await spawnNode(root, spec);
    const c = await RawClient.connect(child.port);
    try {
      await verify(c, 'after the last kill');
      // And once more after a whole compaction and a clean restart.
      await control(c, 1, BackendCommand.START_DEFRAG, DefragLevel.FULL);
      await untilDefragDone(c, 1);
    } finally {
      c.close();
      child.proc.kill('SIGTERM');
      await child.exited;
    }
    const again = await spawnNode(root, spec);
    const c2 = await RawClient.connect(again.port);
    try {
      await verify(c2, 'after a full compaction and a clean restart');
    } finally {
      c2.close();
      again.proc.kill('SIGTERM');
      await again.exited;
    }
    assert.ok(version > 200, `only ${version} writes were issued`);
    assert.ok(compactions > 0, 'no compaction started while the kills happened');
    assert.ok(snapshotStarts >= 3, `only ${snapshotStarts} restarts found an index snapshot`);
    t.diagnostic(`writes ${version}, compactions started ${compactions}, restarts with a snapshot on disk ${snapshotStarts} of 7`);
  });
});
