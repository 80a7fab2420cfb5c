// The HTTP API over real HTTP, against the proxy in cluster mode (2 uWS workers) in front of the
// embedded two-node, six-group cluster: every handler and its statuses, keys that need escaping,
// ranges, conditional requests, redirects, static files, stats, control endpoints. It stays one file
// (a little over 400 lines) because every test shares the one proxy and cluster its `before` starts:
// a split would start them again per file for no gain in reading.

import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { mkdirSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { sign } from '../../src/buckets/signature.js';
import { keyToId } from '../../src/elliptics/protocol/key.js';
import { startTestCluster, type TestCluster } from '../helpers/cluster.js';
import { authorization, oddBuckets, raw, startProxy, type TestProxy } from '../helpers/proxy.js';

const writer = { user: 'writer', token: 'writer token' };
/** A static file of several read pieces, each byte different from its neighbours. */
const bigStatic = Buffer.from(Array.from({ length: 1_500_001 }, (_, i) => (i * 7 + (i >> 8)) & 0xff));
const admin = { user: 'ops', token: 'an admin token that is long enough' };

describe('proxy API', () => {
  let tc: TestCluster;
  let p: TestProxy;
  let root: string;

  before(async () => {
    tc = await startTestCluster();
    root = path.join(tc.root, 'static');
    mkdirSync(path.join(root, 'sub'), { recursive: true });
    writeFileSync(path.join(root, 'crossdomain.xml'), '<?xml version="1.0"?><cross-domain-policy/>');
    writeFileSync(path.join(root, 'sub', 'page.html'), '<html><body>static</body></html>');
    writeFileSync(path.join(root, '.secret'), 'dotfile');
    writeFileSync(path.join(root, 'big.bin'), bigStatic);
    writeFileSync(path.join(tc.root, 'outside.txt'), 'outside the root');
    symlinkSync(path.join(tc.root, 'outside.txt'), path.join(root, 'escape.txt'));
    symlinkSync(path.join(root, 'crossdomain.xml'), path.join(root, 'inside-link.xml'));
    p = await startProxy(tc, {
      extraBuckets: oddBuckets,
      proxy: {
        root,
        'redirect-port': 8080,
        'redirect-token': 'secure token to sign redirect request',
        'redirect-signature-timeout': 60,
        'redirect-root': tc.root,
        admin,
        headers: { 'X-Test-Header': 'present', 'Access-Control-Allow-Origin': '*', 'X-Ell-Some-Header': 'this is a header data' },
      },
    });
  });

  after(async () => {
    await p?.stop();
    await tc.close();
  });

  const upload = (bucket: string, key: string, body: string | Buffer, headers: Record<string, string> = {}) =>
    p.request(`/upload/${bucket}/${key}`, { method: 'POST', body, headers, as: writer });

  it('uploads with the original JSON reply; every reply carries the configured headers', async () => {
    const r = await upload('b1', 'golden/obj.txt', 'golden object via backrunner');
    assert.equal(r.status, 200, r.body.toString());
    assert.equal(r.headers['x-test-header'], 'present');
    const j = JSON.parse(r.body.toString());
    assert.deepEqual(Object.keys(j), ['bucket', 'key', 'reply']);
    assert.equal(j.bucket, 'b1');
    assert.equal(j.key, 'golden/obj.txt');
    assert.deepEqual(j.reply['success-groups'], [1, 2]);
    assert.deepEqual(j.reply['error-groups'], []);
    const info = j.reply.info[0];
    assert.deepEqual(Object.keys(info), ['group', 'backend', 'id', 'csum', 'filename', 'size', 'offset-within-data-file', 'mtime', 'server', 'error']);
    assert.equal(info.id, keyToId('golden/obj.txt', 'b1').toString('hex'));
    assert.equal(info.size, 28);
    assert.match(info.server, /^127\.0\.0\.1:\d+:2$/);
    assert.match(info.mtime, /^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d(\.\d+)? [+-]\d{4} \S+$/);
    assert.equal(info.error, null);
    const errorReply = await p.request('/get/nope/x');
    assert.equal(errorReply.headers['x-test-header'], 'present', 'errors carry the configured headers too');
  });

  it('Content-MD5 / Digest: a body that does not match is refused and the previous version stays', async () => {
    const md5 = (b: string | Buffer) => createHash('md5').update(b).digest('base64');
    const sha256 = (b: Buffer) => createHash('sha256').update(b).digest('base64');
    assert.equal((await upload('b1', 'checked.txt', 'version one', { 'Content-MD5': md5('version one') })).status, 200);
    const bad = await upload('b1', 'checked.txt', 'version two', { 'Content-MD5': md5('something else') });
    assert.equal(bad.status, 400);
    assert.match(bad.body.toString(), /does not match its Content-MD5/);
    assert.equal((await p.request('/get/b1/checked.txt')).body.toString(), 'version one');
    assert.equal((await upload('b1', 'checked.txt', 'x', { 'Content-MD5': 'not base64' })).status, 400);
    // Big enough to be hashed in the piscina pool (whole) and to stream in chunks.
    for (const size of [300 * 1024, 3 * 1024 * 1024 + 5]) {
      const body = Buffer.alloc(size, 7);
      assert.equal((await upload('b2', `digest-${size}`, body, { Digest: `sha-256=${sha256(body)}` })).status, 200, `${size} right digest`);
      const wrong = await upload('b2', `digest-wrong-${size}`, body, { Digest: `sha-256=${sha256(Buffer.from('x'))}` });
      assert.equal(wrong.status, 400, `${size} wrong digest`);
      assert.equal((await p.request(`/get/b2/digest-wrong-${size}`)).status, 404, 'nothing stored');
    }
  });

  it('GET streams the object with Content-Length, Accept-Ranges, Last-Modified, ETag and the content type', async () => {
    const r = await p.request('/get/b1/golden/obj.txt');
    assert.equal(r.status, 200);
    assert.equal(r.body.toString(), 'golden object via backrunner');
    assert.equal(r.headers['content-length'], '28');
    assert.equal(r.headers['accept-ranges'], 'bytes');
    assert.match(r.headers.etag!, /^"[0-9a-f]+-[0-9a-f]+-[0-9a-f]+"$/);
    assert.ok(Date.parse(r.headers['last-modified']!) > Date.now() - 60_000);
    assert.equal(r.headers['content-type'], 'text/plain; charset=utf-8');
    const again = await p.request('/get/b1/golden/obj.txt');
    assert.equal(again.headers.etag, r.headers.etag, 'both replicas carry the same version');
  });

  it('content type: configured suffix (longest wins) > extension > sniffing', async () => {
    await upload('b2', 'clip.mp4', Buffer.from('\x00\x00\x00\x18ftypmp42 not really a movie'));
    await upload('b2', 'thing.big', 'plain text body');
    await upload('b2', 'photo.png', 'not a png but named so');
    await upload('b2', 'noext', Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, 1, 2, 3]));
    assert.equal((await p.request('/get/b2/clip.mp4')).headers['content-type'], 'video/mp4');
    assert.equal((await p.request('/get/b2/thing.big')).headers['content-type'], 'application/x-big');
    assert.equal((await p.request('/get/b2/photo.png')).headers['content-type'], 'image/png');
    assert.equal((await p.request('/get/b2/noext')).headers['content-type'], 'image/png');
  });

  it('keys with unicode, spaces, + and % survive the two decoding passes; slashes stay in the key', async () => {
    // Pass 1 decodes %XX; pass 2 turns + into space and decodes again. So a literal + or % is
    // double-encoded, and a form-encoded space arrives as a space (spec §2, MUST).
    const cases: [string, string][] = [
      ['d%C3%A9j%C3%A0%20vu%2F%E2%98%83.txt', 'déjà vu/☃.txt'],
      ['some+another%20key%2Fz', 'some another key/z'],
      ['one%252Bplus%2525percent', 'one+plus%percent'],
      ['deep/dir/with spaces'.replace(/ /g, '%20'), 'deep/dir/with spaces'],
    ];
    for (const [encoded, key] of cases) {
      const target = `/upload/b3/${encoded}`;
      const r = await p.request(target, { method: 'POST', body: `body of ${key}`, headers: { Authorization: authorization('POST', target, writer.user, writer.token) } });
      assert.equal(r.status, 200, `${key}: ${r.body}`);
      assert.equal(JSON.parse(r.body.toString()).key, key);
      assert.equal(JSON.parse(r.body.toString()).reply.info[0].id, keyToId(key, 'b3').toString('hex'));
      assert.equal((await p.request(`/get/b3/${encoded}`)).body.toString(), `body of ${key}`);
    }
    assert.equal((await p.request('/get/b3/bad%zzescape')).status, 400);
    // Routing uses the decoded path: an escaped handler name is the same handler.
    const escaped = '/%75pload/b3/escaped-handler';
    const up = await p.request(escaped, { method: 'POST', body: 'via an escaped handler name', headers: { Authorization: authorization('POST', escaped, writer.user, writer.token) } });
    assert.equal(up.status, 200, up.body.toString());
    assert.equal((await p.request('/get/b3/escaped-handler')).body.toString(), 'via an escaped handler name');
  });

  it('ranges: single → 206, several → multipart/byteranges in request order, invalid → 416, too much → 200', async () => {
    const body = Buffer.from(Array.from({ length: 1000 }, (_, i) => 65 + (i % 26)));
    await upload('b1', 'ranged.bin', body);
    const one = await p.request('/get/b1/ranged.bin', { headers: { Range: 'bytes=10-19' } });
    assert.equal(one.status, 206);
    assert.equal(one.headers['content-range'], 'bytes 10-19/1000');
    assert.deepEqual(one.body, body.subarray(10, 20));
    const suffix = await p.request('/get/b1/ranged.bin', { headers: { Range: 'bytes=-5' } });
    assert.deepEqual(suffix.body, body.subarray(995));
    const multi = await p.request('/get/b1/ranged.bin', { headers: { Range: 'bytes=900-909, 0-4' } });
    assert.equal(multi.status, 206);
    const m = /^multipart\/byteranges; boundary=([0-9a-f]{60})$/.exec(multi.headers['content-type']!);
    assert.ok(m, multi.headers['content-type']);
    assert.equal(Number(multi.headers['content-length']), multi.body.length);
    const text = multi.body.toString('latin1');
    const parts = text.split(`--${m[1]}`);
    assert.match(parts[1]!, /Content-Range: bytes 900-909\/1000\r\nContent-Type: text\/plain; charset=utf-8\r\n\r\n/);
    assert.ok(parts[1]!.includes(body.subarray(900, 910).toString('latin1')));
    assert.match(parts[2]!, /Content-Range: bytes 0-4\/1000/);
    assert.equal(parts[3], '--\r\n');
    assert.equal((await p.request('/get/b1/ranged.bin', { headers: { Range: 'bytes=2000-' } })).status, 416);
    assert.equal((await p.request('/get/b1/ranged.bin', { headers: { Range: 'items=1-2' } })).status, 416);
    const tooMuch = await p.request('/get/b1/ranged.bin', { headers: { Range: 'bytes=0-999,0-999' } });
    assert.deepEqual([tooMuch.status, tooMuch.body.length], [200, 1000]);
  });

  it('?offset=&size= override the Range header on /get/', async () => {
    const r = await p.request('/get/b1/ranged.bin?offset=0x10&size=4', { headers: { Range: 'bytes=0-0' } });
    assert.equal(r.status, 206);
    assert.equal(r.headers['content-range'], 'bytes 16-19/1000');
    const tail = await p.request('/get/b1/ranged.bin?offset=998');
    assert.equal(tail.headers['content-range'], 'bytes 998-999/1000');
    assert.equal((await p.request('/get/b1/ranged.bin?offset=abc')).status, 400);
  });

  it('HEAD on /get/ answers the headers without a body, 404 when missing; HEAD elsewhere is the liveness 200', async () => {
    const h = await p.request('/get/b1/ranged.bin', { method: 'HEAD' });
    assert.equal(h.status, 200);
    assert.equal(h.headers['content-length'], '1000');
    assert.ok(h.headers.etag && h.headers['last-modified']);
    assert.equal(h.body.length, 0);
    assert.equal((await p.request('/get/b1/missing', { method: 'HEAD' })).status, 404);
    const live = await p.request('/anything/at/all', { method: 'HEAD' });
    assert.equal(live.status, 200);
  });

  it('conditional GET: If-None-Match and If-Modified-Since give 304; If-Range with a stale validator sends everything', async () => {
    const first = await p.request('/get/b1/ranged.bin');
    const etag = first.headers.etag!;
    const lm = first.headers['last-modified']!;
    assert.equal((await p.request('/get/b1/ranged.bin', { headers: { 'If-None-Match': etag } })).status, 304);
    assert.equal((await p.request('/get/b1/ranged.bin', { headers: { 'If-None-Match': '"other", ' + etag } })).status, 304);
    assert.equal((await p.request('/get/b1/ranged.bin', { headers: { 'If-None-Match': '"other"' } })).status, 200);
    assert.equal((await p.request('/get/b1/ranged.bin', { headers: { 'If-Modified-Since': lm } })).status, 304);
    assert.equal((await p.request('/get/b1/ranged.bin', { headers: { 'If-Modified-Since': 'Thu, 01 Jan 1970 00:00:01 GMT' } })).status, 200);
    assert.equal((await p.request('/get/b1/ranged.bin', { headers: { Range: 'bytes=0-1', 'If-Range': etag } })).status, 206);
    assert.equal((await p.request('/get/b1/ranged.bin', { headers: { Range: 'bytes=0-1', 'If-Range': '"stale"' } })).status, 200);
    assert.equal((await p.request('/get/b1/ranged.bin', { headers: { Range: 'bytes=0-1', 'If-Range': lm } })).status, 206);
  });

  it('lookup: 200 with the storage locations, 404 when missing', async () => {
    const r = await p.request('/lookup/b1/ranged.bin');
    assert.equal(r.status, 200);
    const j = JSON.parse(r.body.toString());
    assert.deepEqual(j['success-groups'], [1, 2]);
    assert.equal(j.info.length, 2);
    assert.equal(j.info[0].size, 1000);
    assert.equal((await p.request('/lookup/b1/missing')).status, 404);
  });

  it('redirect: 302 to the storage node with the signed X-Ell-* headers; the signature verifies', async () => {
    const r = await p.request('/redirect/b1/ranged.bin', { headers: { Range: 'bytes=100-199' } });
    assert.equal(r.status, 302);
    const url = new URL(r.headers.location!);
    assert.equal(url.protocol, 'http:');
    assert.equal(url.port, '8080');
    const file = r.headers['x-ell-file'] as string;
    assert.ok(!file.startsWith(tc.root), 'redirect-root stripped');
    const fileOffset = Number(r.headers['x-ell-file-offset']);
    assert.equal(decodeURIComponent(url.pathname), `${file.startsWith('/') ? '' : '/'}${file}:${fileOffset + 100}:100`);
    assert.equal(r.headers['x-ell-total-size'], '1000');
    assert.equal(r.headers['content-type'], 'text/html; charset=utf-8');
    assert.match(r.body.toString(), /^<a href=".*">Found<\/a>\.\n\n$/);
    const signed = Object.entries(r.headers).filter(([k]) => k.startsWith('x-ell-')).map(([k, v]) => [k, String(v)] as [string, string]);
    assert.ok(signed.some(([k]) => k === 'x-ell-some-header'), 'configured X-Ell-* headers are part of it');
    const expected = sign('secure token to sign redirect request', { method: 'GET', signPath: decodeURIComponent(url.pathname), rawQuery: '', headers: signed });
    assert.equal(r.headers.authorization, expected);
    const byQuery = await p.request('/redirect/b1/ranged.bin?offset=10&size=5');
    assert.match(byQuery.headers.location!, /:\d+:5$/);
    assert.equal((await p.request('/redirect/b1/ranged.bin?offset=5000')).status, 400);
    assert.equal((await p.request('/redirect/b1/missing')).status, 404);
  });

  it('delete: POST, PUT and DELETE remove the object (200), a missing one is 404', async () => {
    for (const method of ['POST', 'PUT', 'DELETE']) {
      await upload('b2', `del-${method}`, 'x');
      const r = await p.request(`/delete/b2/del-${method}`, { method, as: writer });
      assert.equal(r.status, 200, `${method}: ${r.body}`);
      assert.equal((await p.request(`/get/b2/del-${method}`)).status, 404);
    }
    assert.equal((await p.request('/delete/b2/never', { method: 'POST', as: writer })).status, 404);
  });

  it('bulk_delete: a map of failed keys; {} when all went', async () => {
    for (const k of ['bd-1', 'bd-2']) await upload('b3', k, `bulk delete body ${k}`);
    const body = JSON.stringify({ keys: ['bd-1', 'bd-2', 'bd-missing'] });
    const r = await p.request('/bulk_delete/b3', { method: 'POST', body, as: writer });
    assert.equal(r.status, 200);
    assert.deepEqual(JSON.parse(r.body.toString()), { 'bd-missing': 'remove status: -2' });
    await upload('b3', 'bd-3', 'x');
    const all = await p.request('/bulk_delete/b3', { method: 'PUT', body: JSON.stringify({ keys: ['bd-3'] }), as: writer });
    assert.deepEqual(JSON.parse(all.body.toString()), {});
  });

  it('nobucket_upload picks a bucket the caller may write to and says which', async () => {
    const r = await p.request('/nobucket_upload/auto/one.txt', { method: 'POST', body: 'auto', as: writer });
    assert.equal(r.status, 200, r.body.toString());
    const j = JSON.parse(r.body.toString());
    assert.ok(['b1', 'b2', 'b3', 'small'].includes(j.bucket));
    assert.equal((await p.request(`/get/${j.bucket}/auto/one.txt`)).body.toString(), 'auto');
    assert.equal((await p.request('/nobucket_upload/x', { method: 'POST', body: 'x' })).status, 503, 'anonymous callers may write nowhere');
  });

  it('stat and ping: public JSON in the original shape, without secrets; with and without the slash', async () => {
    for (const target of ['/stat/', '/stat', '/ping/', '/ping', '/stat/b1,b2']) {
      const r = await p.request(target);
      assert.equal(r.status, 200, target);
      const j = JSON.parse(r.body.toString());
      assert.deepEqual(Object.keys(j), ['Buckets', 'StatTime', 'Status'], 'the original\'s keys, then ours');
      assert.doesNotMatch(r.body.toString(), /token/);
    }
    const j = JSON.parse((await p.request('/stat/b1')).body.toString());
    assert.deepEqual(Object.keys(j.Buckets), ['b1']);
    const g = j.Buckets.b1.Group['1'];
    const st = g.Backends[0].Stat;
    assert.ok(st.VFS.Total > 0 && st.Percentage > 0.99);
    assert.deepEqual(Object.keys(st), ['error', 'Percentage', 'DefragState', 'DefragStateStr', 'DefragStartTime', 'DefragCompletionTime', 'DefragCompletionStatus', 'RO', 'Delay', 'VFS', 'PID', 'Commands']);
    assert.deepEqual(j.Buckets.b1.Meta, { groups: [1, 2], flags: 0, 'max-size': 0, 'max-key-num': 0 });
  });

  it('control endpoints need a request signed by proxy.admin; /metrics is public Prometheus text', async () => {
    for (const [target, method] of [['/proxy_stat/', 'GET'], ['/profile/heap', 'GET'], ['/update_local_config/', 'POST'], ['/exit/', 'GET']] as const) {
      assert.equal((await p.request(target, { method, body: method === 'POST' ? '{}' : undefined })).status, 403, `${target} anonymous`);
      assert.equal((await p.request(target, { method, as: writer, body: method === 'POST' ? '{}' : undefined })).status, 403, `${target} as a bucket user`);
    }
    const ps = await p.request('/proxy_stat/', { as: admin });
    assert.equal(ps.status, 200);
    const j = JSON.parse(ps.body.toString());
    assert.deepEqual(Object.keys(j), ['BucketCtlStat', 'handlers', 'errors']);
    assert.equal(j.BucketCtlStat.ProxyConfig.proxy['redirect-token'], '');
    assert.doesNotMatch(ps.body.toString(), /secure token to sign|an admin token/);
    assert.equal((await p.request('/profile/heap', { as: admin })).status, 200);
    const bad = await p.request('/update_local_config/', { method: 'POST', body: '{"proxy": {"address": 5}}', as: admin });
    assert.equal(bad.status, 400);
    await new Promise((r) => setTimeout(r, 2500)); // workers report every second, the primary folds every second
    const m = await p.request('/metrics');
    assert.equal(m.status, 200);
    assert.match(m.body.toString(), /^backrunner_http_requests_total\{handler="get",class="2xx",code="200"\} \d+$/m);
    assert.match(m.body.toString(), /^backrunner_http_requests_total\{handler="get",class="2xx",code="206"\} \d+$/m);
    assert.match(m.body.toString(), /^backrunner_http_requests_total\{handler="get",class="3xx",code="304"\} \d+$/m);
    assert.match(m.body.toString(), /backrunner_http_request_duration_seconds_bucket\{handler="get",class="2xx",code="200",le="\+Inf"\} \d+/);
    assert.match(m.body.toString(), /backrunner_backend_avail_bytes\{group="1",/);
  });

  it('/metrics gives the same counters whichever worker answers (the primary\'s folded view)', async () => {
    for (let i = 0; i < 10; i++) assert.equal((await upload('b2', `metrics/${i}`, 'counted')).status, 200);
    await new Promise((r) => setTimeout(r, 2500));
    const byWorker = new Map<string, string>();
    for (let i = 0; i < 40 && byWorker.size < 2; i++) {
      const text = (await p.request('/metrics')).body.toString(); // a new connection each time: any worker
      const worker = /^# answered by worker (\d+)$/m.exec(text)![1]!;
      const counters = text.split('\n').filter((l) => /^backrunner_(http_requests_total\{handler="upload"|storage_writes_total|storage_write_bytes_total)/.test(l)).join('\n');
      byWorker.set(worker, counters);
    }
    assert.equal(byWorker.size, 2, 'both workers answered');
    const [a, b] = [...byWorker.values()];
    assert.match(a!, /backrunner_storage_writes_total\{address="[^"]+",backend="2",group="3"\} \d+/);
    assert.equal(a, b);
  });

  it('update_local_config replaces the live proxy config (here: a new header on every reply)', async () => {
    const doc = JSON.parse(readFileSync(p.configFile, 'utf8'));
    doc.proxy.headers = { ...doc.proxy.headers, 'X-Updated': 'yes' };
    doc.proxy['disable-config-update-for-seconds'] = 600;
    assert.equal((await p.request('/update_local_config/', { method: 'POST', body: JSON.stringify(doc), as: admin })).status, 200);
    let seen = false;
    for (let i = 0; i < 40 && !seen; i++) {
      seen = (await p.request('/ping/')).headers['x-updated'] === 'yes';
      if (!seen) await new Promise((r) => setTimeout(r, 100));
    }
    assert.ok(seen, 'the new header arrived');
  });

  it('static files: served from root, streamed with Range and validators; dotfiles, .. and symlink escapes refused', async () => {
    const xml = await p.request('/crossdomain.xml');
    assert.equal(xml.status, 200);
    assert.match(xml.headers['content-type']!, /xml/);
    assert.ok(xml.headers.etag && xml.headers['last-modified']);
    assert.equal((await p.request('/crossdomain.xml', { headers: { 'If-None-Match': xml.headers.etag! } })).status, 304);
    const part = await p.request('/crossdomain.xml', { headers: { Range: 'bytes=0-4' } });
    assert.deepEqual([part.status, part.body.toString()], [206, '<?xml']);
    assert.equal((await p.request('/sub/page.html')).headers['content-type'], 'text/html; charset=utf-8');
    // Bigger than one read piece: whole, and two ranges from different pieces.
    assert.deepEqual((await p.request('/big.bin')).body, bigStatic);
    const two = await p.request('/big.bin', { headers: { Range: 'bytes=10-20,1000000-1300000' } });
    assert.equal(two.status, 206);
    const boundary = /boundary=(\w+)/.exec(two.headers['content-type']!)![1]!;
    const parts = two.body.toString('latin1').split(`--${boundary}`).slice(1, -1).map((x) => Buffer.from(x.slice(x.indexOf('\r\n\r\n') + 4).replace(/\r\n$/, ''), 'latin1'));
    assert.deepEqual(parts, [bigStatic.subarray(10, 21), bigStatic.subarray(1_000_000, 1_300_001)]);
    assert.equal((await p.request('/inside-link.xml')).status, 200, 'a symlink inside the root is fine');
    assert.equal((await p.request('/escape.txt')).status, 404, 'a symlink out of the root is refused');
    assert.equal((await p.request('/.secret')).status, 404);
    assert.equal((await p.request('/sub/../.secret')).status, 404);
    const climb = await raw(p.port, 'GET /../../../../etc/passwd HTTP/1.1\r\nHost: x\r\n\r\n');
    assert.match(climb, /^HTTP\/1\.1 404/);
    assert.equal((await p.request('/%2e%2e/outside.txt')).status, 404);
    assert.equal((await p.request('/')).status, 404);
    assert.equal((await p.request('/nothing-here')).status, 404);
    assert.equal((await p.request('/crossdomain.xml', { method: 'POST', body: 'x' })).status, 405);
  });

  it('a wrong method is 405 with Allow; OPTIONS is a CORS preflight', async () => {
    const r = await p.request('/get/b1/ranged.bin', { method: 'POST', body: 'x' });
    assert.equal(r.status, 405);
    assert.equal(r.headers.allow, 'GET, HEAD');
    const o = await p.request('/upload/b1/k', { method: 'OPTIONS', headers: { 'Access-Control-Request-Headers': 'authorization' } });
    assert.equal(o.status, 204);
    assert.equal(o.headers['access-control-allow-origin'], '*');
    assert.equal(o.headers['access-control-allow-methods'], 'POST, PUT, OPTIONS');
    assert.equal(o.headers['access-control-allow-headers'], 'authorization');
  });

  it('errors have the original body shape and never carry a secret', async () => {
    const r = await p.request('/get/nope/x?trace_id=1');
    assert.equal(r.status, 400);
    assert.equal(r.headers['content-type'], 'text/plain; charset=utf-8');
    assert.equal(r.headers['x-content-type-options'], 'nosniff');
    assert.match(r.body.toString(), /^url: \/get\/nope\/x\?trace_id=1: error status: 400, returned data: 'nope: could not find and read bucket: .*'\n$/);
    const bad = await p.request('/upload/b1/k', { method: 'POST', body: 'x', headers: { Authorization: `riftv1 writer:${'0'.repeat(128)}` } });
    assert.equal(bad.status, 403);
    assert.doesNotMatch(bad.body.toString(), /[0-9a-f]{128}/, 'the expected signature is never revealed');
    assert.equal(bad.body.toString(), "url: /upload/b1/k: error status: 403, returned data: 'forbidden'\n");
    const logs = p.output();
    assert.doesNotMatch(logs, /writer token|reader token|an admin token|secure token to sign/, 'no token in the logs');
    assert.doesNotMatch(logs, /riftv1/, 'no Authorization header in the logs');
  });

  it('the access log has one line per request with the fields of DESIGN §6', async () => {
    await p.request('/get/b1/ranged.bin', { headers: { 'X-Request': '0x2200000000000001' } });
    await new Promise((r) => setTimeout(r, 1200)); // log lines go out in batches, at least every 500 ms
    const line = p.output().split('\n').find((l) => l.includes('"trace":"2200000000000001"'));
    assert.ok(line, 'a line for the traced request');
    const j = JSON.parse(line);
    for (const field of ['method', 'path', 'status', 'in', 'out', 'ms', 'bucket', 'key', 'user', 'trace', 'remote']) assert.ok(field in j, field);
    assert.equal(j.status, 200);
    assert.equal(j.out, 1000);
  });
});
