// Storage trouble, caused for real: a node that hangs (SIGSTOP) holding one replica of every
// bucket, both nodes hung, a node continued (SIGCONT), a stream that stalls in the middle of an
// object. Outcomes and generous bounds (≤ 3× the configured deadlines), never exact timings.

import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import { startTestCluster, type TestCluster } from '../helpers/cluster.js';
import { startProxy, type TestProxy } from '../helpers/proxy.js';

const writer = { user: 'writer', token: 'writer token' };
const READ_ATTEMPT = 1;
const WRITE_ATTEMPT = 2;

async function timed<T>(f: () => Promise<T>): Promise<{ value: T; ms: number }> {
  const t0 = performance.now();
  const value = await f();
  return { value, ms: performance.now() - t0 };
}

async function waitFor(what: string, check: () => Promise<boolean>, ms = 20_000): Promise<number> {
  const t0 = Date.now();
  while (!(await check())) {
    if (Date.now() - t0 > ms) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 200));
  }
  return Date.now() - t0;
}

/** `check` true `times` times in a row (each worker has its own view of the nodes; all must agree). */
/**
 * Each request comes on a new connection, which the kernel hands to either worker; each worker finds
 * a hung node by itself (its heartbeat, within ~3 s). Sixteen agreeing answers in a row leave a
 * 2^-15 chance that one worker was never asked.
 */
function steadily(check: () => Promise<boolean>, times = 16): () => Promise<boolean> {
  return async () => {
    for (let i = 0; i < times; i++) if (!(await check())) return false;
    return true;
  };
}

const body = (i: number, size = 10_000): Buffer => Buffer.alloc(size, i % 251);

/** A GET read slowly: pauses after `pauseAfter` bytes, runs `during`, then reads on until the end or the cut. */
function pausedGet(port: number, target: string, pauseAfter: number, during: () => Promise<void>): Promise<{ status: number; length: number; got: Buffer; cut: boolean }> {
  return new Promise((resolve, reject) => {
    http.get({ host: '127.0.0.1', port, path: target, agent: false }, (res) => {
      const parts: Buffer[] = [];
      let n = 0;
      let paused = false;
      res.on('data', (c: Buffer) => {
        parts.push(c);
        n += c.length;
        if (!paused && n >= pauseAfter) {
          paused = true;
          res.pause();
          during().then(() => res.resume(), reject);
        }
      });
      const done = (cut: boolean): void => resolve({ status: res.statusCode!, length: Number(res.headers['content-length']), got: Buffer.concat(parts), cut });
      res.on('end', () => done(n !== Number(res.headers['content-length'])));
      res.on('error', () => done(true));
      res.on('aborted', () => done(true));
    }).on('error', reject);
  });
}

describe('a hung storage node (SIGSTOP) holding one replica of every bucket', () => {
  let tc: TestCluster;
  let p: TestProxy;
  let all: TestProxy;
  const node2 = () => tc.nodes[1]!.proc;

  before(async () => {
    tc = await startTestCluster();
    const proxy = { 'read-attempt-timeout': READ_ATTEMPT, 'write-attempt-timeout': WRITE_ATTEMPT };
    p = await startProxy(tc, { proxy });
    all = await startProxy(tc, { proxy: { ...proxy, 'write-quorum': 'all' } });
    for (let i = 0; i < 12; i++) assert.equal((await p.request(`/upload/b1/hang/${i}`, { method: 'POST', body: body(i), as: writer })).status, 200);
    assert.equal((await all.request('/health/')).status, 200);
  });

  after(async () => {
    for (const n of tc.nodes) n.proc.kill('SIGCONT');
    await p?.stop();
    await all?.stop();
    await tc.close();
  });

  it('GETs keep answering from the other replica; uploads answer in bounds with the hung group in error-groups', async (t) => {
    node2().kill('SIGSTOP');
    let slowest = 0;
    for (let i = 0; i < 12; i++) {
      const { value: r, ms } = await timed(() => p.request(`/get/b1/hang/${i}`));
      assert.equal(r.status, 200);
      assert.deepEqual(r.body, body(i));
      slowest = Math.max(slowest, ms);
      assert.ok(ms < 3 * READ_ATTEMPT * 1000, `GET ${i} took ${ms} ms`);
    }
    const lookup = await timed(() => p.request('/lookup/b1/hang/3'));
    assert.equal(lookup.value.status, 200);
    assert.ok(lookup.ms < 3 * READ_ATTEMPT * 1000, `lookup took ${lookup.ms} ms`);
    let slowestUpload = 0;
    for (let i = 0; i < 6; i++) {
      const { value: r, ms } = await timed(() => p.request(`/upload/b2/hang/new-${i}`, { method: 'POST', body: body(i), as: writer }));
      assert.equal(r.status, 200, r.body.toString());
      const reply = JSON.parse(r.body.toString()).reply;
      assert.deepEqual([reply['success-groups'], reply['error-groups']], [[3], [4]]);
      slowestUpload = Math.max(slowestUpload, ms);
      assert.ok(ms < 3 * WRITE_ATTEMPT * 1000, `upload ${i} took ${ms} ms`);
    }
    t.diagnostic(`slowest GET ${Math.round(slowest)} ms, slowest upload ${Math.round(slowestUpload)} ms`);
  });

  it('under write-quorum "all" uploads get 503 in bounds; /health/ says which bucket and why', async () => {
    const { value: r, ms } = await timed(() => all.request('/upload/b3/hang/quorum', { method: 'POST', body: body(1), as: writer }));
    assert.equal(r.status, 503);
    assert.ok(ms < 3 * WRITE_ATTEMPT * 1000, `${ms} ms`);
    await waitFor('/health/ 503 under quorum all, from every worker', steadily(async () => (await all.request('/health/')).status === 503));
    const h = JSON.parse((await all.request('/health/')).body.toString());
    assert.match(h.reason, /^bucket b\d cannot be written under write-quorum "all"/);
    assert.equal((await all.request('/health/', { method: 'HEAD' })).status, 503, 'HEAD /health/ tells the same');
    assert.equal((await p.request('/health/')).status, 200, 'under quorum "any" every bucket still has a replica');
  });

  it('/health/ turns 503 when a bucket loses every replica; reloads during the hang do not pile up', async () => {
    tc.nodes[0]!.proc.kill('SIGSTOP');
    await waitFor('/health/ 503 with both nodes hung, from every worker', steadily(async () => (await p.request('/health/')).status === 503));
    const h = JSON.parse((await p.request('/health/')).body.toString());
    assert.match(h.reason, /^bucket b\d cannot be read: group \d: node 127\.0\.0\.1:\d+:2 is (suspect|down)/);
    const before = p.output().length;
    for (let i = 0; i < 4; i++) {
      p.proc.kill('SIGHUP');
      await new Promise((r) => setTimeout(r, 300));
    }
    tc.nodes[0]!.proc.kill('SIGCONT');
    node2().kill('SIGCONT');
    await waitFor('/health/ 200 after SIGCONT', steadily(async () => (await p.request('/health/')).status === 200));
    await new Promise((r) => setTimeout(r, 1500));
    const lines = p.output().slice(before);
    assert.ok((lines.match(/reload skipped: the previous one is still running/g) ?? []).length >= 3, 'SIGHUPs during the running reload are skipped');
    assert.ok((lines.match(/"why":"SIGHUP"[^\n]*"msg":"config and buckets reloaded"|"why":"SIGHUP"[^\n]*reload failed/g) ?? []).length <= 1, 'one reload ran to its end for all those SIGHUPs');
  });

  it('after SIGCONT everything is back without a restart: uploads reach both groups again', async () => {
    const took = await waitFor('uploads to both groups', async () => {
      const r = await p.request(`/upload/b1/hang/back-${Date.now()}`, { method: 'POST', body: body(2), as: writer });
      return r.status === 200 && JSON.parse(r.body.toString()).reply['success-groups'].length === 2;
    });
    assert.ok(took < 15_000, `${took} ms`);
    await waitFor('quorum all again', async () => (await all.request('/upload/b3/hang/all-again', { method: 'POST', body: body(3), as: writer })).status === 200);
    await waitFor('/health/ 200 under quorum all', steadily(async () => (await all.request('/health/')).status === 200));
    await waitFor('every worker reports both nodes up', async () => {
      const metrics = (await p.request('/metrics')).body.toString();
      return (metrics.match(/backrunner_node_state\{worker="\d",node="127\.0\.0\.1:\d+:2",state="up"\} 1/g) ?? []).length === 4 && !/state="suspect"/.test(metrics);
    });
  });
});

describe('a hung node found by one worker is known to the others', () => {
  let tc: TestCluster;
  let p: TestProxy;

  before(async () => {
    tc = await startTestCluster();
    p = await startProxy(tc, { proxy: { 'read-attempt-timeout': READ_ATTEMPT } });
    for (let i = 0; i < 4; i++) assert.equal((await p.request(`/upload/b1/told/${i}`, { method: 'POST', body: body(i), as: writer })).status, 200);
    // A worker still connecting to node 2 when it hangs has no connection to mark: it would never
    // use the node, and never say so. On a loaded machine discovery can take that long.
    await waitFor('every worker connected to both nodes', async () => {
      const metrics = (await p.request('/metrics')).body.toString();
      return (metrics.match(/backrunner_node_state\{worker="\d",node="127\.0\.0\.1:\d+:2",state="up"\} 1/g) ?? []).length === 4;
    });
  });

  after(async () => {
    for (const n of tc.nodes) n.proc.kill('SIGCONT');
    await p?.stop();
    await tc.close();
  });

  it('the first worker that waits on it tells the others through the primary; they probe it at once', async () => {
    // Both workers talk to node 2 right before the hang, so neither heartbeat can find it for ≥ 2 s:
    // whichever worker learns first, it is the one GET below (≈ 1 s, its read attempt deadline).
    for (let i = 0; i < 16; i++) await p.request(`/get/b1/told/${i % 4}`);
    const before = p.output().length;
    tc.nodes[1]!.proc.kill('SIGSTOP');
    // Groups are tried in a shuffled order: GETs until one has waited out its read attempt on node 2
    // (its worker then marks the node and tells the primary). No more after it: another GET could
    // reach the other worker before the word did, and that worker would find the node itself.
    for (let i = 0; i < 16; i++) {
      const t0 = performance.now();
      assert.equal((await p.request(`/get/b1/told/${i % 4}`)).status, 200);
      if (performance.now() - t0 >= READ_ATTEMPT * 800) break;
    }
    // Both lines: each process writes its log in batches, so the finder's line may come after the told one's.
    const nodeLines = (): string => p.output().slice(before).split('\n').filter((l) => /storage node|suspect/.test(l)).join('\n');
    await waitFor('a worker told by another', async () => /suspect \(reported by another worker\)/.test(p.output().slice(before)) && /storage node suspect: it did not answer in time/.test(p.output().slice(before)), 10_000)
      .catch((err: Error) => assert.fail(`${err.message}; what the workers logged about nodes:\n${nodeLines()}`));
    const lines = p.output().slice(before);
    assert.equal((lines.match(/storage node suspect: it did not answer in time/g) ?? []).length, 1, 'one worker found it; the other was told');
    tc.nodes[1]!.proc.kill('SIGCONT');
    await waitFor('/health/ 200 after SIGCONT', steadily(async () => (await p.request('/health/')).status === 200));
  });
});

describe('a stream that stalls in the middle of an object', () => {
  let tc: TestCluster;
  let p: TestProxy;
  // Large enough that socket buffers cannot hold what is left after the pause (loopback buffers reach several MiB).
  const big = Buffer.alloc(48 * 1024 * 1024);
  for (let i = 0; i < big.length; i += 4) big.writeUInt32LE((i * 2654435761) >>> 0, i);

  before(async () => {
    tc = await startTestCluster();
    p = await startProxy(tc, { proxy: { 'read-attempt-timeout': READ_ATTEMPT, 'write-attempt-timeout': WRITE_ATTEMPT } });
    assert.equal((await p.request('/upload/b1/stream/big.bin', { method: 'POST', body: big, as: writer })).status, 200);
  });

  after(async () => {
    for (const n of tc.nodes) n.proc.kill('SIGCONT');
    await p?.stop();
    await tc.close();
  });

  it('fails over to the other replica (same version): the body arrives whole', async () => {
    // Node 2 suspect in every worker: the stream starts from group 1 (node 1), the healthy replica.
    const [node1, node2] = [tc.nodes[0]!.proc, tc.nodes[1]!.proc];
    node2.kill('SIGSTOP');
    await waitFor('node 2 suspect in both workers', async () => ((await p.request('/metrics')).body.toString().match(/state="(suspect|down)"/g) ?? []).length === 2);
    const r = await pausedGet(p.port, '/get/b1/stream/big.bin', 2 * 1024 * 1024, async () => {
      node2.kill('SIGCONT'); // the other replica answers again …
      node1.kill('SIGSTOP'); // … and the one serving the stream hangs
      await new Promise((res) => setTimeout(res, 300));
    });
    node1.kill('SIGCONT');
    assert.equal(r.status, 200);
    assert.equal(r.cut, false, 'the body is complete');
    assert.ok(r.got.equals(big), 'and byte for byte the object');
    await waitFor('the failover in the log', async () => /stream failed over to another replica in the middle of the object/.test(p.output()));
    await waitFor('both nodes answer again', steadily(async () => (await p.request('/health/')).status === 200));
  });

  it('with no replica left the connection is cut, never filled with wrong bytes, and the log says why', async () => {
    // An object stored in group 1 only: node 2 hung while it was uploaded.
    tc.nodes[1]!.proc.kill('SIGSTOP');
    await waitFor('node 2 suspect', async () => /state="suspect"|state="down"/.test((await p.request('/metrics')).body.toString()));
    const up = await p.request('/upload/b1/stream/single.bin', { method: 'POST', body: big, as: writer });
    assert.deepEqual(JSON.parse(up.body.toString()).reply['success-groups'], [1]);
    tc.nodes[1]!.proc.kill('SIGCONT');
    await waitFor('node 2 up', steadily(async () => (await p.request('/health/')).status === 200));
    const r = await pausedGet(p.port, '/get/b1/stream/single.bin', 2 * 1024 * 1024, async () => {
      tc.nodes[0]!.proc.kill('SIGSTOP');
      await new Promise((res) => setTimeout(res, 300));
    });
    tc.nodes[0]!.proc.kill('SIGCONT');
    assert.equal(r.status, 200);
    assert.equal(r.cut, true, 'the reply is visibly short');
    assert.ok(r.got.length < big.length);
    assert.ok(r.got.equals(big.subarray(0, r.got.length)), 'what arrived is a prefix of the object');
    await waitFor('the log line', async () => /source failed in the middle of a reply; connection cut/.test(p.output()));
  });
});
