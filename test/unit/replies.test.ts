// Reply bodies: the string builders on the upload/lookup path must be byte-identical to the
// object-tree encoding of the original's structs (the reference model below, goJson-encoded).

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { goJson, goTimeString, lookupResultJson, uploadReplyJson } from '../../src/proxy/replies.js';
import { idToHex } from '../../src/elliptics/protocol/key.js';
import { EllipticsError } from '../../src/elliptics/errors.js';
import type { GroupResult } from '../../src/elliptics/group-result.js';
import { formatAddr, makeAddr } from '../../src/elliptics/protocol/addr.js';

const ZERO_CSUM = '0'.repeat(128);

// The original's reply structs, field by field (spec backrunner.md §4).
interface ServerResult {
  group: number;
  backend: number;
  id: string;
  csum: string;
  filename: string;
  size: number;
  'offset-within-data-file': number;
  mtime: string;
  server: string;
  error: { Code: number; Flags: number; Message: string } | null;
}

interface LookupResult {
  info: ServerResult[];
  'success-groups': number[];
  'error-groups': number[];
}

function serverResult(r: GroupResult, id: Buffer): ServerResult {
  if (r.status !== 0 || !r.info) {
    return {
      group: r.group, backend: r.backendId, id: '', csum: '', filename: '', size: 0, 'offset-within-data-file': 0, mtime: '', server: '',
      error: { Code: r.status || -22, Flags: 0, Message: r.error?.message ?? 'failed' },
    };
  }
  return {
    group: r.group,
    backend: r.backendId,
    id: idToHex(id),
    csum: r.info.checksum.every((b) => b === 0) ? ZERO_CSUM : r.info.checksum.toString('hex'),
    filename: r.info.path,
    size: r.info.size,
    'offset-within-data-file': r.info.offset,
    mtime: goTimeString(r.info.mtime.sec, r.info.mtime.nsec),
    server: r.storage ? formatAddr(r.storage) : r.address,
    error: null,
  };
}

function lookupResult(results: readonly GroupResult[], id: Buffer): LookupResult {
  return {
    info: results.map((r) => serverResult(r, id)),
    'success-groups': results.filter((r) => r.status === 0).map((r) => r.group),
    'error-groups': results.filter((r) => r.status !== 0).map((r) => r.group),
  };
}

const id = Buffer.alloc(64, 0xab);

function ok(group: number, path: string, mtime = { sec: 1_700_000_000, nsec: 123_000 }, checksum = Buffer.alloc(64)): GroupResult {
  return {
    group, backendId: group * 10, address: `127.0.0.1:${1024 + group}:2`, status: 0, error: undefined, micros: 5,
    info: { checksum, recordFlags: 0, size: 4096, offset: 72 + group, mtime, path },
    storage: group % 2 === 0 ? makeAddr("127.0.0.1", 2000 + group) : undefined,
  };
}

function failed(group: number, status: number, message: string): GroupResult {
  return { group, backendId: 0, address: '127.0.0.1:1:2', status, error: new EllipticsError(status, message), info: undefined, storage: undefined, micros: 1 };
}

const cases: Record<string, GroupResult[]> = {
  'two replicas': [ok(1, '/data/1/data-0.0'), ok(2, '/data/2/data-0.0')],
  'no results': [],
  'one failure among successes': [ok(1, '/d/a'), failed(2, -110, 'timed out <after> 3 s & more'), ok(3, '/d/b', { sec: 5, nsec: 0 }, Buffer.alloc(64, 7))],
  'all failed, one without an error object': [failed(4, -2, 'not found'), { ...failed(5, 0, ''), status: -5, error: undefined }],
  'paths and keys needing escapes': [ok(1, '/d/<x>&\u2028"quoted"\\')],
  'a result marked ok without info': [{ ...ok(1, '/x'), info: undefined }],
};

for (const [name, results] of Object.entries(cases)) {
  test(`lookup reply built as a string equals the encoded structs: ${name}`, () => {
    assert.equal(lookupResultJson(results, id), goJson(lookupResult(results, id)));
  });
  test(`upload reply built as a string equals the encoded structs: ${name}`, () => {
    const bucket = 'b<1>';
    const key = 'dir/ключ&\u2029.jpg';
    assert.equal(uploadReplyJson(bucket, key, results, id), goJson({ bucket, key, reply: lookupResult(results, id) }));
    assert.doesNotThrow(() => JSON.parse(uploadReplyJson(bucket, key, results, id)));
  });
}

test('goTimeString gives each distinct time its own text (the last-answer cache never leaks)', () => {
  const a = goTimeString(1_700_000_000, 1);
  const b = goTimeString(1_700_000_000, 2);
  const c = goTimeString(1_700_000_001, 1);
  assert.notEqual(a, b);
  assert.notEqual(a, c);
  assert.equal(goTimeString(1_700_000_000, 1), a);
  assert.match(a, /^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.000000001 [+-]\d{4} \S+$/);
});
