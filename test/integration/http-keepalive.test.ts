// HTTP details that caches, client pools and load balancers rely on, checked the way they use the
// proxy: many requests back to back on ONE keep-alive connection — HEAD, conditional GETs that end
// in 304, ranges, uploads, errors — with every reply framed exactly (a HEAD that leaks a body, a 304
// with a length, a reply that never comes: each breaks the next exchange on the socket).

import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startTestCluster, type TestCluster } from '../helpers/cluster.js';
import { KeepAliveClient, type RawReply } from '../helpers/keep-alive.js';
import { authorization, startProxy, type TestProxy } from '../helpers/proxy.js';

const writer = { user: 'writer', token: 'writer token' };

describe('one keep-alive connection', () => {
  let tc: TestCluster;
  let p: TestProxy;

  before(async () => {
    tc = await startTestCluster();
    p = await startProxy(tc);
  });

  after(async () => {
    await p?.stop();
    await tc.close();
  });

  const upload = (c: KeepAliveClient, target: string, body: Buffer | string): Promise<RawReply> =>
    c.request({ method: 'POST', target, body, headers: { Authorization: authorization('POST', target, writer.user, writer.token) } });

  it('HEAD, 304, ranges, uploads and errors back to back, every reply exact', async () => {
    const body = Buffer.from(Array.from({ length: 10_000 }, (_, i) => (i * 31) & 0xff));
    const c = await KeepAliveClient.connect(p.port);
    try {
      const up = await upload(c, '/upload/b1/ka/object.bin', body);
      assert.equal(up.status, 200, up.body.toString());

      const head = await c.request({ method: 'HEAD', target: '/get/b1/ka/object.bin' });
      assert.equal(head.status, 200);
      assert.equal(head.headers['content-length'], String(body.length), 'HEAD announces the real length');
      assert.equal(head.body.length, 0);
      assert.equal(head.names.filter((n) => n === 'content-length').length, 1, 'one Content-Length');
      const etag = head.headers.etag!;
      const lastModified = head.headers['last-modified']!;
      assert.ok(etag && lastModified, 'HEAD carries the validators');
      assert.equal(head.headers['uwebsockets'], undefined, 'no uWebSockets header');

      const full = await c.request({ target: '/get/b1/ka/object.bin' });
      assert.equal(full.status, 200);
      assert.deepEqual(full.body, body);
      assert.equal(full.headers.etag, etag);

      for (const cond of [{ 'If-None-Match': etag }, { 'If-Modified-Since': lastModified }] as Record<string, string>[]) {
        const nm = await c.request({ target: '/get/b1/ka/object.bin', headers: cond });
        assert.equal(nm.status, 304, JSON.stringify(cond));
        assert.equal(nm.headers['content-length'], undefined, '304 carries no Content-Length');
        assert.equal(nm.headers.etag, etag);
        assert.equal(nm.body.length, 0);
      }

      const headNm = await c.request({ method: 'HEAD', target: '/get/b1/ka/object.bin', headers: { 'If-None-Match': etag } });
      assert.equal(headNm.status, 304);
      assert.equal(headNm.headers['content-length'], undefined);

      const range = await c.request({ target: '/get/b1/ka/object.bin', headers: { Range: 'bytes=100-199' } });
      assert.equal(range.status, 206);
      assert.equal(range.headers['content-range'], `bytes 100-199/${body.length}`);
      assert.deepEqual(range.body, body.subarray(100, 200));

      const headRange = await c.request({ method: 'HEAD', target: '/get/b1/ka/object.bin', headers: { Range: 'bytes=0-9' } });
      assert.equal(headRange.status, 206);
      assert.equal(headRange.headers['content-length'], '10');

      const multi = await c.request({ target: '/get/b1/ka/object.bin', headers: { Range: 'bytes=0-1,5000-5001' } });
      assert.equal(multi.status, 206);
      assert.match(multi.headers['content-type']!, /^multipart\/byteranges; boundary=/);
      assert.equal(Number(multi.headers['content-length']), multi.body.length);

      const bad = await c.request({ target: '/get/b1/ka/object.bin', headers: { Range: 'bytes=20000-' } });
      assert.equal(bad.status, 416);

      const missing = await c.request({ method: 'HEAD', target: '/get/b1/ka/nothing-here' });
      assert.equal(missing.status, 404);
      assert.equal(missing.body.length, 0);

      const headPing = await c.request({ method: 'HEAD', target: '/ping/' });
      assert.equal(headPing.status, 200);
      assert.equal(headPing.headers['content-length'], '2', 'the liveness HEAD announces its "OK"');

      const wrong = await c.request({ method: 'PATCH', target: '/get/b1/ka/object.bin' });
      assert.equal(wrong.status, 405);

      const options = await c.request({ method: 'OPTIONS', target: '/upload/b1/ka/object.bin' });
      assert.equal(options.status, 204);
      assert.equal(options.headers['content-length'], undefined, '204 carries no Content-Length');

      const second = Buffer.from('second version');
      const up2 = await upload(c, '/upload/b1/ka/object.bin', second);
      assert.equal(up2.status, 200);
      const stale = await c.request({ target: '/get/b1/ka/object.bin', headers: { 'If-None-Match': etag } });
      assert.equal(stale.status, 200, 'a changed object is not "not modified"');
      assert.deepEqual(stale.body, second);

      const forbidden = await c.request({ method: 'POST', target: '/upload/b1/ka/anon', body: 'x' });
      assert.equal(forbidden.status, 403);

      // This round's endpoints, as load balancers and scrapers ask them: on the same connection.
      const healthHead = await c.request({ method: 'HEAD', target: '/health/' });
      assert.equal(healthHead.status, 200);
      assert.equal(healthHead.body.length, 0);
      const health = await c.request({ target: '/health/' });
      assert.equal(health.status, 200);
      assert.equal(healthHead.headers['content-length'], String(health.body.length), 'HEAD /health/ announces the length GET sends');
      assert.equal(JSON.parse(health.body.toString()).status, 'ok');
      const metrics = await c.request({ target: '/metrics' });
      assert.equal(metrics.status, 200);
      assert.match(metrics.body.toString(), /^# (HELP|TYPE) /m);
      const status = await c.request({ target: '/status/' });
      assert.equal(status.status, 200);
      assert.match(status.headers['content-type']!, /^text\/html/);
      assert.equal(Number(status.headers['content-length']), status.body.length);

      const last = await c.request({ target: '/get/b1/ka/object.bin', headers: { Range: 'bytes=-6' } });
      assert.equal(last.status, 206);
      assert.equal(last.body.toString(), 'ersion');
      assert.equal((await c.quietFor(200)).length, 0, 'nothing arrives that was not asked for');
      assert.equal(c.isClosed, false, 'the connection is still open');
    } finally {
      c.close();
    }
  });

  it('curl -I URL --next URL: the request after a HEAD is answered', async () => {
    const c = await KeepAliveClient.connect(p.port);
    try {
      for (let i = 0; i < 5; i++) {
        const h = await c.request({ method: 'HEAD', target: '/ping/' });
        assert.equal(h.status, 200);
        const g = await c.request({ target: '/stat/' });
        assert.equal(g.status, 200);
        assert.ok(JSON.parse(g.body.toString()).Buckets);
      }
    } finally {
      c.close();
    }
  });
});
