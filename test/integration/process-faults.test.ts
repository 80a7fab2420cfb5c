// Processes of the proxy killed for real (SIGKILL), as `npm start` runs it on its embedded node:
// the storage node under a stream of uploads (restarted; every acknowledged upload intact), a
// worker one second after start under load (replaced; at most its own requests in flight lost),
// workers that cannot start at all (the primary gives up with the reason instead of looping).

import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import http from 'node:http';
import { authorization } from '../helpers/proxy.js';
import { get, startEmbeddedProxy } from '../helpers/embedded-proxy.js';

const writer = { user: 'writer', token: 'change this writer token' };

const bodyOf = (key: string): Buffer => {
  const seed = createHash('sha256').update(key).digest();
  return Buffer.concat(Array.from({ length: 256 }, (_, i) => Buffer.from([...seed].map((b) => (b + i) & 0xff))));
};

function upload(port: number, key: string): Promise<number> {
  const target = `/upload/b1/${key}`;
  return new Promise((resolve) => {
    const req = http.request({ host: '127.0.0.1', port, method: 'POST', path: target, agent: false, headers: { Authorization: authorization('POST', target, writer.user, writer.token) } }, (res) => {
      res.resume();
      res.on('end', () => resolve(res.statusCode!));
      res.on('error', () => resolve(0));
    });
    req.on('error', () => resolve(0));
    req.end(bodyOf(key));
  });
}

async function waitFor(what: string, check: () => Promise<boolean> | boolean, ms = 30_000): Promise<void> {
  const t0 = Date.now();
  while (!(await check())) {
    if (Date.now() - t0 > ms) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

describe('process faults', () => {
  it('the embedded node SIGKILLed under uploads is restarted; every 200 reads back intact, the rest got a 5xx', async (t) => {
    const p = await startEmbeddedProxy((c) => {
      Object.assign(c.proxy!, { 'read-attempt-timeout': 2, 'write-attempt-timeout': 2, 'bucket-stat-update-interval': 1 });
    });
    try {
      const [nodePid] = p.children('storage-node');
      assert.ok(nodePid);
      const outcomes = new Map<string, number>();
      let stop = false;
      let n = 0;
      const lane = async (): Promise<void> => {
        while (!stop) {
          const key = `kill/${n++}`;
          outcomes.set(key, await upload(p.port, key));
        }
      };
      const lanes = Array.from({ length: 4 }, lane);
      await new Promise((r) => setTimeout(r, 1500));
      process.kill(nodePid, 'SIGKILL');
      await waitFor('a new node', () => p.children('storage-node').some((pid) => pid !== nodePid));
      await waitFor('/health/ 200', async () => (await get(p.port, '/health/')).status === 200);
      await new Promise((r) => setTimeout(r, 1000));
      stop = true;
      await Promise.all(lanes);
      const statuses = [...outcomes.values()];
      const ok = [...outcomes].filter(([, s]) => s === 200).map(([k]) => k);
      const others: Record<string, number> = {};
      for (const s of statuses) if (s !== 200) others[s] = (others[s] ?? 0) + 1;
      t.diagnostic(`${outcomes.size} uploads: ${ok.length} × 200, others by status ${JSON.stringify(others)}`);
      assert.ok(statuses.every((s) => s === 200 || s >= 500), `every upload is a 200 or a 5xx: ${JSON.stringify([...new Set(statuses)])}`);
      assert.ok(statuses.some((s) => s >= 500), 'uploads while the node was gone failed visibly');
      const lastKeys = [...outcomes.keys()].slice(-4);
      assert.ok(lastKeys.every((k) => outcomes.get(k) === 200), 'uploads succeed again after the restart');
      for (const key of ok) {
        const r = await get(p.port, `/get/b1/${key}`);
        assert.equal(r.status, 200, key);
        assert.ok(r.body.equals(bodyOf(key)), `${key} intact`);
      }
      assert.match(p.output(), /the embedded storage node died; restarting it/);
      assert.match(p.output(), /embedded storage node restarted/);
    } finally {
      assert.equal(await p.stop(), 0);
    }
  });

  it('a worker killed 1 s after start under load is replaced; only its own requests in flight fail', async (t) => {
    const p = await startEmbeddedProxy();
    try {
      assert.equal(await upload(p.port, 'served'), 200);
      const workers = p.children('http-worker');
      assert.equal(workers.length, 2);
      const lanes = 6;
      let stop = false;
      let ok = 0;
      const failed: string[] = [];
      const lane = async (i: number): Promise<void> => {
        while (!stop) {
          const r = i % 2 ? await get(p.port, '/get/b1/served').then((x) => x.status, (e: Error) => e.message) : await upload(p.port, `load/${i}/${ok}`);
          if (r === 200) ok++;
          else failed.push(String(r));
        }
      };
      const running = Array.from({ length: lanes }, (_, i) => lane(i));
      await new Promise((r) => setTimeout(r, 1000));
      process.kill(workers[0]!, 'SIGKILL');
      await waitFor('a replacement worker', () => {
        const now = p.children('http-worker');
        return now.length === 2 && !now.includes(workers[0]!);
      });
      const okBefore = ok;
      await new Promise((r) => setTimeout(r, 1500));
      stop = true;
      await Promise.all(running);
      t.diagnostic(`${ok} requests answered, ${failed.length} failed: ${JSON.stringify(failed)}`);
      assert.ok(failed.length <= lanes, `at most the killed worker's requests in flight fail (${failed.length})`);
      assert.ok(ok > okBefore, 'the service kept answering after the replacement');
      assert.match(p.output(), /worker died; starting a new one/);
    } finally {
      assert.equal(await p.stop(), 0);
    }
  });

  it('workers that die before they listen, again and again: the primary stops with the reason', async () => {
    const p = await startEmbeddedProxy();
    try {
      // Once start-up is over (every worker listening): a worker failing during start-up stops the primary at once instead.
      for (let n = 0; n < 200 && !/listening on /.test(p.output()); n++) await new Promise((r) => setTimeout(r, 50));
      assert.match(p.output(), /listening on /, 'the primary finished starting');
      // The next worker reads a broken config and cannot start; neither can any after it.
      writeFileSync(p.configFile, '{ this is not json');
      process.kill(p.children('http-worker')[0]!, 'SIGKILL');
      const code = await Promise.race([p.exited, new Promise<string>((r) => setTimeout(() => r('still running'), 40_000).unref())]);
      assert.equal(code, 1);
      assert.match(p.output(), /worker \d died 5 times in a row before it could listen \(last: [^)]*config\.json: not valid JSON/);
      assert.match(p.output(), /"name":"storage-node"[^\n]*"msg":"storage node stopped"/, 'the embedded node stopped with it');
    } finally {
      await p.stop();
    }
  });
});
