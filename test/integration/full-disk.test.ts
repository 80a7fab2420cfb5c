// A full disk, for real: `npm start`'s deployment with its embedded node's directory on a 40 MiB
// tmpfs. Uploads fill it until they are refused quickly (507, -ENOSPC); every acknowledged object
// stays readable; /health/ and /stat/ name the full backend; deletes still work on the full disk;
// a compaction gets the space back; uploads resume without a restart, and nothing acknowledged is
// lost. Skipped with a message where a tmpfs cannot be mounted (not root, no CAP_SYS_ADMIN).

import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, statfsSync, statSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { defragAll } from '../helpers/defrag.js';
import { startEmbeddedProxy, type EmbeddedProxy } from '../helpers/embedded-proxy.js';
import { authorization } from '../helpers/proxy.js';
import { createLogger, flushLogs } from '../../src/util/logger.js';

const WRITER = { user: 'writer', token: 'change this writer token' };
const SIZE = 512 * 1024;

function call(port: number, method: string, target: string, body?: Buffer): Promise<{ status: number; body: Buffer; ms: number }> {
  const t0 = performance.now();
  const headers: Record<string, string> = method === 'GET' ? {} : { Authorization: authorization(method, target, WRITER.user, WRITER.token) };
  if (body) headers['Content-Length'] = String(body.length);
  return new Promise((resolve, reject) => {
    const req = http.request({ host: '127.0.0.1', port, method, path: target, headers, agent: false }, (res) => {
      const parts: Buffer[] = [];
      res.on('data', (c: Buffer) => parts.push(c));
      res.on('end', () => resolve({ status: res.statusCode!, body: Buffer.concat(parts), ms: performance.now() - t0 }));
    });
    req.on('error', reject);
    req.end(body);
  });
}

function mountTmpfs(dir: string, size: string): string | undefined {
  try {
    execFileSync('mount', ['-t', 'tmpfs', '-o', `size=${size}`, 'tmpfs', dir], { stdio: 'pipe' });
    return undefined;
  } catch (err) {
    return `cannot mount a tmpfs here (${String((err as { stderr?: Buffer }).stderr ?? (err as Error).message).trim()}): run the tests as root to try a full disk`;
  }
}

describe('a full disk', () => {
  const mnt = mkdtempSync(path.join(os.tmpdir(), 'backrunner-full-'));
  const why = mountTmpfs(mnt, '40m');
  let proxy: EmbeddedProxy;
  let nodePort = 0;

  before(async () => {
    if (why) return;
    proxy = await startEmbeddedProxy((c) => {
      // 4 MiB blobs: removals leave whole blobs dead (deleted outright) and small live sets to copy.
      Object.assign(c.embedded!, { dir: path.join(mnt, 'embedded'), 'free-space-reserve': 3 * 1024 * 1024, 'blob-size': 4 * 1024 * 1024, 'defrag-timeout': 0 });
      nodePort = Number(String(c.embedded!.address).split(':')[1]);
      // Statistics every second: /health/ and selection see the disk fill up.
      Object.assign(c.proxy!, { 'bucket-stat-update-interval': 1 });
    });
  });

  after(async () => {
    if (!why) {
      await proxy?.stop();
      try {
        execFileSync('umount', [mnt]);
      } catch {
        // already gone
      }
    }
    rmSync(mnt, { recursive: true, force: true });
  });

  it('refuses writes quickly when full, keeps serving reads and deletes, gets space back by compaction, then takes writes again', async (t) => {
    if (why) return t.skip(why);
    const body = (i: number): Buffer => Buffer.alloc(SIZE, i & 0xff);
    const acked: number[] = [];
    let refused: { status: number; ms: number } | undefined;
    for (let i = 0; i < 200 && !refused; i++) {
      const r = await call(proxy.port, 'POST', `/upload/b1/fill-${i}`, body(i));
      if (r.status === 200) acked.push(i);
      else refused = { status: r.status, ms: r.ms };
    }
    assert.ok(refused, 'the disk filled up');
    assert.equal(refused.status, 507, 'Insufficient Storage');
    assert.ok(refused.ms < 5000, `refused quickly (${Math.round(refused.ms)} ms)`);
    assert.ok(acked.length > 10, `${acked.length} uploads before it was full`);
    t.diagnostic(`${acked.length} × 512 KiB acknowledged before the disk was full`);
    const more = await call(proxy.port, 'POST', '/upload/b1/one-more', body(1));
    assert.equal(more.status, 507);

    // Reads go on; every acknowledged object is whole.
    for (const i of acked) {
      const r = await call(proxy.port, 'GET', `/get/b1/fill-${i}`);
      assert.equal(r.status, 200, `fill-${i}`);
      assert.ok(r.body.equals(body(i)), `fill-${i} intact`);
    }
    // /health/ and /stat/ say which backend is full (statistics arrive within a couple of seconds).
    let health: { status: number; body: Buffer } = { status: 0, body: Buffer.alloc(0) };
    for (let n = 0; n < 40 && health.status !== 503; n++) {
      health = await call(proxy.port, 'GET', '/health/');
      if (health.status !== 503) await new Promise((r) => setTimeout(r, 250));
    }
    assert.equal(health.status, 503, health.body.toString());
    assert.match(health.body.toString(), /backend [^ ]+ is full/);
    const stat = JSON.parse((await call(proxy.port, 'GET', '/stat/')).body.toString()) as { Status: { Backends: Record<string, { Full: boolean | null }> } };
    assert.ok(Object.values(stat.Status.Backends).some((b) => b.Full === true), 'a backend marked full in /stat/');

    // Deletes work on the full disk: the older two thirds of what is there.
    const gone = acked.slice(0, Math.floor((acked.length * 2) / 3));
    for (const i of gone) assert.equal((await call(proxy.port, 'POST', `/delete/b1/fill-${i}`)).status, 200, `delete fill-${i}`);
    const freeBefore = statfsSync(mnt).bavail * statfsSync(mnt).bsize;
    await defragAll(nodePort, [1, 2]);
    // The workers' descriptors of compacted-away blobs (local reads) are let go within a second or so.
    const free = (): number => statfsSync(mnt).bavail * statfsSync(mnt).bsize;
    for (let n = 0; n < 60 && free() <= freeBefore + gone.length * SIZE; n++) await new Promise((r) => setTimeout(r, 250));
    const freeAfter = free();
    assert.ok(freeAfter > freeBefore + gone.length * SIZE, `space came back: ${freeBefore} → ${freeAfter} bytes free`);

    // Writes resume without a restart (the node reads the free space again within a second).
    let resumed = 0;
    for (let n = 0; n < 40 && resumed === 0; n++) {
      if ((await call(proxy.port, 'POST', '/upload/b1/after', body(7))).status === 200) resumed++;
      else await new Promise((r) => setTimeout(r, 250));
    }
    assert.equal(resumed, 1, 'uploads are taken again');
    for (const i of acked) {
      const r = await call(proxy.port, 'GET', `/get/b1/fill-${i}`);
      if (gone.includes(i)) assert.equal(r.status, 404, `fill-${i} stays deleted`);
      else assert.equal(createHash('sha256').update(r.body).digest('hex'), createHash('sha256').update(body(i)).digest('hex'), `fill-${i} intact after the compaction`);
    }
  });
});

describe('a log file on a full disk', () => {
  const mnt = mkdtempSync(path.join(os.tmpdir(), 'backrunner-fulllog-'));
  const why = mountTmpfs(mnt, '4m');

  after(() => {
    if (!why) execFileSync('umount', ['-l', mnt]); // -l: the logger's descriptor stays open until exit
    rmSync(mnt, { recursive: true, force: true });
  });

  it('does not stop the process: lines wait and are written once there is space, exit does not hang', async (t) => {
    if (why) return t.skip(why);
    const filler = path.join(mnt, 'filler');
    const free = statfsSync(mnt).bavail * statfsSync(mnt).bsize;
    writeFileSync(filler, Buffer.alloc(free - 64 * 1024));
    const file = path.join(mnt, 'proxy.log');
    const log = createLogger('full-disk-test', { file });
    let n = 0;
    // 1,000 lines of ~150 bytes: more than the 64 KiB left, so writes fail with ENOSPC meanwhile.
    for (; n < 1000; n++) {
      log.info({ n }, 'a line of the log that does not fit on the disk');
      if (n % 100 === 99) await new Promise((r) => setTimeout(r, 20));
    }
    await new Promise((r) => setTimeout(r, 200));
    assert.ok(statSync(file).size < 1000 * 100, 'the disk filled up before every line was written');
    flushLogs(); // would retry a failing destination forever
    rmSync(filler);
    for (; n < 1100; n++) log.info({ n }, 'a line written once there is space');
    let lines: string[] = [];
    for (let k = 0; k < 40 && lines.length < 1100; k++) {
      await new Promise((r) => setTimeout(r, 100));
      lines = readFileSync(file, 'utf8').trim().split('\n');
    }
    assert.equal(lines.length, 1100, 'every line was written once space came back');
    assert.deepEqual(lines.map((l) => (JSON.parse(l) as { n: number }).n), [...Array(1100).keys()], 'in order, none lost');
  });
});
