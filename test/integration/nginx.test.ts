// The README's "Behind nginx" block, run as written: Debian's nginx in front of the proxy (only
// the listen and upstream addresses are changed), then through it what real clients do — an
// HTTP/1.0 client, a 100 MiB signed upload read back whole and by ranges, multipart ranges, HEAD
// and 304 on a kept-alive connection, keys that need escaping, a malformed request.

import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import http from 'node:http';
import net from 'node:net';
import path from 'node:path';
import { startTestCluster, type TestCluster } from '../helpers/cluster.js';
import { KeepAliveClient } from '../helpers/keep-alive.js';
import { nginxAvailable, readmeNginxBlock, startNginx, type Nginx } from '../helpers/nginx.js';
import { authorization, freePort, startProxy, type TestProxy } from '../helpers/proxy.js';

const writer = { user: 'writer', token: 'writer token' };

/** 100 MiB of bytes that differ with their position: pattern[pos % L] with L prime. */
const PATTERN = randomBytes(1_048_573);
function bytesAt(pos: number, n: number): Buffer {
  const out = Buffer.allocUnsafe(n);
  let filled = 0;
  while (filled < n) {
    const at = (pos + filled) % PATTERN.length;
    filled += PATTERN.copy(out, filled, at, Math.min(PATTERN.length, at + n - filled));
  }
  return out;
}

/** Sends raw bytes and reads until the server closes. */
function rawExchange(port: number, bytes: string, waitMs = 10_000): Promise<{ text: string; closedAfterMs: number }> {
  return new Promise((resolve) => {
    const t0 = Date.now();
    const chunks: Buffer[] = [];
    const s = net.connect(port, '127.0.0.1', () => s.write(bytes));
    s.on('data', (c: Buffer) => chunks.push(c));
    s.on('error', () => undefined);
    const timer = setTimeout(() => s.destroy(), waitMs);
    s.on('close', () => {
      clearTimeout(timer);
      resolve({ text: Buffer.concat(chunks).toString('latin1'), closedAfterMs: Date.now() - t0 });
    });
  });
}

describe('behind nginx, configured as the README says', { skip: nginxAvailable() ? false : 'nginx is not installed (apt-get install nginx-light); .ci/run installs it' }, () => {
  let tc: TestCluster;
  let p: TestProxy;
  let nginx: Nginx;
  let port: number;

  before(async () => {
    tc = await startTestCluster();
    p = await startProxy(tc);
    port = await freePort();
    nginx = await startNginx(path.join(tc.root, 'nginx'), readmeNginxBlock(p.port, port), port);
  });

  after(async () => {
    await nginx?.stop();
    await p?.stop();
    await tc?.close();
  });

  const request = (target: string, opts: { method?: string; headers?: Record<string, string>; body?: Buffer } = {}): Promise<{ status: number; headers: http.IncomingHttpHeaders; body: Buffer }> =>
    new Promise((resolve, reject) => {
      const req = http.request({ host: '127.0.0.1', port, path: target, method: opts.method ?? 'GET', headers: opts.headers, agent: false }, (res) => {
        const parts: Buffer[] = [];
        res.on('data', (c: Buffer) => parts.push(c));
        res.on('end', () => resolve({ status: res.statusCode!, headers: res.headers, body: Buffer.concat(parts) }));
      });
      req.on('error', reject);
      req.end(opts.body);
    });

  const signedUpload = (target: string, body: Buffer, headers: Record<string, string> = {}) =>
    request(target, { method: 'POST', body, headers: { ...headers, Authorization: authorization('POST', target, writer.user, writer.token, headers) } });

  it('answers HTTP/1.0 clients (GET and HEAD), which the proxy alone cannot', async () => {
    const up = await signedUpload('/upload/b1/nginx/hello.txt', Buffer.from('hello through nginx'));
    assert.equal(up.status, 200, up.body.toString());
    const get = await rawExchange(port, 'GET /get/b1/nginx/hello.txt HTTP/1.0\r\n\r\n');
    assert.match(get.text, /^HTTP\/1\.1 200 OK\r\n/);
    assert.ok(get.text.endsWith('\r\n\r\nhello through nginx'), get.text);
    const head = await rawExchange(port, 'HEAD /ping/ HTTP/1.0\r\n\r\n');
    assert.match(head.text, /^HTTP\/1\.1 200 OK\r\n/);
    assert.ok(head.text.endsWith('\r\n\r\n'), 'HEAD: no body');
    const health = await rawExchange(port, 'GET /ping/ HTTP/1.0\r\nUser-Agent: health-checker\r\n\r\n');
    assert.match(health.text, /^HTTP\/1\.1 200 OK\r\n/);
  });

  it('streams a signed 100 MiB upload through and reads it back whole and by ranges', async () => {
    const size = 100 * 1024 * 1024;
    const target = '/upload/b2/nginx/big%2Fobject+100MiB.bin';
    const sent = createHash('sha256');
    const status = await new Promise<number>((resolve, reject) => {
      const req = http.request({ host: '127.0.0.1', port, method: 'PUT', path: target, agent: false, headers: { 'Content-Length': String(size), Authorization: authorization('PUT', target, writer.user, writer.token) } }, (res) => {
        res.resume();
        res.on('end', () => resolve(res.statusCode!));
      });
      req.on('error', reject);
      let at = 0;
      const pump = (): void => {
        while (at < size) {
          const piece = bytesAt(at, Math.min(1024 * 1024, size - at));
          sent.update(piece);
          at += piece.length;
          if (!req.write(piece)) return void req.once('drain', pump);
        }
        req.end();
      };
      pump();
    });
    assert.equal(status, 200);
    // The key after both decoding passes: '+' is a space, %2F a slash.
    const getTarget = '/get/b2/nginx/big%2Fobject+100MiB.bin';
    const received = createHash('sha256');
    const got = await new Promise<{ status: number; length: number }>((resolve, reject) => {
      http.get({ host: '127.0.0.1', port, path: getTarget, agent: false }, (res) => {
        let length = 0;
        res.on('data', (c: Buffer) => {
          received.update(c);
          length += c.length;
        });
        res.on('end', () => resolve({ status: res.statusCode!, length }));
      }).on('error', reject);
    });
    assert.equal(got.status, 200);
    assert.equal(got.length, size);
    assert.equal(received.digest('hex'), sent.digest('hex'), 'the bytes read back are the bytes sent');
    const from = 77 * 1024 * 1024 + 12345;
    const range = await request(getTarget, { headers: { Range: `bytes=${from}-${from + 99_999}` } });
    assert.equal(range.status, 206);
    assert.equal(range.headers['content-range'], `bytes ${from}-${from + 99_999}/${size}`);
    assert.deepEqual(range.body, bytesAt(from, 100_000));
  });

  it('ranges, multipart ranges, HEAD and 304 on one kept-alive connection to nginx', async () => {
    const body = bytesAt(5, 50_000);
    assert.equal((await signedUpload('/upload/b3/nginx/ranged.bin', body)).status, 200);
    const c = await KeepAliveClient.connect(port);
    try {
      const head = await c.request({ method: 'HEAD', target: '/get/b3/nginx/ranged.bin' });
      assert.equal(head.status, 200);
      assert.equal(head.headers['content-length'], String(body.length));
      const etag = head.headers.etag!;
      assert.ok(etag);
      const nm = await c.request({ target: '/get/b3/nginx/ranged.bin', headers: { 'If-None-Match': etag } });
      assert.equal(nm.status, 304);
      const ims = await c.request({ target: '/get/b3/nginx/ranged.bin', headers: { 'If-Modified-Since': head.headers['last-modified']! } });
      assert.equal(ims.status, 304);
      const one = await c.request({ target: '/get/b3/nginx/ranged.bin', headers: { Range: 'bytes=1000-1999' } });
      assert.equal(one.status, 206);
      assert.deepEqual(one.body, body.subarray(1000, 2000));
      const multi = await c.request({ target: '/get/b3/nginx/ranged.bin', headers: { Range: 'bytes=0-9,40000-40009' } });
      assert.equal(multi.status, 206);
      const boundary = /boundary=(\S+)/.exec(multi.headers['content-type']!)![1]!;
      const text = multi.body.toString('latin1');
      assert.equal(text.split(`--${boundary}`).length, 4, 'two parts and the closing delimiter');
      assert.ok(multi.body.includes(body.subarray(0, 10)) && multi.body.includes(body.subarray(40000, 40010)));
      const full = await c.request({ target: '/get/b3/nginx/ranged.bin' });
      assert.deepEqual(full.body, body);
      const missing = await c.request({ target: '/get/b3/nginx/not-there' });
      assert.equal(missing.status, 404);
      const again = await c.request({ method: 'HEAD', target: '/get/b3/nginx/ranged.bin' });
      assert.equal(again.status, 200);
    } finally {
      c.close();
    }
  });

  it('a signed upload with X-Ell-* headers passes through unchanged; a bad signature is refused', async () => {
    const target = '/upload/b1/nginx/signed%20key.txt?trace_id=0x42';
    const ok = await signedUpload(target, Buffer.from('signed'), { 'X-Ell-Note': 'through nginx' });
    assert.equal(ok.status, 200, ok.body.toString());
    assert.equal(JSON.parse(ok.body.toString()).key, 'nginx/signed key.txt');
    const forged = await request(target, { method: 'POST', body: Buffer.from('forged'), headers: { 'X-Ell-Note': 'changed', Authorization: authorization('POST', target, writer.user, writer.token, { 'X-Ell-Note': 'through nginx' }) } });
    assert.equal(forged.status, 403);
  });

  it('a malformed request gets nginx\'s 400 at once instead of silence', async () => {
    const r = await rawExchange(port, 'THIS IS NOT HTTP\r\n\r\n');
    assert.match(r.text, /^HTTP\/1\.1 400 /);
    assert.ok(r.closedAfterMs < 5000, `closed after ${r.closedAfterMs} ms`);
  });
});
