// Reads of the embedded node taken from its blob files (FlagsHigh.LOCATE, src/elliptics/local-files.ts):
// used by GETs of `npm start`'s deployment, right byte for byte, and still right while the object is
// overwritten, removed, or moved by a compaction under the reader — each of those races run for
// real against a reader loop. Bytes that differ from every acknowledged version are never served;
// a descriptor of a compacted-away file is not held. Windows the node has just read (to verify
// them: FlagsHigh.WARM) are read on the event loop, the others through the thread pool. Windows the
// node let a reader keep (FlagsHigh.KEEP) are read again without asking it, and never once another
// worker overwrote or removed the key, also after a compaction moved the record.

import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import { readdirSync, readlinkSync } from 'node:fs';
import { startEmbeddedProxy, type EmbeddedProxy } from '../helpers/embedded-proxy.js';
import { authorization } from '../helpers/proxy.js';
import { defragAll } from '../helpers/defrag.js';
import { KeepAliveClient } from '../helpers/keep-alive.js';
import path from 'node:path';
import { Session, type Cluster } from '../../src/elliptics/index.js';
import { LocalFiles } from '../../src/elliptics/local-files.js';
import { Errno, IoFlags, KEEP_SECONDS, keyToId } from '../../src/elliptics/protocol/index.js';
import type { StorageNode } from '../../src/storage-node/node.js';
import { startNode, tempDir, type NodeSpec } from '../helpers/nodes.js';
import { connectTo } from '../helpers/cluster.js';

const WRITER = { user: 'writer', token: 'change this writer token' };
const MIB = 1024 * 1024;

/** Version `v` of an object: every 8-byte word says which version and where, so a mix-up shows. */
function versionBody(v: number, size: number): Buffer {
  const b = Buffer.alloc(size);
  for (let at = 0; at + 8 <= size; at += 8) {
    b.writeUInt32LE(v, at);
    b.writeUInt32LE(at, at + 4);
  }
  return b;
}

interface Got {
  status: number;
  body: Buffer;
  /** The stream ended short of its Content-Length (cut on purpose: the object changed under it). */
  cut: boolean;
}

function call(port: number, method: string, target: string, body?: Buffer, headers: Record<string, string> = {}): Promise<Got> {
  return new Promise((resolve, reject) => {
    const auth = method === 'GET' ? {} : { Authorization: authorization(method, target, WRITER.user, WRITER.token) };
    const req = http.request({ host: '127.0.0.1', port, method, path: target, agent: false, headers: { ...auth, ...headers } }, (res) => {
      const parts: Buffer[] = [];
      res.on('data', (c: Buffer) => parts.push(c));
      res.on('end', () => {
        const body = Buffer.concat(parts);
        resolve({ status: res.statusCode!, body, cut: res.headers['content-length'] !== undefined && Number(res.headers['content-length']) !== body.length });
      });
      res.on('aborted', () => resolve({ status: res.statusCode!, body: Buffer.concat(parts), cut: true }));
      res.on('error', () => resolve({ status: res.statusCode!, body: Buffer.concat(parts), cut: true }));
    });
    req.on('error', reject);
    req.end(body);
  });
}

/** The version a body claims to be, if every word of it agrees (undefined: torn or foreign bytes). */
function wholeVersion(body: Buffer, offset = 0): number | undefined {
  if (body.length < 8) return undefined;
  const skip = (8 - (offset % 8)) % 8;
  const v = body.readUInt32LE(skip);
  for (let at = skip; at + 8 <= body.length; at += 8) {
    if (body.readUInt32LE(at) !== v || body.readUInt32LE(at + 4) !== offset + at) return undefined;
  }
  return v;
}

async function localStats(port: number): Promise<{ served: number; missed: number }> {
  // Each worker reports once a second, the primary passes the sums on once a second.
  await new Promise((r) => setTimeout(r, 2500));
  const stat = JSON.parse((await call(port, 'GET', '/stat/')).body.toString()) as { Status: { Workers: { LocalReads: number; LocalMisses: number }[] } };
  return stat.Status.Workers.reduce((a, w) => ({ served: a.served + w.LocalReads, missed: a.missed + w.LocalMisses }), { served: 0, missed: 0 });
}

/** Readers GET `key` until `done`; every answer must be a whole acknowledged version, a 404 where allowed, or a cut stream. */
async function readLoop(port: number, key: string, done: () => boolean, allow404: boolean, range?: [number, number]): Promise<{ reads: number; cuts: number; misses: number; versions: Set<number> }> {
  const seen = { reads: 0, cuts: 0, misses: 0, versions: new Set<number>() };
  while (!done()) {
    const r = await call(port, 'GET', `/get/b1/${key}`, undefined, range ? { Range: `bytes=${range[0]}-${range[1]}` } : {});
    seen.reads++;
    if (r.status === 404 && allow404) {
      seen.misses++;
      continue;
    }
    // A range is read after the object's size was learnt: overwritten in between, the client is asked to retry.
    // A version shorter than the range: 416, as it should.
    if (range && r.status === 416) continue;
    if (range && r.status === 503 && r.body.includes('the object changed while it was read')) {
      seen.cuts++;
      continue;
    }
    assert.ok(r.status === 200 || r.status === 206, `GET ${key} answered ${r.status}: ${r.body.toString().slice(0, 200)}`);
    if (r.cut) {
      seen.cuts++;
      continue;
    }
    const v = wholeVersion(r.body, range?.[0] ?? 0);
    assert.notEqual(v, undefined, `GET ${key} returned ${r.body.length} bytes that are no single version`);
    seen.versions.add(v!);
  }
  return seen;
}

describe('reads from the embedded node\'s blob files', { timeout: 240_000 }, () => {
  let p: EmbeddedProxy;

  before(async () => {
    p = await startEmbeddedProxy((c) => {
      c.embedded!['defrag-timeout'] = 0;
      c.embedded!['blob-size'] = 8 * MIB;
    });
  });

  after(async () => {
    await p?.stop();
  });

  it('GETs, ranged GETs and HEADs are served from the files, byte for byte', async () => {
    const before = await localStats(p.port);
    // As clients do: every request of every size on ONE kept-alive connection, a HEAD, a 304 and a
    // 404 among them, so that a reply with a stray or missing byte breaks the next exchange.
    const c = await KeepAliveClient.connect(p.port);
    try {
      for (const size of [100, 100_000, 3 * MIB + 5]) {
        const body = versionBody(size, size);
        assert.equal((await call(p.port, 'POST', `/upload/b1/sizes-${size}`, body)).status, 200);
        const target = `/get/b1/sizes-${size}`;
        const head = await c.request({ method: 'HEAD', target });
        assert.deepEqual([head.status, head.headers['content-length'], head.body.length], [200, String(size), 0], `HEAD of ${size} bytes`);
        const whole = await c.request({ target });
        assert.equal(whole.status, 200);
        assert.ok(whole.body.equals(body), `GET of ${size} bytes`);
        const again = await c.request({ target, headers: { 'If-None-Match': whole.headers.etag! } });
        assert.deepEqual([again.status, again.body.length], [304, 0], `conditional GET of ${size} bytes`);
        const from = Math.floor(size / 3);
        const part = await c.request({ target, headers: { Range: `bytes=${from}-${Math.min(size - 1, from + 70_000)}` } });
        assert.equal(part.status, 206);
        assert.ok(part.body.equals(body.subarray(from, Math.min(size, from + 70_001))), `ranged GET of ${size} bytes`);
        assert.equal((await c.request({ target: `${target}-missing` })).status, 404);
      }
    } finally {
      c.close();
    }
    const after = await localStats(p.port);
    assert.ok(after.served - before.served >= 6, `reads served from the files: ${after.served - before.served}`);
    assert.equal(after.missed - before.missed, 0, 'no read needed the node after all');
    // Small windows (≤ 64 KiB) come back from the node with their bytes; read again within the
    // grant, from the file (FlagsHigh.KEEP; which worker takes a GET decides): never a miss.
    for (let i = 0; i < 3; i++) assert.ok((await call(p.port, 'GET', '/get/b1/sizes-100')).body.equals(versionBody(100, 100)));
    const small = await localStats(p.port);
    assert.ok(small.served - after.served <= 3 && small.missed === after.missed, `GETs of a 100-byte object: ${JSON.stringify({ after, small })}`);
  });

  it('while the object is overwritten again and again, every GET is one whole version', async () => {
    let writing = true;
    let version = 0;
    const writer = (async () => {
      while (version < 40) {
        version++;
        const size = (version % 3 === 0 ? 3 * MIB : version % 3 === 1 ? 700_000 : 40_000) + version * 8;
        assert.equal((await call(p.port, 'POST', '/upload/b1/overwritten', versionBody(version, size))).status, 200);
      }
      writing = false;
    })();
    assert.equal((await call(p.port, 'POST', '/upload/b1/overwritten', versionBody(0, 1000))).status, 200);
    const readers = await Promise.all([readLoop(p.port, 'overwritten', () => !writing, false), readLoop(p.port, 'overwritten', () => !writing, false, [600_000, 1_300_000])]);
    await writer;
    const versions = new Set(readers.flatMap((r) => [...r.versions]));
    assert.ok(versions.size >= 3, `the readers saw ${versions.size} versions`);
    const last = await call(p.port, 'GET', '/get/b1/overwritten');
    assert.equal(wholeVersion(last.body), 40, 'after the last overwrite, its version');
  });

  it('while the object is removed and written again, every GET is a whole version or a 404', async () => {
    let round = 0;
    let running = true;
    const churn = (async () => {
      for (round = 1; round <= 30; round++) {
        assert.equal((await call(p.port, 'POST', '/upload/b1/flicker', versionBody(round, 300_000 + round * 8))).status, 200);
        assert.equal((await call(p.port, 'POST', '/delete/b1/flicker')).status, 200);
      }
      running = false;
    })();
    const seen = await readLoop(p.port, 'flicker', () => !running, true);
    await churn;
    assert.ok(seen.misses > 0 && seen.versions.size > 0, `reads: ${seen.reads}, 404s: ${seen.misses}, versions: ${seen.versions.size}`);
    assert.equal((await call(p.port, 'GET', '/get/b1/flicker')).status, 404, 'deleted at the end');
  });

  it('while compactions move the records, every GET is right; the old files are not held open', async () => {
    // Records to move: half of them removed, so every blob has dead space.
    const keep = Array.from({ length: 24 }, (_, i) => i).filter((i) => i % 2 === 0);
    for (let i = 0; i < 24; i++) assert.equal((await call(p.port, 'POST', `/upload/b1/moving-${i}`, versionBody(1000 + i, 400_000 + i * 8))).status, 200);
    for (let i = 1; i < 24; i += 2) assert.equal((await call(p.port, 'POST', `/delete/b1/moving-${i}`)).status, 200);
    let compacting = true;
    const nodePort = Number(String(JSON.parse((await import('node:fs')).readFileSync(p.configFile, 'utf8')).embedded.address).split(':')[1]);
    const compactions = (async () => {
      for (let r = 0; r < 3; r++) {
        await defragAll(nodePort, [1, 2, 3, 4, 5, 6]);
        // New dead space for the next round: rewrite some of the kept ones.
        for (const i of keep.slice(0, 4)) assert.equal((await call(p.port, 'POST', `/upload/b1/moving-${i}`, versionBody(1000 + i, 400_000 + i * 8))).status, 200);
      }
      compacting = false;
    })();
    let reads = 0;
    while (compacting) {
      for (const i of keep) {
        const r = await call(p.port, 'GET', `/get/b1/moving-${i}`);
        assert.equal(r.status, 200, `GET moving-${i}`);
        if (r.cut) continue;
        assert.ok(r.body.equals(versionBody(1000 + i, 400_000 + i * 8)), `GET moving-${i} during a compaction returned other bytes`);
        reads++;
      }
    }
    await compactions;
    assert.ok(reads > 0);
    // Blob files removed or replaced by the compactions are let go within the sweep (5 s).
    await new Promise((r) => setTimeout(r, 7000));
    for (const pid of p.children('http-worker')) {
      const held = readdirSync(`/proc/${pid}/fd`).map((fd) => {
        try {
          return readlinkSync(`/proc/${pid}/fd/${fd}`);
        } catch {
          return '';
        }
      });
      const deleted = held.filter((f) => f.includes(p.dir) && f.endsWith('(deleted)'));
      assert.deepEqual(deleted, [], `worker ${pid} still holds deleted blob files`);
    }
  });
});

describe('warm windows are read on the event loop (FlagsHigh.WARM)', () => {
  const tmp = tempDir('backrunner-warm-reads-');
  const nodes: StorageNode[] = [];
  const clusters: Cluster[] = [];
  const files: LocalFiles[] = [];

  /** A node (verify-ttl `ttl`) and a session reading its files as the proxy's workers do. */
  async function reader(name: string, ttl?: number): Promise<{ session: Session; local: LocalFiles }> {
    const root = path.join(tmp.dir, name);
    const node = await startNode(root, { backends: [{ id: 1, group: 1 }], ...(ttl === undefined ? {} : { 'verify-ttl': ttl }) });
    nodes.push(node);
    const cluster = await connectTo('127.0.0.1', node.port, { poolSize: 1 });
    clusters.push(cluster);
    const local = new LocalFiles(root + path.sep);
    files.push(local);
    const localNode = cluster.route(1, keyToId('x', 'b')).pool.endpoint;
    return { session: new Session(cluster, { namespace: 'b', groups: [1], localNode, localFiles: local }), local };
  }

  after(async () => {
    for (const f of files) f.close();
    for (const c of clusters) c.close();
    for (const n of nodes) await n.stop();
    tmp.cleanup();
  });

  it('a window the node verified is read inline; one it did not read, or one too big, through the pool; the bytes right either way', async () => {
    const { session, local } = await reader('default');
    const body = versionBody(7, 3 * MIB + 5);
    await session.write('obj', body);
    const count = (): [number, number, number] => [local.served, local.inline, local.missed];
    const window = async (offset: number, size: number, ioFlags = 0): Promise<void> => {
      const r = await session.read('obj', { offset, size, ioFlags });
      assert.ok(r.data.equals(body.subarray(offset, offset + size)), `window ${offset}+${size}`);
      r.release();
    };

    // Not verified before: the node reads (verifies) it now, and says so.
    await window(0, MIB);
    assert.deepEqual(count(), [1, 1, 0]);
    // Verified a moment ago: still warm. From the middle of the data (header and window apart): the same.
    await window(0, MIB);
    await window(MIB + 3, MIB);
    assert.deepEqual(count(), [3, 3, 0]);
    // Without verification of a window nobody read: the node has not touched it, the pool reads it.
    await window(2 * MIB + 4, MIB, IoFlags.NOCSUM);
    assert.deepEqual(count(), [4, 3, 0]);
    // Warm, but more than the loop may copy at once (2 MiB): through the pool.
    await window(0, 3 * MIB + 5);
    assert.deepEqual(count(), [5, 3, 0]);

    // Overwritten (a new record elsewhere): the node locates the new one; no stale bytes inline either.
    const next = versionBody(8, 3 * MIB + 5);
    await session.write('obj', next);
    const r = await session.read('obj', { offset: 0, size: MIB });
    assert.ok(r.data.equals(next.subarray(0, MIB)));
    r.release();
    assert.deepEqual(count(), [6, 4, 0]);
  });

  it('with verify-ttl 0 every located window was just read by the node: inline', async () => {
    const { session, local } = await reader('ttl0', 0);
    const body = versionBody(9, 2 * MIB);
    await session.write('obj', body);
    for (let i = 0; i < 3; i++) {
      const r = await session.read('obj', { offset: 0, size: MIB });
      assert.ok(r.data.equals(body.subarray(0, MIB)));
      r.release();
    }
    assert.deepEqual([local.served, local.inline], [3, 3]);
  });
});

describe('kept windows are read again without asking the node (FlagsHigh.KEEP)', () => {
  const tmp = tempDir('backrunner-kept-reads-');
  const nodes: StorageNode[] = [];
  const clusters: Cluster[] = [];
  const files: LocalFiles[] = [];

  /** A session reading the files of `node` as a proxy worker does (each its own LocalFiles: another worker). */
  async function worker(node: StorageNode, root: string, sweepMs?: number): Promise<{ session: Session; local: LocalFiles }> {
    const cluster = await connectTo('127.0.0.1', node.port, { poolSize: 1 });
    clusters.push(cluster);
    const local = new LocalFiles(root + path.sep, sweepMs);
    files.push(local);
    const localNode = cluster.route(1, keyToId('x', 'b')).pool.endpoint;
    return { session: new Session(cluster, { namespace: 'b', groups: [1], localNode, localFiles: local }), local };
  }

  async function node(name: string, spec: Partial<NodeSpec> = {}): Promise<{ node: StorageNode; root: string }> {
    const root = path.join(tmp.dir, name);
    const n = await startNode(root, { backends: [{ id: 1, group: 1 }], ...spec });
    nodes.push(n);
    return { node: n, root };
  }

  /** The key's bytes as `w` reads them, and whether the node was asked (not a kept read). */
  async function readOf(w: { session: Session; local: LocalFiles }, key: string, offset = 0, size = 0): Promise<{ data: Buffer; kept: boolean }> {
    const before = w.local.keptReads;
    const r = await w.session.read(key, { offset, size });
    const data = Buffer.from(r.data);
    r.release();
    return { data, kept: w.local.keptReads > before };
  }

  /** Reads until one is kept (the file is opened in the background after the first answer). */
  async function keptOnce(w: { session: Session; local: LocalFiles }, key: string, offset = 0, size = 0): Promise<Buffer> {
    for (let i = 0; i < 50; i++) {
      const r = await readOf(w, key, offset, size);
      if (r.kept) return r.data;
      await new Promise((res) => setTimeout(res, 20));
    }
    throw new Error(`no read of ${key} was kept`);
  }

  after(async () => {
    for (const f of files) f.close();
    for (const c of clusters) c.close();
    for (const n of nodes) await n.stop();
    tmp.cleanup();
  });

  it('a window the node let the reader keep is read from the file again; the node is asked again once the grant ends', async () => {
    const { node: n, root } = await node('grant');
    const w = await worker(n, root);
    const small = versionBody(1, 4096);
    const large = versionBody(2, MIB + 40);
    await w.session.write('small', small);
    await w.session.write('large', large);
    assert.ok((await keptOnce(w, 'small')).equals(small));
    assert.ok((await keptOnce(w, 'large')).equals(large));
    assert.ok((await keptOnce(w, 'large', 100_000, 300_000)).equals(large.subarray(100_000, 400_000)), 'a window inside the object');
    const again = await readOf(w, 'small');
    assert.ok(again.kept && again.data.equals(small));
    // Without verification the node grants the keeping, but it did not read these bytes (not WARM):
    // they might come from the disk, and kept windows are read on the event loop — not kept.
    // (A window of up to 64 KiB the node reads and sends itself: that one is kept.)
    await w.session.write('cold', large);
    const before = w.local.keptReads;
    for (let i = 0; i < 3; i++) {
      const cold = await w.session.read('cold', { offset: 4096, size: 300_000, ioFlags: IoFlags.NOCSUM });
      assert.ok(cold.data.equals(large.subarray(4096, 4096 + 300_000)));
      cold.release();
    }
    assert.equal(w.local.keptReads, before, 'the unverified window was not kept');
    // The grant lasts KEEP_SECONDS: then the node is asked (and grants it again).
    await new Promise((res) => setTimeout(res, KEEP_SECONDS * 1000 + 200));
    const later = await readOf(w, 'small');
    assert.ok(!later.kept && later.data.equals(small), 'read through the node once the grant ended');
    assert.ok((await readOf(w, 'small')).kept);
  });

  it('another worker\'s overwrite or removal is seen by the next read, though the window was kept', async () => {
    const { node: n, root } = await node('changes');
    const reader = await worker(n, root);
    const writer = await worker(n, root);
    for (const [key, size] of [['s', 4096], ['l', 700_000]] as const) {
      await writer.session.write(key, versionBody(1, size));
      assert.ok((await keptOnce(reader, key)).equals(versionBody(1, size)));
      await writer.session.write(key, versionBody(2, size + 8));
      const next = await readOf(reader, key);
      assert.ok(!next.kept && next.data.equals(versionBody(2, size + 8)), `${key}: the overwrite, through the node`);
      assert.ok((await keptOnce(reader, key)).equals(versionBody(2, size + 8)), `${key}: the new version kept`);
      await writer.session.remove(key);
      await assert.rejects(reader.session.read(key), (e: { status?: number }) => e.status === Errno.ENOENT, `${key}: removed`);
    }
  });

  it('a window kept before a compaction is not read from the old file once the key changed in the new one', async () => {
    const { node: n, root } = await node('compaction', { backends: [{ id: 1, group: 1, 'defrag-timeout': 0 }] });
    // A long sweep: the reader still holds the old file's descriptor when it reads again.
    const reader = await worker(n, root, 600_000);
    const writer = await worker(n, root);
    await writer.session.write('moved', versionBody(1, 200_000));
    await writer.session.write('dead', versionBody(9, 300_000));
    await writer.session.remove('dead');
    assert.ok((await keptOnce(reader, 'moved')).equals(versionBody(1, 200_000)));
    await defragAll(n.port, [1]);
    // The record now lies in the compacted file renamed over the one the reader holds open; the
    // overwrite flags it there, and the reader's copy of the old file still has it live.
    await writer.session.write('moved', versionBody(2, 200_008));
    const after = await readOf(reader, 'moved');
    assert.ok(!after.kept, 'not served from the replaced file');
    assert.ok(after.data.equals(versionBody(2, 200_008)), 'the overwrite');
  });

  it('with a verify-ttl no longer than the grant, nothing is kept: every read is verified by the node', async () => {
    const { node: n, root } = await node('ttl', { 'verify-ttl': KEEP_SECONDS });
    const w = await worker(n, root);
    await w.session.write('obj', versionBody(3, 4096));
    await w.session.write('big', versionBody(4, MIB));
    for (let i = 0; i < 5; i++) {
      for (const [key, v, size] of [['obj', 3, 4096], ['big', 4, MIB]] as const) {
        const r = await readOf(w, key);
        assert.ok(!r.kept && r.data.equals(versionBody(v, size)));
      }
      await new Promise((res) => setTimeout(res, 20));
    }
    assert.equal(w.local.kept.size, 0);
  });
});
