// Strict signatures (DESIGN §4.16), an opt-in old clients do not notice: on a bucket flagged strict
// (or everywhere with proxy.strict-signatures) a signed request must carry a signed X-Ell-Date within
// the skew, and an upload the signed X-Ell-Content-SHA256 of its body. A captured request replayed
// after the window, or with another body, is refused; plain riftv1 keeps working elsewhere.

import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { BucketFlags } from '../../src/buckets/metadata.js';
import { startTestCluster, type TestCluster } from '../helpers/cluster.js';
import { authorization, startProxy, type TestProxy } from '../helpers/proxy.js';

const BIN = fileURLToPath(new URL('../../../bin/backrunner', import.meta.url));
const writer = { user: 'writer', token: 'writer token' };
const reader = { user: 'reader', token: 'reader token' };
const SKEW = 2;

const sha256 = (b: Buffer | string): string => createHash('sha256').update(b).digest('hex');
const now = (): string => String(Math.floor(Date.now() / 1000));

/** Headers of a strictly signed request (the X-Ell-* ones are signed with it). */
function strictHeaders(method: string, target: string, who: { user: string; token: string }, ell: Record<string, string>): Record<string, string> {
  return { ...ell, Authorization: authorization(method, target, who.user, who.token, ell) };
}

describe('strict signatures', () => {
  let tc: TestCluster;
  let p: TestProxy;

  before(async () => {
    tc = await startTestCluster();
    p = await startProxy(tc, {
      proxy: { 'signature-skew': SKEW },
      extraBuckets: async (store) => {
        await store.writeBucket({
          version: 1,
          name: 'strict',
          acl: new Map([
            ['*', { version: 2, user: '*', token: '', flags: 1n }],
            ['reader', { version: 2, user: 'reader', token: reader.token, flags: 0n }],
            ['writer', { version: 2, user: 'writer', token: writer.token, flags: 2n }],
          ]),
          groups: [3, 4],
          flags: BucketFlags.STRICT_SIGNATURES,
          maxSize: 0,
          maxKeyNum: 0,
        });
        return ['strict'];
      },
    });
  });

  after(async () => {
    await p?.stop();
    await tc.close();
  });

  it('a strict upload with a fresh date and the body hash is stored', async () => {
    const target = '/upload/strict/a.txt';
    const body = 'first version';
    const r = await p.request(target, { method: 'POST', body, headers: strictHeaders('POST', target, writer, { 'X-Ell-Date': now(), 'X-Ell-Content-SHA256': sha256(body) }) });
    assert.equal(r.status, 200, r.body.toString());
    assert.equal((await p.request('/get/strict/a.txt')).body.toString(), body);
  });

  it('the same request with another body is refused before anything is committed', async () => {
    const target = '/upload/strict/a.txt';
    const headers = strictHeaders('POST', target, writer, { 'X-Ell-Date': now(), 'X-Ell-Content-SHA256': sha256('second version') });
    assert.equal((await p.request(target, { method: 'POST', body: 'second version', headers })).status, 200);
    const swapped = await p.request(target, { method: 'POST', body: 'swapped content', headers });
    assert.equal(swapped.status, 400);
    assert.match(swapped.body.toString(), /X-Ell-Content-SHA256/);
    assert.equal((await p.request('/get/strict/a.txt')).body.toString(), 'second version', 'the stored version stays');
  });

  it('a captured request replayed after the window gets 403; within it, it works', async () => {
    const target = '/upload/strict/replayed.txt';
    const body = 'captured';
    const headers = strictHeaders('PUT', target, writer, { 'X-Ell-Date': now(), 'X-Ell-Content-SHA256': sha256(body) });
    assert.equal((await p.request(target, { method: 'PUT', body, headers })).status, 200);
    await new Promise((r) => setTimeout(r, (SKEW + 1.5) * 1000));
    assert.equal((await p.request(target, { method: 'PUT', body, headers })).status, 403);
    const future = strictHeaders('PUT', target, writer, { 'X-Ell-Date': String(Math.floor(Date.now() / 1000) + 60), 'X-Ell-Content-SHA256': sha256(body) });
    assert.equal((await p.request(target, { method: 'PUT', body, headers: future })).status, 403, 'a date too far ahead is refused too');
  });

  it('signed requests without the date, or uploads without the hash, are 403; anonymous reads are not affected', async () => {
    const target = '/upload/strict/b.txt';
    const noDate = strictHeaders('POST', target, writer, { 'X-Ell-Content-SHA256': sha256('x') });
    assert.equal((await p.request(target, { method: 'POST', body: 'x', headers: noDate })).status, 403);
    const noHash = strictHeaders('POST', target, writer, { 'X-Ell-Date': now() });
    assert.equal((await p.request(target, { method: 'POST', body: 'x', headers: noHash })).status, 403);
    const plain = await p.request(target, { method: 'POST', body: 'x', as: writer });
    assert.equal(plain.status, 403, 'plain riftv1 is refused on a strict bucket');
    const get = '/get/strict/a.txt';
    assert.equal((await p.request(get, { as: reader })).status, 403, 'a signed read needs the date');
    assert.equal((await p.request(get, { headers: strictHeaders('GET', get, reader, { 'X-Ell-Date': now() }) })).status, 200);
    assert.equal((await p.request(get)).status, 200, '"*" reads without a signature');
  });

  it('plain riftv1 keeps working on a bucket that is not strict', async () => {
    const r = await p.request('/upload/b1/plain.txt', { method: 'POST', body: 'old client', as: writer });
    assert.equal(r.status, 200);
  });

  it('backrunner sign --strict --body-file prints the header lines a client sends', async () => {
    const file = path.join(tc.root, 'signed-body.bin');
    writeFileSync(file, 'signed by the CLI');
    const tokenFile = path.join(tc.root, 'writer.token');
    writeFileSync(tokenFile, `${writer.token}\n`);
    const url = `http://127.0.0.1:${p.port}/upload/strict/cli.txt`;
    const out = await new Promise<string>((resolve, reject) =>
      execFile(BIN, ['sign', '--strict', '--body-file', file, '--user', 'writer', '--token-file', tokenFile, 'POST', url], (err, stdout) => (err ? reject(err) : resolve(stdout))),
    );
    const headers = Object.fromEntries(out.trim().split('\n').map((l) => [l.slice(0, l.indexOf(':')), l.slice(l.indexOf(':') + 1).trim()]));
    assert.deepEqual(Object.keys(headers), ['Authorization', 'X-Ell-Date', 'X-Ell-Content-SHA256']);
    assert.equal(headers['X-Ell-Content-SHA256'], sha256('signed by the CLI'));
    const r = await p.request('/upload/strict/cli.txt', { method: 'POST', body: 'signed by the CLI', headers });
    assert.equal(r.status, 200, r.body.toString());
  });

  it('proxy.strict-signatures makes every bucket strict', async () => {
    const strictProxy = await startProxy(tc, { proxy: { 'strict-signatures': true } });
    try {
      const target = '/upload/b1/everywhere.txt';
      assert.equal((await strictProxy.request(target, { method: 'POST', body: 'x', as: writer })).status, 403);
      const r = await strictProxy.request(target, { method: 'POST', body: 'x', headers: strictHeaders('POST', target, writer, { 'X-Ell-Date': now(), 'X-Ell-Content-SHA256': sha256('x') }) });
      assert.equal(r.status, 200);
    } finally {
      await strictProxy.stop();
    }
  });
});
