// /redirect/ end to end on `npm start`'s deployment with redirect-port set: the embedded node serves
// what the 302 points at — exact bytes (small and 100 MiB, a range inside), HEAD, several requests
// on one kept-alive connection — and refuses, with nothing of the file, a tampered header or path,
// an expired signature, a path with "..", a window into another record; after an overwrite and a
// compaction the old redirect is 404 and a new one works.

import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import http from 'node:http';
import path from 'node:path';
import { sign } from '../../src/buckets/signature.js';
import { defragAll } from '../helpers/defrag.js';
import { startEmbeddedProxy, type EmbeddedProxy } from '../helpers/embedded-proxy.js';
import { KeepAliveClient } from '../helpers/keep-alive.js';
import { authorization, freePort } from '../helpers/proxy.js';

const TOKEN = 'redirect token for the test';
const WRITER = { user: 'writer', token: 'change this writer token' };

interface Redirect {
  url: URL;
  headers: Record<string, string>;
}

function call(port: number, method: string, target: string, headers: Record<string, string> = {}, body?: Buffer): Promise<{ status: number; headers: http.IncomingHttpHeaders; body: Buffer }> {
  return new Promise((resolve, reject) => {
    const req = http.request({ host: '127.0.0.1', port, method, path: target, headers: body ? { ...headers, 'Content-Length': String(body.length) } : headers, agent: false }, (res) => {
      const parts: Buffer[] = [];
      res.on('data', (c: Buffer) => parts.push(c));
      res.on('end', () => resolve({ status: res.statusCode!, headers: res.headers, body: Buffer.concat(parts) }));
    });
    req.on('error', reject);
    req.end(body);
  });
}

describe('/redirect/ served by the storage node', () => {
  let proxy: EmbeddedProxy;
  let redirectPort: number;
  let nodePort: number;
  const small = Buffer.from('small object behind a redirect\n'.repeat(10));
  const big = Buffer.alloc(100 * 1024 * 1024);
  for (let i = 0; i < big.length; i += 4096) big.writeUInt32LE(i, i);

  const upload = async (key: string, body: Buffer): Promise<void> => {
    const target = `/upload/b1/${key}`;
    const r = await call(proxy.port, 'POST', target, { Authorization: authorization('POST', target, WRITER.user, WRITER.token) }, body);
    assert.equal(r.status, 200, r.body.toString());
  };
  const redirect = async (key: string, headers: Record<string, string> = {}): Promise<Redirect> => {
    const r = await call(proxy.port, 'GET', `/redirect/b1/${key}`, headers);
    assert.equal(r.status, 302, r.body.toString());
    const h: Record<string, string> = {};
    for (const [k, v] of Object.entries(r.headers)) if (k.startsWith('x-ell-') || k === 'authorization') h[k] = String(v);
    return { url: new URL(String(r.headers.location)), headers: h };
  };
  const follow = (r: Redirect, extra: Record<string, string> = {}, method = 'GET') => call(Number(r.url.port), method, r.url.pathname, { ...r.headers, ...extra });

  before(async () => {
    redirectPort = await freePort();
    proxy = await startEmbeddedProxy((c) => {
      Object.assign(c.proxy!, { 'redirect-port': redirectPort, 'redirect-token': TOKEN, 'redirect-signature-timeout': 60 });
      nodePort = Number(String(c.embedded!.address).split(':')[1]);
    });
    await upload('small', small);
    await upload('big', big);
  });

  after(async () => {
    await proxy.stop();
  });

  it('GET of the Location with the 302\'s headers gives the exact bytes, small and 100 MiB; HEAD; a range inside', async () => {
    const r = await redirect('small');
    assert.equal(r.url.port, String(redirectPort));
    const got = await follow(r);
    assert.equal(got.status, 200);
    assert.ok(got.body.equals(small));
    assert.equal(got.headers['content-length'], String(small.length));
    assert.equal(got.headers['last-modified'], new Date(Number(r.headers['x-ell-mtime']) * 1000).toUTCString());
    assert.equal(got.headers['content-type'], 'application/octet-stream');
    const head = await follow(r, {}, 'HEAD');
    assert.equal(head.status, 200);
    assert.equal(head.body.length, 0);
    assert.equal(head.headers['content-length'], String(small.length));
    const part = await follow(r, { Range: 'bytes=10-29' });
    assert.equal(part.status, 206);
    assert.ok(part.body.equals(small.subarray(10, 30)));
    assert.equal(part.headers['content-range'], `bytes 10-29/${small.length}`);
    assert.equal((await follow(r, { Range: `bytes=${small.length + 5}-` })).status, 416);
    // A ranged redirect points at that window only.
    const windowed = await redirect('small', { Range: 'bytes=100-199' });
    const w = await follow(windowed);
    assert.ok(w.body.equals(small.subarray(100, 200)));

    const rb = await redirect('big');
    const gb = await follow(rb);
    assert.equal(gb.status, 200);
    assert.equal(createHash('sha256').update(gb.body).digest('hex'), createHash('sha256').update(big).digest('hex'));
    const tail = await follow(rb, { Range: 'bytes=-4096' });
    assert.ok(tail.body.equals(big.subarray(big.length - 4096)));
  });

  it('several requests on one kept-alive connection', async () => {
    const r = await redirect('small');
    const c = await KeepAliveClient.connect(redirectPort);
    try {
      for (const [method, range, status, length] of [['GET', '', 200, small.length], ['HEAD', '', 200, 0], ['GET', 'bytes=0-9', 206, 10], ['GET', '', 200, small.length]] as const) {
        const reply = await c.request({ method, target: r.url.pathname, headers: { ...r.headers, ...(range ? { Range: range } : {}) } });
        assert.equal(reply.status, status);
        assert.equal(reply.body.length, length);
      }
      const bad = await c.request({ target: r.url.pathname, headers: { ...r.headers, 'x-ell-mtime': '1' } });
      assert.equal(bad.status, 403);
      const again = await c.request({ target: r.url.pathname, headers: r.headers });
      assert.equal(again.status, 200, 'the connection is still usable after a refusal');
      assert.equal(c.isClosed, false);
    } finally {
      c.close();
    }
  });

  it('refuses a tampered header, a tampered path, an expired signature, "..", a window into another record — nothing of the file sent', async () => {
    const r = await redirect('small');
    const refused = async (status: number, reply: Promise<{ status: number; body: Buffer }>, why: string): Promise<void> => {
      const got = await reply;
      assert.equal(got.status, status, why);
      assert.ok(!got.body.includes(Buffer.from('small object')), `${why}: file bytes in the refusal`);
      assert.ok(got.body.length < 200, why);
    };
    await refused(403, follow(r, { 'x-ell-total-size': String(Number(r.headers['x-ell-total-size']) + 1) }), 'tampered header');
    await refused(403, follow({ ...r, url: new URL(r.url.href.replace(/:(\d+):(\d+)$/, (_m, o: string, s: string) => `:${Number(o) + 1}:${s}`)) }), 'tampered path');
    await refused(403, follow(r, { authorization: '0'.repeat(128) }), 'wrong signature');
    await refused(403, follow(r, { 'x-ell-signtime': String(Math.floor(Date.now() / 1000) - 3600) }), 'a signtime changed by the client breaks the signature');
    // Correctly signed by someone with the token, but expired / escaping / pointing elsewhere.
    const resign = (p: string, h: Record<string, string>): Record<string, string> => {
      const { authorization: _a, ...ell } = h;
      void _a;
      return { ...ell, authorization: sign(TOKEN, { method: 'GET', signPath: p, rawQuery: '', headers: Object.entries(ell) }) };
    };
    const expired = { ...r.headers, 'x-ell-signtime': String(Math.floor(Date.now() / 1000) - 120) };
    await refused(403, call(redirectPort, 'GET', r.url.pathname, resign(r.url.pathname, expired)), 'expired');
    const file = r.headers['x-ell-file']!;
    const escape = `${path.dirname(file)}/../../../../etc/passwd`;
    const escPath = `${escape}:0:10`;
    await refused(403, call(redirectPort, 'GET', escPath, resign(escPath, { ...r.headers, 'x-ell-file': escape, 'x-ell-file-offset': '0', 'x-ell-total-size': '10' })), '..');
    // The "big" record's window with the small record's headers: outside the signed record.
    const rb = await redirect('big');
    const into = rb.url.pathname;
    await refused(403, call(redirectPort, 'GET', into, resign(into, { ...r.headers, 'x-ell-file': rb.headers['x-ell-file']! })), 'a window outside the record of the headers');
    // Headers naming the big record's place with the small record's size and time: not the record there.
    const mixed = { ...rb.headers, 'x-ell-total-size': r.headers['x-ell-total-size']!, 'x-ell-mtime': r.headers['x-ell-mtime']! };
    const mixedPath = `${rb.headers['x-ell-file']}:${rb.headers['x-ell-file-offset']}:10`;
    await refused(404, call(redirectPort, 'GET', mixedPath, resign(mixedPath, mixed)), 'another record');
    await refused(404, call(redirectPort, 'GET', '/nowhere/data-0.0:100:10', resign('/nowhere/data-0.0:100:10', { ...r.headers, 'x-ell-file': '/nowhere/data-0.0', 'x-ell-file-offset': '100', 'x-ell-total-size': '10' })), 'not a blob of this node');
    assert.equal((await call(redirectPort, 'POST', r.url.pathname, r.headers)).status, 405);
  });

  it('after an overwrite and a compaction the old redirect is 404, a new one works', async () => {
    await upload('moving', Buffer.from('first version'));
    const old = await redirect('moving');
    assert.ok((await follow(old)).body.equals(Buffer.from('first version')));
    await upload('moving', Buffer.from('second version, longer'));
    assert.equal((await follow(old)).status, 404, 'overwritten');
    const before = await redirect('moving');
    // Fill the blobs' dead space and compact both groups' backends: records move.
    for (let i = 0; i < 3; i++) await upload(`filler-${i}`, Buffer.alloc(1000, i));
    await defragAll(nodePort, [1, 2]);
    const after = await redirect('moving');
    if (after.url.pathname !== before.url.pathname) assert.equal((await follow(before)).status, 404, 'moved by the compaction');
    const got = await follow(after);
    assert.equal(got.status, 200);
    assert.ok(got.body.equals(Buffer.from('second version, longer')));
  });
});
