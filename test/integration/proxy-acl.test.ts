// The ACL truth table over HTTP: users `*` (flags 1), reader (0), writer (2), writer without token
// (3) and an unknown user × upload, get, lookup, redirect, delete, bulk_delete × no, wrong and right
// signature. A refusal is a bare 403 that reveals nothing.

import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startTestCluster, type TestCluster } from '../helpers/cluster.js';
import { authorization, oddBuckets, startProxy, type TestProxy } from '../helpers/proxy.js';

type Sig = 'none' | 'wrong' | 'right';
type Op = 'upload' | 'get' | 'lookup' | 'redirect' | 'delete' | 'bulk_delete';

const USERS: Record<string, { token: string; flags: number | undefined }> = {
  '*': { token: '', flags: 1 },
  reader: { token: 'reader token', flags: 0 },
  writer: { token: 'writer token', flags: 2 },
  free: { token: 'free token', flags: 3 },
  stranger: { token: 'whatever', flags: undefined },
};

const WRITE_OPS: Op[] = ['upload', 'delete', 'bulk_delete'];

/** What the rules of spec §6.3 (with DESIGN §4.3) say should happen. */
function expected(user: string, op: Op, sig: Sig): 'allowed' | 'forbidden' {
  const u = USERS[user]!;
  if (u.flags === undefined) return 'forbidden';
  if (WRITE_OPS.includes(op) && (u.flags & 2) === 0) return 'forbidden';
  if (u.flags & 1) return 'allowed'; // no-token users: any signature, or none
  return sig === 'right' ? 'allowed' : 'forbidden';
}

describe('ACL over HTTP', () => {
  let tc: TestCluster;
  let p: TestProxy;

  before(async () => {
    tc = await startTestCluster();
    p = await startProxy(tc, { extraBuckets: oddBuckets, proxy: { 'redirect-port': 8080, 'redirect-token': 'redirect token' } });
    const w = await p.request('/upload/b1/acl-object', { method: 'POST', body: 'payload', as: { user: 'writer', token: 'writer token' } });
    assert.equal(w.status, 200);
  });

  after(async () => {
    await p?.stop();
    await tc.close();
  });

  it('every user × operation × signature gets exactly what the ACL allows', async () => {
    let n = 0;
    for (const user of Object.keys(USERS)) {
      for (const op of ['upload', 'get', 'lookup', 'redirect', 'delete', 'bulk_delete'] as Op[]) {
        for (const sig of ['none', 'wrong', 'right'] as Sig[]) {
          const key = `acl-${n++}`;
          // Something to read or delete, written by the writer.
          if (op !== 'upload') assert.equal((await p.request(`/upload/b1/${key}`, { method: 'POST', body: 'x', as: { user: 'writer', token: 'writer token' } })).status, 200);
          const [method, target, body] =
            op === 'upload' ? ['POST', `/upload/b1/${key}`, 'data']
            : op === 'delete' ? ['POST', `/delete/b1/${key}`, undefined]
            : op === 'bulk_delete' ? ['POST', '/bulk_delete/b1', JSON.stringify({ keys: [key] })]
            : ['GET', `/${op}/b1/${key}`, undefined];
          const headers: Record<string, string> = {};
          if (user !== '*' || sig !== 'none') {
            if (sig === 'none') headers.Authorization = `riftv1 ${user}:`;
            else headers.Authorization = authorization(method, target, user, sig === 'right' ? USERS[user]!.token : 'not the token');
          }
          const r = await p.request(target, { method, body, headers });
          const want = expected(user, op, sig);
          const what = `${user} ${op} ${sig}-signature → ${r.status} ${r.body.toString().slice(0, 80)}`;
          if (want === 'forbidden') {
            assert.equal(r.status, 403, what);
            assert.equal(r.body.toString(), `url: ${target}: error status: 403, returned data: 'forbidden'\n`, what);
          } else {
            assert.ok([200, 302].includes(r.status), what);
          }
        }
      }
    }
  });

  it('a bucket with an empty ACL allows nobody, not even anonymous readers', async () => {
    assert.equal((await p.request('/get/closed/x')).status, 403);
    assert.equal((await p.request('/upload/closed/x', { method: 'POST', body: 'x', as: { user: 'writer', token: 'writer token' } })).status, 403);
  });

  it('malformed Authorization headers are the anonymous user', async () => {
    for (const h of ['riftv1', 'riftv1 writer', 'riftv1 a:b:c', 'Bearer x y', 'riftv1  writer:abc']) {
      assert.equal((await p.request('/get/b1/acl-object', { headers: { Authorization: h } })).status, 200, `${h}: anonymous may read`);
      assert.equal((await p.request('/upload/b1/m', { method: 'POST', body: 'x', headers: { Authorization: h } })).status, 403, `${h}: anonymous may not write`);
    }
  });

  it('the signature covers the query and the X-Ell-* headers', async () => {
    const target = '/get/b2/none?offset=1';
    const good = authorization('GET', target, 'reader', 'reader token', { 'X-Ell-Extra': 'v' });
    assert.equal((await p.request(target, { headers: { Authorization: good, 'X-Ell-Extra': 'v' } })).status, 404, 'signature fine, object missing');
    assert.equal((await p.request(target, { headers: { Authorization: good, 'X-Ell-Extra': 'changed' } })).status, 403);
    assert.equal((await p.request('/get/b2/none?offset=2', { headers: { Authorization: good, 'X-Ell-Extra': 'v' } })).status, 403);
  });
});
