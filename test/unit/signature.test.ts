// riftv1 signatures: every test vector of the spec, plus the ACL rules.

import { describe, it, test } from 'node:test';
import assert from 'node:assert/strict';
import { canonicalText, formUnescape, percentDecode, requestDateProblem, sign, signatureMatches } from '../../src/buckets/signature.js';
import { checkAccess, parseAuthorization } from '../../src/buckets/acl.js';
import type { BucketMeta } from '../../src/buckets/metadata.js';

const vectors = [
  {
    token: 'secure token', method: 'POST', signPath: '/upload/b1/test.txt', rawQuery: '', headers: [] as [string, string][],
    text: 'POST\n/upload/b1/test.txt\n',
    sig: '42f042d5a7b6ff309bfb90e44d3d36414a2522d4e3f50cbb8698827b1fc649bb4067c7ee76b49e37371ed914f40354064fbae4b01af3ee8bc97fb68cdff06f60',
  },
  {
    token: 'secure token', method: 'GET', signPath: '/get/b1/test.txt', rawQuery: 'size=100&offset=10&empty=&flag',
    headers: [['X-Ell-Foo', 'bar'], ['x-ell-abc', '1'], ['Content-Type', 'x']] as [string, string][],
    text: 'GET\n/get/b1/test.txt?offset=10&size=100\nx-ell-abc:1\nx-ell-foo:bar\n',
    sig: '30d7877c34c75f2623a5ed1c280c9044da3e86f9318d949029e1275244008ec63b848cecfb966eac6f72459a926e442e3014232d93ec90db48d14fde7dfc90e7',
  },
  {
    token: 'k', method: 'GET', signPath: '/get/b1/some+another key/z', rawQuery: 'a=b+c&z=%21', headers: [] as [string, string][],
    text: 'GET\n/get/b1/some+another key/z?a=b+c&z=%21\n',
    sig: '8b4f59199e579a6fe03851698de2b66c556ceb7390a11adf0e01924c185d0b6a9ebd0f0e54935eb70c8a96e19756752d3be38be4628311f7ca3e50a8266a7021',
  },
  {
    token: 'k', method: 'GET', signPath: '/get/b1/k', rawQuery: 'flag', headers: [] as [string, string][],
    text: 'GET\n/get/b1/k?\n',
    sig: '1a6638de9198194cdbeb29cbf694313a890e67e83c89ba3d98f65af0e166f26bb2251bb5dda2a1bf4830e7560962c63918ea33f5b3e06f1709b61eee7314d056',
  },
  {
    // The redirect signature (spec §7): configured X-Ell-* headers are signed, others are not.
    token: 'secure token to sign redirect request', method: 'GET', signPath: '/2/data/data-0.12:4196:100', rawQuery: '',
    headers: [['X-Ell-Some-Header', 'this is a header data'], ['Access-Control-Allow-Origin', '*'], ['X-Ell-Mtime', '1445530000'], ['X-Ell-Signtime', '1445531000'],
      ['X-Ell-Signature-Timeout', '60'], ['X-Ell-File-Offset', '4096'], ['X-Ell-Total-Size', '196'], ['X-Ell-File', '/2/data/data-0.12']] as [string, string][],
    text: 'GET\n/2/data/data-0.12:4196:100\nx-ell-file:/2/data/data-0.12\nx-ell-file-offset:4096\nx-ell-mtime:1445530000\nx-ell-signature-timeout:60\nx-ell-signtime:1445531000\nx-ell-some-header:this is a header data\nx-ell-total-size:196\n',
    sig: '589baf5e06f282e37584f5129ad6e819a379b4111b89a0ee47a7cddbec3a95c517d4d63773716713bf41e11ebfeb9ef843d352582b44c7cc8082c3e31b91aa8e',
  },
];

vectors.forEach((v, i) => {
  test(`signature test vector ${i + 1}: canonical text and HMAC-SHA512`, () => {
    assert.equal(canonicalText(v), v.text);
    assert.equal(sign(v.token, v), v.sig);
  });
});

test('signatures compare in constant time, case-insensitively, and never match on another length', () => {
  const s = vectors[0]!.sig;
  assert.equal(signatureMatches(s, s), true);
  assert.equal(signatureMatches(s.toUpperCase(), s), true);
  assert.equal(signatureMatches(s.slice(0, -1), s), false);
  assert.equal(signatureMatches(`${s.slice(0, -1)}0`, s), s.endsWith('0'));
});

test('Authorization parsing: anything but "scheme user:sig" is the anonymous user', () => {
  assert.deepEqual(parseAuthorization('riftv1 writer:abc'), { user: 'writer', signature: 'abc' });
  assert.deepEqual(parseAuthorization(undefined), { user: '*', signature: undefined });
  assert.deepEqual(parseAuthorization('riftv1writer:abc'), { user: '*', signature: undefined });
  assert.deepEqual(parseAuthorization('riftv1 writer'), { user: '*', signature: undefined });
  assert.deepEqual(parseAuthorization('riftv1 a:b:c'), { user: '*', signature: undefined });
  assert.deepEqual(parseAuthorization('a b c'), { user: '*', signature: undefined });
});

const bucket = (acl: [string, string, bigint][]): BucketMeta => ({
  version: 1, name: 'b1', groups: [1], flags: 0n, maxSize: 0, maxKeyNum: 0,
  acl: new Map(acl.map(([user, token, flags]) => [user, { version: 2, user, token, flags }])),
});

test('ACL truth table: open reads, signed writes, no-token writers, unknown users, empty ACLs', () => {
  const b = bucket([['*', '', 1n], ['reader', 'rt', 0n], ['writer', 'wt', 2n], ['free', '', 3n]]);
  const req = { method: 'POST', signPath: '/upload/b1/k', rawQuery: '', headers: [] };
  const signed = (user: string, token: string) => ({ user, signature: sign(token, req) });
  const cases: [string, ReturnType<typeof parseAuthorization>, 'read' | 'write', boolean][] = [
    ['anonymous read', { user: '*', signature: undefined }, 'read', true],
    ['anonymous write', { user: '*', signature: undefined }, 'write', false],
    ['reader, right signature, read', signed('reader', 'rt'), 'read', true],
    ['reader, right signature, write', signed('reader', 'rt'), 'write', false],
    ['reader, wrong signature, read', signed('reader', 'xx'), 'read', false],
    ['reader, no signature', { user: 'reader', signature: undefined }, 'read', false],
    ['writer, right signature, write', signed('writer', 'wt'), 'write', true],
    ['writer, right signature, read', signed('writer', 'wt'), 'read', true],
    ['writer, wrong signature', signed('writer', 'rt'), 'write', false],
    ['writer without token check, garbage signature', { user: 'free', signature: 'garbage' }, 'write', true],
    ['unknown user', signed('nobody', 'wt'), 'read', false],
  ];
  for (const [what, caller, access, allowed] of cases) {
    assert.equal(checkAccess(b, caller, access, req).allowed, allowed, what);
  }
  assert.equal(checkAccess(bucket([]), { user: '*', signature: undefined }, 'read', req).allowed, false, 'an empty ACL allows nothing');
  const reason = checkAccess(b, signed('writer', 'rt'), 'write', req).reason;
  assert.doesNotMatch(reason, /wt|rt|[0-9a-f]{64}/, 'no token or signature in the reason');
});

test('percentDecode / formUnescape: %XX to UTF-8, characters kept whole (beyond the BMP too), bad escapes refused', () => {
  assert.equal(percentDecode('d%C3%A9j%C3%A0'), 'déjà');
  assert.equal(percentDecode('a😀%20b+c'), 'a😀 b+c');
  assert.equal(percentDecode('é%F0%9F%98%80'), 'é😀');
  assert.equal(percentDecode('100%'), undefined);
  assert.equal(percentDecode('%zz'), undefined);
  assert.equal(formUnescape('a+b%2Bc'), 'a b+c');
});

describe('strict signatures: X-Ell-Date', () => {
  const at = Date.UTC(2026, 10, 30, 12, 0, 0);
  it('accepts Unix seconds and HTTP / ISO dates within the skew, either side', () => {
    assert.equal(requestDateProblem([['X-Ell-Date', String(at / 1000 - 299)]], 300, at), undefined);
    assert.equal(requestDateProblem([['x-ell-date', String(at / 1000 + 299)]], 300, at), undefined);
    assert.equal(requestDateProblem([['X-Ell-Date', new Date(at - 10_000).toUTCString()]], 300, at), undefined);
    assert.equal(requestDateProblem([['X-Ell-Date', new Date(at + 10_000).toISOString()]], 300, at), undefined);
  });
  it('refuses a missing, unparsable or out-of-window date, saying which', () => {
    assert.match(requestDateProblem([], 300, at)!, /missing/);
    assert.match(requestDateProblem([['X-Ell-Date', 'yesterday-ish']], 300, at)!, /not a date/);
    assert.match(requestDateProblem([['X-Ell-Date', String(at / 1000 - 301)]], 300, at)!, /301 s away from now \(allowed: 300 s\)/);
    assert.match(requestDateProblem([['X-Ell-Date', String(at / 1000 + 3600)]], 300, at)!, /3600 s away/);
  });
});
