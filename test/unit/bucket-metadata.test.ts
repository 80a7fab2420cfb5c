// Bucket metadata: the stored msgpack bytes, validation, definitions, bucket lists.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { splitFrames, IO_ATTR_SIZE } from '../../src/elliptics/protocol/index.js';
import { decodeBucketMeta, describeBucket, encodeBucketMeta, BucketMetaError, type BucketMeta } from '../../src/buckets/metadata.js';
import { parseBucketDefinitions } from '../../src/buckets/definitions.js';
import { parseBucketList } from '../../src/buckets/metadata-store.js';
import { fixture } from '../helpers/fixtures.js';

const hex = (s: string) => Buffer.from(s.replace(/\s+/g, ''), 'hex');
const str = (s: string) => (s.length < 32 ? (0xa0 | s.length).toString(16) : `d9${s.length.toString(16).padStart(2, '0')}`) + Buffer.from(s).toString('hex');

function b1(): BucketMeta {
  return {
    version: 1,
    name: 'b1',
    acl: new Map([
      ['*', { version: 2, user: '*', token: 'secure unused wildcard token', flags: 1n }],
      ['writer', { version: 2, user: 'writer', token: 'secure token', flags: 2n }],
    ]),
    groups: [1, 2],
    flags: 0n,
    maxSize: 0,
    maxKeyNum: 0,
  };
}

test('a bucket is written as the Go original writes it: compact integers, str strings', () => {
  // Built by hand from the msgpack spec, independently of the encoder under test.
  const expected = hex(
    '9a' + '01' + str('b1') + '82' +
      str('*') + '94' + '02' + str('*') + str('secure unused wildcard token') + '01' +
      str('writer') + '94' + '02' + str('writer') + str('secure token') + '02' +
      '92 01 02' + '00 00 00' + '00 00 00',
  );
  assert.deepEqual(encodeBucketMeta(b1()), expected);
});

test('integers above 2^32 are uint64 (cf), never float or signed', () => {
  const m = { ...b1(), acl: new Map(), maxSize: 5_000_000_000, flags: 1n << 63n, groups: [4294967295] };
  const bytes = encodeBucketMeta(m);
  assert.ok(bytes.includes(hex('cf 00000001 2a05f200')), '5e9 as uint64');
  assert.ok(bytes.includes(hex('cf 8000000000000000')));
  assert.ok(bytes.includes(hex('91 ce ffffffff')));
  assert.deepEqual(decodeBucketMeta('b1', bytes), m);
});

test('the records the lab stored (fixed-width d2 / ce / cf integers) decode', () => {
  const frames = splitFrames(fixture('captures', '20-backrunner-go-startup.conn1.s2c.bin')).filter((f) => f.header.cmd === 5 && f.payload.length > IO_ATTR_SIZE);
  const metas = frames.map((f, i) => decodeBucketMeta(`b${i + 1}`, f.payload.subarray(IO_ATTR_SIZE)));
  assert.deepEqual(metas.map((m) => [m.name, m.groups, [...m.acl.keys()].sort(), m.acl.get('lab')!.flags]), [
    ['b1', [1, 2], ['*', 'lab', 'writer'], 3n],
    ['b2', [3, 4], ['*', 'lab', 'writer'], 3n],
    ['b3', [5, 6], ['*', 'lab', 'writer'], 3n],
  ]);
  assert.equal(metas[0]!.acl.get('writer')!.token, 'secure token');
  // Written back compactly, it decodes to the same bucket.
  assert.deepEqual(decodeBucketMeta('b1', encodeBucketMeta(metas[0]!)), metas[0]);
});

const bad: [string, string, RegExp][] = [
  ['fewer than 10 elements', '99 01 a2 6231 80 90 00 00 00 00 00', /bucket b1: record: must have 10 elements, has 9/],
  ['version 2', '9a 02 a2 6231 80 90 00 00 00 00 00 00', /bucket b1: version: must be 1, is 2/],
  ['a name that is not a string', '9a 01 01 80 90 00 00 00 00 00 00', /bucket b1: name: must be a string/],
  ['an ACL that is not a map', '9a 01 a2 6231 90 90 00 00 00 00 00 00', /bucket b1: acl: must be a map/],
  ['an ACL token that is not a string', '9a 01 a2 6231 81 a1 2a 94 02 a1 2a 07 01 90 00 00 00 00 00 00', /bucket b1: acl\["\*"\]\.token: must be a string/],
  ['ACL flags that are negative', '9a 01 a2 6231 81 a1 2a 94 02 a1 2a a0 ff 90 00 00 00 00 00 00', /bucket b1: acl\["\*"\]\.flags: must be an unsigned integer/],
  ['groups that are not an array', '9a 01 a2 6231 80 01 00 00 00 00 00 00', /bucket b1: groups: must be an array/],
  ['group 0', '9a 01 a2 6231 80 91 00 00 00 00 00 00 00', /bucket b1: groups\[0\]: must be a group id/],
  ['flags that are a string', '9a 01 a2 6231 80 90 a1 78 00 00 00 00 00', /bucket b1: flags: must be an unsigned integer/],
  ['garbage', 'c1 c1 c1', /bucket b1: record: not valid msgpack/],
];
for (const [what, bytes, message] of bad) {
  test(`a stored record with ${what} is refused naming the bucket and the field`, () => {
    assert.throws(() => decodeBucketMeta('b1', hex(bytes)), (e: Error) => e instanceof BucketMetaError && message.test(e.message));
  });
}

test('nil ACL and nil groups read as empty (the bucket is then refused for I/O by the proxy)', () => {
  const m = decodeBucketMeta('b1', hex('9a 01 a2 6231 c0 c0 00 00 00 00 00 00'));
  assert.equal(m.acl.size, 0);
  assert.deepEqual(m.groups, []);
});

test('definitions: generic template, groups appended, ACL overlaid per bucket, nothing leaks between buckets', () => {
  const metas = parseBucketDefinitions(JSON.parse(fixture('bucket_create.json').toString()));
  const by = new Map(metas.map((m) => [m.name, m]));
  assert.deepEqual(by.get('b1')!.groups, [1, 2]);
  assert.deepEqual([...by.get('b1')!.acl.keys()], ['*', 'writer']);
  assert.deepEqual([...by.get('b2')!.acl.keys()], ['*', 'writer', 'reader']);
  assert.equal(by.get('b3')!.acl.get('writer')!.token, 'b3 writer token');
  assert.equal(by.get('b3')!.acl.get('writer')!.flags, 3n);
  assert.equal(by.get('b1')!.acl.get('writer')!.token, 'secure token', "b3's writer did not leak into b1");
  assert.equal(by.get('b3')!.acl.has('reader'), false, "b2's reader did not leak into b3");
  assert.equal(by.get('b3')!.maxSize, 5_000_000_000);
  assert.ok(metas.every((m) => m.version === 1 && [...m.acl.values()].every((e) => e.version === 2)));
});

const badDefs: [string, unknown, RegExp][] = [
  ['no buckets section', { generic: {} }, /^buckets: there is no 'buckets' section/],
  ['an ACL entry without token', { buckets: { b9: { groups: [1], acl: [{ user: 'x', flags: 2 }] } } }, /^buckets\.b9\.acl\[0\]\.token: must be a string/],
  ['an ACL entry with string flags', { buckets: { b9: { groups: [1], acl: [{ user: 'x', token: 't', flags: '2' }] } } }, /^buckets\.b9\.acl\[0\]\.flags: must be a non-negative integer/],
  ['a user name with a colon', { buckets: { b9: { groups: [1], acl: [{ user: 'a:b', token: 't', flags: 2 }] } } }, /^buckets\.b9\.acl\[0\]\.user: cannot contain/],
  ['a bucket without groups', { buckets: { b9: {} } }, /^buckets\.b9\.groups: a bucket needs at least one group/],
  ['a group given twice', { buckets: { b9: { groups: [1, 1] } } }, /^buckets\.b9\.groups: lists a group twice/],
  ['a generic error', { generic: { acl: [{ user: '*' }] }, buckets: { b9: { groups: [1] } } }, /^generic\.acl\[0\]\.token: must be a string/],
];
for (const [what, doc, message] of badDefs) {
  test(`definitions with ${what} fail naming the bucket and the field`, () => {
    assert.throws(() => parseBucketDefinitions(doc), (e: Error) => message.test(e.message));
  });
}

test('the description line masks tokens', () => {
  const line = describeBucket(b1());
  assert.equal(line, 'b1: version: 1, groups: [1 2], acl: [*:****:0x1 writer:****:0x2], flags: 0x0, max-size: 0, max-key-num: 0');
  assert.doesNotMatch(line, /secure/);
});

test('bucket lists: trimmed lines, comments and blank lines skipped, CRLF tolerated, duplicates dropped', () => {
  assert.deepEqual(parseBucketList('b1\r\n  b2  \n# retired: b0\n\nb1\nb3'), ['b1', 'b2', 'b3']);
});
