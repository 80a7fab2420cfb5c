// Replicas that converge after an outage, with real processes and real signals: the node holding
// group 2 is stopped (SIGSTOP) while the proxy takes uploads and deletes under write-quorum "any";
// after SIGCONT, hinted handoff brings group 2 up to date by itself — and no GET serves a deleted
// key at any moment after its DELETE was acknowledged. Without hints `backrunner recover` does it;
// a newer write made while recovery copies an older version stays; hints survive a kill -9 of the
// primary; a replica corrupted on disk is healed by read-repair.

import { describe as suite, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import fs from 'node:fs';
import { fileURLToPath } from 'node:url';
import type { Cluster } from '../../src/elliptics/index.js';
import { Session } from '../../src/elliptics/index.js';
import { startTestCluster, type TestCluster } from '../helpers/cluster.js';
import { startProxy, type TestProxy } from '../helpers/proxy.js';
import { describe, eventually, held } from '../helpers/replicas.js';

const BIN = fileURLToPath(new URL('../../../bin/backrunner', import.meta.url));
const writer = { user: 'writer', token: 'writer token' };
const FAST = { 'write-attempt-timeout': 1, 'read-attempt-timeout': 1 };

/** Runs `fn` over `items` with `n` in flight. */
async function parallel<T>(items: T[], n: number, fn: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  await Promise.all(Array.from({ length: n }, async () => {
    while (next < items.length) await fn(items[next++]!);
  }));
}

async function upload(proxy: TestProxy, key: string, body: Buffer | string): Promise<number> {
  return (await proxy.request(`/upload/b1/${key}`, { method: 'POST', body, as: writer })).status;
}

async function remove(proxy: TestProxy, key: string): Promise<number> {
  return (await proxy.request(`/delete/b1/${key}`, { method: 'POST', as: writer })).status;
}

/** Every key of `present` identical in groups 1 and 2 (bytes and timestamp), every key of `gone` in neither. */
async function converged(cluster: Cluster, present: Map<string, string>, gone: string[]): Promise<string[]> {
  const wrong: string[] = [];
  for (const [key, body] of present) {
    const [a, b] = [await held(cluster, 'b1', 1, key), await held(cluster, 'b1', 2, key)];
    if (a.kind !== 'data' || a.data.toString() !== body || describe(a) !== describe(b)) wrong.push(`${key}: ${describe(a)} / ${describe(b)}`);
  }
  for (const key of gone) {
    for (const g of [1, 2]) {
      const h = await held(cluster, 'b1', g, key);
      if (h.kind === 'data') wrong.push(`${key} still in group ${g}`);
    }
  }
  return wrong;
}

suite('replicas converge (hinted handoff)', () => {
  let tc: TestCluster;
  let proxy: TestProxy;
  let cluster: Cluster;

  before(async () => {
    tc = await startTestCluster();
    proxy = await startProxy(tc, { proxy: FAST });
    cluster = await tc.connect({ poolSize: 1, timeoutMs: 5000 });
  });

  after(async () => {
    tc.nodes[1]!.proc.kill('SIGCONT');
    await proxy.stop();
    await tc.close();
  });

  it('SIGSTOP of group 2 during 200 uploads and 20 deletes → SIGCONT → both groups identical, deletes gone, never served after their DELETE', async (t) => {
    const present = new Map<string, string>();
    const doomed = Array.from({ length: 20 }, (_, i) => `doomed-${i}`);
    for (const k of doomed) assert.equal(await upload(proxy, k, `${k} body`), 200);
    const deleted = new Set<string>();
    const violations: string[] = [];
    let checking = true;
    let checks = 0;
    // Clients read deleted keys all along: none may come back once its DELETE was acknowledged.
    const checker = (async () => {
      while (checking) {
        for (const k of [...deleted]) {
          const r = await proxy.request(`/get/b1/${k}`);
          checks++;
          if (r.status === 200) violations.push(`${k} served after its delete (${r.body.toString()})`);
        }
        await new Promise((r) => setTimeout(r, 20));
      }
    })();

    tc.nodes[1]!.proc.kill('SIGSTOP');
    try {
      const ops: (() => Promise<void>)[] = [];
      for (let i = 0; i < 200; i++) {
        ops.push(async () => {
          const body = `upload ${i} while group 2 is stopped`;
          assert.equal(await upload(proxy, `up-${i}`, body), 200);
          present.set(`up-${i}`, body);
        });
        if (i % 10 === 5) {
          const k = doomed[i / 10 - 0.5]!;
          ops.push(async () => {
            assert.equal(await remove(proxy, k), 200);
            deleted.add(k);
          });
        }
      }
      await parallel(ops, 8, (op) => op());
      assert.equal(deleted.size, 20);
      // Nothing reached group 2 meanwhile: the hints wait in the journal (the folded view is a second behind).
      let pending = 0;
      const seen = await eventually(async () => {
        pending = (JSON.parse((await proxy.request('/stat/')).body.toString()) as { Status: { Repairs: { PendingHints: number } } }).Status.Repairs.PendingHints;
        return pending >= 200;
      }, 10_000);
      assert.ok(seen, `hints pending: ${pending}`);
    } finally {
      tc.nodes[1]!.proc.kill('SIGCONT');
    }
    const ok = await eventually(async () => (await converged(cluster, present, [...deleted])).length === 0, 60_000, 500);
    checking = false;
    await checker;
    assert.deepEqual(violations, []);
    assert.ok(ok, `not converged within 60 s: ${(await converged(cluster, present, [...deleted])).slice(0, 5).join('; ')}`);
    for (const k of deleted) assert.equal((await held(cluster, 'b1', 2, k)).kind, 'removed', `${k}: group 2 remembers the removal`);
    // The folded view the workers answer from is a second behind the journal.
    let repairs = { PendingHints: -1, Delivered: 0 };
    await eventually(async () => {
      repairs = (JSON.parse((await proxy.request('/stat/')).body.toString()) as { Status: { Repairs: typeof repairs } }).Status.Repairs;
      return repairs.PendingHints === 0;
    }, 10_000);
    assert.equal(repairs.PendingHints, 0);
    assert.ok(repairs.Delivered >= 220, `delivered ${repairs.Delivered}`);
    assert.match((await proxy.request('/metrics')).body.toString(), /^backrunner_hints_pending 0$/m);
    t.diagnostic(`GETs of deleted keys during the run: ${checks}, none served`);
  });

  it('hints survive a kill -9 of the primary: a new proxy delivers them', async () => {
    tc.nodes[1]!.proc.kill('SIGSTOP');
    const present = new Map<string, string>();
    try {
      for (let i = 0; i < 30; i++) {
        const body = `before the primary dies ${i}`;
        assert.equal(await upload(proxy, `kill-${i}`, body), 200);
        present.set(`kill-${i}`, body);
      }
      proxy.proc.kill('SIGKILL');
      await proxy.stop();
      // Workers follow their primary; a new proxy starts on the same hint journal (beside the config).
      proxy = await startProxy(tc, { proxy: FAST });
    } finally {
      tc.nodes[1]!.proc.kill('SIGCONT');
    }
    const ok = await eventually(async () => (await converged(cluster, present, [])).length === 0, 60_000, 500);
    assert.ok(ok, `the hints of the killed primary were lost: ${(await converged(cluster, present, [])).slice(0, 3).join('; ')}`);
  });

  it('a replica corrupted on disk is healed by read-repair', async () => {
    const key = 'corrupt-me';
    const body = Buffer.alloc(200_000, 0x61);
    assert.equal(await upload(proxy, key, body), 200);
    const [info] = await new Session(cluster, { namespace: 'b1', groups: [1] }).lookup(key);
    const fi = info!.info!;
    const fd = fs.openSync(fi.path, 'r+');
    fs.writeSync(fd, Buffer.from([0x62]), 0, 1, fi.offset + 1000);
    fs.closeSync(fd);
    assert.equal((await held(cluster, 'b1', 1, key).catch((e: { status: number }) => ({ kind: `error ${e.status}` }))).kind, 'error -84', 'group 1 holds a damaged copy');
    // GETs go to either group first; one that meets the damaged copy serves group 2's and repairs group 1.
    const healed = await eventually(async () => {
      const r = await proxy.request(`/get/b1/${key}`);
      assert.equal(r.status, 200);
      assert.ok(r.body.equals(body), 'a GET never serves the damaged bytes');
      const h = await held(cluster, 'b1', 1, key).catch(() => undefined);
      return h?.kind === 'data' && h.data.equals(body);
    }, 30_000, 50);
    assert.ok(healed, 'group 1 was not rewritten by read-repair');
    const st = JSON.parse((await proxy.request('/stat/')).body.toString()) as { Status: { Repairs: { ReadRepairs: number } } };
    assert.ok(await eventually(async () => (JSON.parse((await proxy.request('/stat/')).body.toString()) as typeof st).Status.Repairs.ReadRepairs >= 1, 5000), 'read-repairs counted');
  });
});

function recover(configFile: string, ...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(BIN, ['recover', '--config', configFile, '--bucket', 'b1', ...args], { maxBuffer: 1 << 24 }, (err, stdout, stderr) => resolve({ code: err ? ((err as { code?: number }).code ?? 1) : 0, stdout, stderr }));
  });
}

suite('replicas converge (hinted handoff off: backrunner recover)', () => {
  let tc: TestCluster;
  let proxy: TestProxy;
  let cluster: Cluster;

  before(async () => {
    tc = await startTestCluster();
    proxy = await startProxy(tc, { proxy: { ...FAST, 'hinted-handoff': false } });
    cluster = await tc.connect({ poolSize: 1, timeoutMs: 5000 });
  });

  after(async () => {
    tc.nodes[1]!.proc.kill('SIGCONT');
    await proxy.stop();
    await tc.close();
  });

  it('uploads and deletes missed by a stopped group are repaired by recover', async () => {
    const doomed = Array.from({ length: 10 }, (_, i) => `gone-${i}`);
    for (const k of doomed) assert.equal(await upload(proxy, k, `${k} body`), 200);
    const present = new Map<string, string>();
    tc.nodes[1]!.proc.kill('SIGSTOP');
    try {
      await parallel(Array.from({ length: 50 }, (_, i) => i), 8, async (i) => {
        assert.equal(await upload(proxy, `r-${i}`, `body ${i}`), 200);
        present.set(`r-${i}`, `body ${i}`);
      });
      for (const k of doomed) assert.equal(await remove(proxy, k), 200);
    } finally {
      tc.nodes[1]!.proc.kill('SIGCONT');
    }
    // Without hints nothing repairs group 2 by itself (the writes that waited in its socket when it
    // stopped were applied when it resumed; the rest are missing).
    await new Promise((r) => setTimeout(r, 3000));
    const behind = await converged(cluster, present, doomed);
    assert.ok(behind.length >= 10 + 25, `group 2 stayed behind without hints: ${behind.length}`);
    const r = await recover(proxy.configFile, '--json');
    assert.equal(r.code, 0, r.stderr + r.stdout);
    const s = JSON.parse(r.stdout) as { copied: number; removed: number };
    assert.deepEqual([s.copied, s.removed], [behind.length - 10, 10], r.stdout);
    assert.deepEqual(await converged(cluster, present, doomed), []);
    const dry = JSON.parse((await recover(proxy.configFile, '--dry-run', '--json')).stdout) as { missing: number; stale: number };
    assert.deepEqual([dry.missing, dry.stale], [0, 0]);
  });

  it('a key overwritten through the proxy while recovery copies an older version keeps the newer one', async () => {
    const key = 'raced';
    const old = Buffer.alloc(8 * 1024 * 1024, 0x6f);
    await new Session(cluster, { namespace: 'b1', groups: [1] }).write(key, old, { timestamp: { sec: 1_600_000_000, nsec: 0 } });
    // 2 MB/s: the copy of 8 MiB takes about four seconds; the overwrite lands in the middle of it.
    const running = recover(proxy.configFile, '--rate', '2', '--json');
    await new Promise((r) => setTimeout(r, 1500));
    const fresh = Buffer.alloc(8 * 1024 * 1024, 0x6e);
    assert.equal(await upload(proxy, key, fresh), 200);
    const r = await running;
    assert.ok(r.code === 0 || r.code === 1, r.stderr);
    for (const g of [1, 2]) {
      const h = await held(cluster, 'b1', g, key);
      assert.ok(h.kind === 'data' && h.data.equals(fresh), `group ${g} holds ${describe(h)} after the race`);
    }
  });
});
