// Bad input gets a clear 4xx and loses nothing; big bodies stream; HTTPS; a worker killed under
// load is replaced; SIGTERM drains; the proxy refuses to start on bad config or without uWS.

import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import http from 'node:http';
import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { startTestCluster, type TestCluster } from '../helpers/cluster.js';
import { authorization, freePort, oddBuckets, raw, startProxy, type TestProxy } from '../helpers/proxy.js';

const writer = { user: 'writer', token: 'writer token' };
const BIN = fileURLToPath(new URL('../../../bin/backrunner', import.meta.url));

function pattern(offset: number, length: number): Buffer {
  const out = Buffer.allocUnsafe(length);
  for (let i = 0; i < length; i++) out[i] = ((offset + i) * 2654435761) >>> 24;
  return out;
}

/**
 * Streams `size` pattern bytes (from pattern offset `salt`, in pieces of `piece` bytes) as an
 * upload, optionally stopping after `stopAt` bytes.
 */
function streamUpload(port: number, target: string, size: number, opts: { stopAt?: number; pauseMs?: number; onHalf?: () => void; salt?: number; piece?: number } = {}): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = http.request({ host: '127.0.0.1', port, method: 'POST', path: target, agent: false, headers: { 'Content-Length': String(size), Authorization: authorization('POST', target, writer.user, writer.token) } }, (res) => {
      let body = '';
      res.on('data', (c) => (body += c));
      res.on('end', () => resolve({ status: res.statusCode!, body }));
    });
    req.on('error', (err) => (opts.stopAt !== undefined ? resolve({ status: 0, body: String(err) }) : reject(err)));
    const piece = opts.piece ?? 1024 * 1024;
    const salt = opts.salt ?? 0;
    let at = 0;
    let halfDone = false;
    const pump = (): void => {
      while (at < size) {
        if (opts.stopAt !== undefined && at >= opts.stopAt) {
          setTimeout(() => req.destroy(), 50);
          return;
        }
        if (!halfDone && at >= size / 2) {
          halfDone = true;
          opts.onHalf?.();
          if (opts.pauseMs) return void setTimeout(pump, opts.pauseMs);
        }
        const n = Math.min(piece, size - at);
        const ok = req.write(pattern(salt + at, n));
        at += n;
        if (!ok) return void req.once('drain', pump);
      }
      req.end();
    };
    pump();
  });
}

/**
 * GET with the body hashed as it streams; with `stopAfter`, the client hangs up after that many
 * bytes; a `slow` client pauses after every piece, so the proxy waits on it with a chunk in hand.
 */
function fetchHash(port: number, target: string, headers: Record<string, string> = {}, stopAfter?: number, slow = false): Promise<{ status: number; hash: string; n: number }> {
  return new Promise((resolve, reject) => {
    const req = http.get({ host: '127.0.0.1', port, path: target, agent: false, headers }, (res) => {
      const h = createHash('sha256');
      let n = 0;
      res.on('data', (c: Buffer) => {
        h.update(c);
        n += c.length;
        if (slow) {
          res.pause();
          setTimeout(() => res.resume(), 5);
        }
        if (stopAfter !== undefined && n >= stopAfter) {
          req.destroy();
          resolve({ status: res.statusCode!, hash: '', n });
        }
      });
      res.on('end', () => resolve({ status: res.statusCode!, hash: h.digest('hex'), n }));
      res.on('error', () => undefined);
    });
    req.on('error', (err) => (stopAfter !== undefined ? undefined : reject(err)));
  });
}

describe('proxy robustness', () => {
  let tc: TestCluster;
  let p: TestProxy;
  let cert: Buffer;

  before(async () => {
    tc = await startTestCluster();
    const key = path.join(tc.root, 'key.pem');
    const crt = path.join(tc.root, 'cert.pem');
    execFileSync('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', key, '-out', crt, '-days', '1', '-subj', '/CN=localhost', '-addext', 'subjectAltName=DNS:localhost,IP:127.0.0.1'], { stdio: 'ignore' });
    cert = readFileSync(crt);
    p = await startProxy(tc, {
      extraBuckets: oddBuckets,
      proxy: { https_address: `127.0.0.1:${await freePort()}`, cert_file: crt, key_file: key, 'idle-timeout': 2, 'max-json-body': 4096 },
    });
  });

  after(async () => {
    await p?.stop();
    await tc.close();
  });

  it('HTTPS serves the same API with the certificate made here', async () => {
    const up = await p.httpsRequest('/upload/b2/tls.txt', { method: 'POST', body: 'over tls', as: writer, ca: cert });
    assert.equal(up.status, 200, up.body.toString());
    const got = await p.httpsRequest('/get/b2/tls.txt', { ca: cert });
    assert.deepEqual([got.status, got.body.toString()], [200, 'over tls']);
    assert.equal((await p.request('/get/b2/tls.txt')).body.toString(), 'over tls', 'and plain HTTP alongside');
  });

  it('a 100 MiB upload streams to both groups; ranged and multipart reads of it are exact', async () => {
    const size = 100 * 1024 * 1024;
    const up = await streamUpload(p.port, '/upload/b1/big-100MiB.bin', size);
    assert.equal(up.status, 200, up.body);
    const j = JSON.parse(up.body);
    assert.deepEqual(j.reply['success-groups'], [1, 2]);
    assert.equal(j.reply.info[0].size, size);
    const whole = await fetchHash(p.port, '/get/b1/big-100MiB.bin');
    const expected = createHash('sha256');
    for (let at = 0; at < size; at += 1024 * 1024) expected.update(pattern(at, Math.min(1024 * 1024, size - at)));
    assert.deepEqual(whole, { status: 200, hash: expected.digest('hex'), n: size });
    const mid = 50 * 1024 * 1024 + 17;
    const one = await p.request('/get/b1/big-100MiB.bin', { headers: { Range: `bytes=${mid}-${mid + 99999}` } });
    assert.equal(one.status, 206);
    assert.deepEqual(one.body, pattern(mid, 100000));
    const multi = await p.request('/get/b1/big-100MiB.bin', { headers: { Range: `bytes=${size - 10}-,0-9,${mid}-${mid + 2 * 1024 * 1024}` } });
    assert.equal(multi.status, 206);
    const boundary = /boundary=(\w+)/.exec(multi.headers['content-type']!)![1]!;
    const parts = multi.body.toString('latin1').split(`--${boundary}`).slice(1, -1).map((part) => Buffer.from(part.slice(part.indexOf('\r\n\r\n') + 4).replace(/\r\n$/, ''), 'latin1'));
    assert.deepEqual(parts[0], pattern(size - 10, 10));
    assert.deepEqual(parts[1], pattern(0, 10));
    assert.deepEqual(parts[2], pattern(mid, 2 * 1024 * 1024 + 1));
  });

  it('concurrent streamed uploads and GETs of different objects never mix bytes (pooled buffers are reused)', async () => {
    // Upload bodies and large read replies live in pooled buffers that are handed back and
    // reused: a buffer reused too early would show up here as another object's bytes.
    const objects = [0, 1, 2, 3].map((i) => ({ key: `mix-${i}.bin`, size: 6 * 1024 * 1024 + i * 333_333, salt: i * 7_777_777 }));
    const ups = await Promise.all(objects.map((o) => streamUpload(p.port, `/upload/b1/${o.key}`, o.size, { salt: o.salt, piece: 300_001 })));
    for (const u of ups) assert.equal(u.status, 200, u.body);
    const expectedHash = (o: (typeof objects)[number], start = 0, end = o.size): string => createHash('sha256').update(pattern(o.salt + start, end - start)).digest('hex');
    const reads: Promise<void>[] = [];
    for (let round = 0; round < 3; round++) {
      for (const o of objects) {
        reads.push(fetchHash(p.port, `/get/b1/${o.key}`, {}, undefined, round > 0).then((r) => assert.deepEqual(r, { status: 200, hash: expectedHash(o), n: o.size }, o.key)));
        const from = 1024 * 1024 - 5;
        const to = o.size - 3;
        reads.push(fetchHash(p.port, `/get/b1/${o.key}`, { Range: `bytes=${from}-${to - 1}` }).then((r) => assert.deepEqual(r, { status: 206, hash: expectedHash(o, from, to), n: to - from }, `${o.key} range`)));
        // A reader that goes away after the first bytes: its buffers go back while others stream.
        reads.push(fetchHash(p.port, `/get/b1/${o.key}`, {}, 200_000).then(() => undefined));
      }
    }
    await Promise.all(reads);
  });

  it('upload without Content-Length is 411, a bad one 400, zero 400; over the bucket max-size 413 before the body', async () => {
    const auth = `Authorization: ${authorization('POST', '/upload/b1/k', writer.user, writer.token)}\r\n`;
    assert.match(await raw(p.port, `POST /upload/b1/k HTTP/1.1\r\nHost: x\r\n${auth}Transfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n`), /^HTTP\/1\.1 411/);
    for (const cl of ['abc', '-1', '1e3', '0x10']) {
      assert.match(await raw(p.port, `POST /upload/b1/k HTTP/1.1\r\nHost: x\r\n${auth}Content-Length: ${cl}\r\n\r\nhello`, 1500), /^HTTP\/1\.1 400|^$/, `Content-Length: ${cl}`);
    }
    assert.equal((await p.request('/upload/b1/empty', { method: 'POST', body: '', as: writer })).status, 400);
    const tooBig = await raw(p.port, `POST /upload/small/k HTTP/1.1\r\nHost: x\r\nContent-Length: 5000\r\nAuthorization: ${authorization('POST', '/upload/small/k', writer.user, writer.token)}\r\n\r\n`, 1500);
    assert.match(tooBig, /^HTTP\/1\.1 413/);
    assert.equal((await p.request('/upload/small/fits', { method: 'POST', body: 'x'.repeat(1000), as: writer })).status, 200);
  });

  it('a body shorter than announced stores nothing and breaks nothing', async () => {
    const r = await streamUpload(p.port, '/upload/b1/short.bin', 5 * 1024 * 1024, { stopAt: 2 * 1024 * 1024 });
    assert.notEqual(r.status, 200);
    await new Promise((res) => setTimeout(res, 300));
    assert.equal((await p.request('/get/b1/short.bin')).status, 404);
    const small = await raw(p.port, `POST /upload/b1/short2 HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\nAuthorization: ${authorization('POST', '/upload/b1/short2', writer.user, writer.token)}\r\n\r\nonly a little`, 300);
    assert.equal(small, '');
    assert.equal((await p.request('/get/b1/short2')).status, 404);
    assert.equal((await p.request('/ping/')).status, 200);
  });

  it('a client that stops sending its body is cut off after idle-timeout', async () => {
    const t0 = Date.now();
    await raw(p.port, `POST /upload/b1/stalled HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\nAuthorization: ${authorization('POST', '/upload/b1/stalled', writer.user, writer.token)}\r\n\r\nabc`, 8000);
    const took = Date.now() - t0;
    assert.ok(took < 7000, `the connection was closed by the proxy (after ${took} ms)`);
    assert.equal((await p.request('/get/b1/stalled')).status, 404);
  });

  it('bulk_delete bodies of every wrong shape get 400 (413 when too big); nothing crashes', async () => {
    const bodies: [string, number][] = [
      ['', 400], ['garbage', 400], ['[]', 400], ['["a"]', 400], ['{}', 400], ['{"keys": "a"}', 400], ['{"keys": {}}', 400],
      ['{"keys": []}', 400], ['{"keys": [1]}', 400], ['{"keys": [""]}', 400], ['{"keys": ["a", null]}', 400], ['null', 400],
      [JSON.stringify({ keys: Array.from({ length: 1000 }, (_, i) => `key-${i}`) }), 413],
    ];
    for (const [body, status] of bodies) {
      const r = await p.request('/bulk_delete/b1', { method: 'POST', body, as: writer });
      assert.equal(r.status, status, `${body.slice(0, 40)} → ${r.status} ${r.body}`);
    }
  });

  it('unknown, unreadable and group-less buckets get 400; a missing key 404', async () => {
    assert.equal((await p.request('/get/no-such-bucket/k')).status, 400);
    assert.equal((await p.request('/get/garbage/k')).status, 400, 'metadata that is not msgpack');
    const ng = await p.request('/get/nogroups/k');
    assert.equal(ng.status, 400);
    assert.match(ng.body.toString(), /bucket has no groups/);
    assert.equal((await p.request('/upload/nogroups/k', { method: 'POST', body: 'x' })).status, 400);
    assert.equal((await p.request('/get/b1/no-such-key')).status, 404);
    assert.equal((await p.request('/upload/b1', { method: 'POST', body: 'x', as: writer })).status, 400, 'no key');
    assert.equal((await p.request('/upload/b1/', { method: 'POST', body: 'x', as: writer })).status, 400, 'empty key');
    assert.equal((await p.request('/get', {})).status, 400);
    assert.match(await raw(p.port, 'GET /get/b1/%zz HTTP/1.1\r\nHost: x\r\n\r\n'), /^HTTP\/1\.1 400/);
  });

  it('storage that cannot be reached is 503; so are redirects without a port and static files without a root', async () => {
    assert.equal((await p.request('/upload/nowhere/k', { method: 'POST', body: 'x' })).status, 503);
    assert.equal((await p.request('/get/nowhere/k')).status, 503);
    assert.equal((await p.request('/lookup/nowhere/k')).status, 503);
    assert.equal((await p.request('/delete/nowhere/k', { method: 'POST' })).status, 503);
    const r = await p.request('/redirect/b1/big-100MiB.bin');
    assert.equal(r.status, 503);
    assert.match(r.body.toString(), /invalid redirect port 0/);
    const st = await p.request('/crossdomain.xml');
    assert.equal(st.status, 503);
    assert.match(st.body.toString(), /root option is not configured/);
  });

  it('`backrunner sign` prints an Authorization header the proxy accepts', async () => {
    const tokenFile = path.join(tc.root, 'writer.token');
    writeFileSync(tokenFile, 'writer token\n');
    const url = `http://127.0.0.1:${p.port}/upload/b2/signed%20by%20cli?x=1`;
    const header = execFileSync(BIN, ['sign', '--user', 'writer', '--token-file', tokenFile, 'POST', url, '-H', 'X-Ell-Note: hi'], { encoding: 'utf8' }).trim();
    assert.match(header, /^riftv1 writer:[0-9a-f]{128}$/);
    const ok = await p.request('/upload/b2/signed%20by%20cli?x=1', { method: 'POST', body: 'cli', headers: { Authorization: header, 'X-Ell-Note': 'hi' } });
    assert.equal(ok.status, 200, ok.body.toString());
    const changed = await p.request('/upload/b2/signed%20by%20cli?x=1', { method: 'POST', body: 'cli', headers: { Authorization: header, 'X-Ell-Note': 'other' } });
    assert.equal(changed.status, 403);
    assert.doesNotMatch(execFileSync(BIN, ['sign', '--help'], { encoding: 'utf8' }), /writer token/);
  });

  it('a worker killed under load is replaced and the service keeps answering', async () => {
    await p.request('/upload/b3/load', { method: 'POST', body: 'steady', as: writer });
    const pids = new Set<number>();
    let stop = false;
    let failures = 0;
    let ok = 0;
    const load = (async () => {
      while (!stop) {
        try {
          const r = await p.request('/get/b3/load');
          if (r.status === 200) ok++;
          else failures++;
        } catch {
          failures++; // a connection cut with the killed worker
        }
      }
    })();
    await new Promise((r) => setTimeout(r, 300));
    const workers = execFileSync('pgrep', ['-P', String(p.proc.pid)]).toString().trim().split('\n').map(Number);
    for (const w of workers) pids.add(w);
    const victim = workers[0]!;
    process.kill(victim, 'SIGKILL');
    await new Promise((r) => setTimeout(r, 2500));
    const after = execFileSync('pgrep', ['-P', String(p.proc.pid)]).toString().trim().split('\n').map(Number);
    stop = true;
    await load;
    assert.ok(!after.includes(victim), 'the killed worker is gone');
    assert.equal(after.length, workers.length, `as many workers as before (${after.join(',')})`);
    assert.ok(after.some((w) => !pids.has(w)), 'a new worker took its place');
    assert.ok(ok > 50, `requests kept succeeding (${ok} ok, ${failures} failed)`);
    assert.ok(failures < 10, `only requests on the killed worker failed (${failures})`);
    for (let i = 0; i < 20; i++) assert.equal((await p.request('/get/b3/load')).status, 200);
  });
});

describe('proxy life cycle', () => {
  let tc: TestCluster;

  before(async () => {
    tc = await startTestCluster();
  });

  after(async () => {
    await tc.close();
  });

  it('SIGTERM lets a request in flight finish, then exits 0', async () => {
    const p = await startProxy(tc);
    const size = 20 * 1024 * 1024;
    const upload = streamUpload(p.port, '/upload/b1/draining.bin', size, { pauseMs: 800, onHalf: () => p.proc.kill('SIGTERM') });
    const r = await upload;
    assert.equal(r.status, 200, r.body);
    assert.equal(await p.stop(), 0);
    const p2 = await startProxy(tc);
    assert.equal((await p2.request('/get/b1/draining.bin', { method: 'HEAD' })).headers['content-length'], String(size));
    await p2.stop();
  });

  it('refuses to start with an invalid config, naming the field', async () => {
    const file = path.join(tc.root, 'bad-proxy.json');
    writeFileSync(file, JSON.stringify({ elliptics: { remote: [`127.0.0.1:${tc.nodes[0]!.port}:2`], 'metadata-groups': [1] }, proxy: { address: '127.0.0.1:1', 'write-quorum': 'most' } }));
    const r = await run(['proxy', '--config', file]);
    assert.equal(r.code, 1);
    assert.match(r.out, /bad-proxy\.json: proxy\.write-quorum: must be "any", "majority" or "all", got "most"/);
  });

  it('refuses to start when the uWebSockets.js native binary does not load', async () => {
    const file = path.join(tc.root, 'ok-proxy.json');
    writeFileSync(file, JSON.stringify({ elliptics: { remote: [`127.0.0.1:${tc.nodes[0]!.port}:2`], 'metadata-groups': [1] }, proxy: { address: `127.0.0.1:${await freePort()}` } }));
    const r = await run(['proxy', '--config', file], { BACKRUNNER_UWS_BINARY: '/nonexistent/uws.node' });
    assert.equal(r.code, 1);
    assert.match(r.out, /uWebSockets\.js native binary did not load: \/nonexistent\/uws\.node/);
  });
});

function run(args: string[], env: Record<string, string> = {}): Promise<{ code: number | null; out: string }> {
  return new Promise((resolve) => {
    const child = spawn(BIN, args, { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    child.stdout.on('data', (c) => (out += c));
    child.stderr.on('data', (c) => (out += c));
    const t = setTimeout(() => child.kill('SIGKILL'), 20_000);
    child.on('exit', (code) => {
      clearTimeout(t);
      resolve({ code, out });
    });
  });
}
