// `backrunner recover` run as an operator runs it, against the two-node test cluster: replicas that
// miss keys, hold older versions, or still hold what was removed in the other group are brought to
// the newest state; what is newer in a target is kept; a run over a healthy cluster (and a second
// run) has nothing to do; a slice too big for memory is walked in pieces; the merge rules alone.

import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseBucketDefinitions } from '../../src/buckets/definitions.js';
import { MetadataStore } from '../../src/buckets/metadata-store.js';
import { type Cluster, Session } from '../../src/elliptics/index.js';
import { Errno, FlagsHigh, IoFlags, keyToId } from '../../src/elliptics/protocol/index.js';
import { readReplyOf, readRequest } from '../../src/elliptics/requests.js';
import { planKey, type ReplicaState } from '../../src/recovery/merge.js';
import { Recovery } from '../../src/recovery/recover.js';
import { copyReplica } from '../../src/recovery/repair.js';
import { parseSince } from '../../src/cli/recover-command.js';
import { startTestCluster, type TestCluster } from '../helpers/cluster.js';

const BIN = fileURLToPath(new URL('../../../bin/backrunner', import.meta.url));
const t = (sec: number) => ({ sec, nsec: 0 });

function run(...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(BIN, ['recover', ...args], { maxBuffer: 1 << 24 }, (err, stdout, stderr) => resolve({ code: err ? ((err as { code?: number }).code ?? 1) : 0, stdout, stderr }));
  });
}

describe('backrunner recover', () => {
  let tc: TestCluster;
  let cluster: Cluster;
  let config: string;
  const g = (group: number, ns = 'b1'): Session => new Session(cluster, { namespace: ns, groups: [group] });
  /** What a group holds of a key: its bytes and timestamp, "removed@sec", or "missing". */
  const holds = async (group: number, key: string, ns = 'b1'): Promise<string> => {
    const id = keyToId(key, ns);
    try {
      const r = readReplyOf((await g(group, ns).send(group, id, (tg) => readRequest({ ...tg, flagsHigh: FlagsHigh.REMOVAL_TIME }))).packets, 'read');
      return `${r.data.toString()}@${r.io.timestamp.sec}`;
    } catch (err) {
      const e = err as { status?: number; removedAt?: { sec: number } };
      if (e.status !== Errno.ENOENT) throw err;
      return e.removedAt ? `removed@${e.removedAt.sec}` : 'missing';
    }
  };

  before(async () => {
    tc = await startTestCluster();
    cluster = await tc.connect({ poolSize: 1 });
    const store = new MetadataStore(cluster, [1, 2]);
    for (const meta of parseBucketDefinitions({ buckets: { b1: { groups: [1, 2] }, b2: { groups: [3, 4] } } })) await store.writeBucket(meta);
    config = path.join(tc.root, 'recover.json');
    writeFileSync(config, JSON.stringify({ elliptics: { remote: [`127.0.0.1:${tc.nodes[0]!.port}:2`], 'metadata-groups': [1, 2] } }));
  });

  after(async () => {
    cluster.close();
    await tc.close();
  });

  it('the merge: newest (timestamp, then size) wins; a removal wins a tie; all-uncommitted is left alone', () => {
    const data = (sec: number, size = 10): ReplicaState => ({ kind: 'data', timestamp: t(sec), size });
    const p1 = planKey(new Map<number, ReplicaState>([[1, data(5)], [2, { kind: 'missing' }], [3, data(4)]]));
    assert.equal(p1.source, 1);
    assert.deepEqual([...p1.actions], [[1, 'none'], [2, 'copy'], [3, 'copy']]);
    assert.deepEqual([p1.missing, p1.stale], [[2], [3]]);
    assert.equal(planKey(new Map([[1, data(5, 10)], [2, data(5, 20)]])).source, 2);
    const rm = planKey(new Map<number, ReplicaState>([[1, { kind: 'removed', timestamp: t(5) }], [2, data(5)], [3, data(6)]]));
    assert.equal(rm.newest.kind, 'data', 'a write after the removal wins');
    const rm2 = planKey(new Map<number, ReplicaState>([[1, { kind: 'removed', timestamp: t(5) }], [2, data(5)], [3, { kind: 'missing' }]]));
    assert.deepEqual([...rm2.actions], [[1, 'none'], [2, 'remove'], [3, 'none']]);
    const pending = planKey(new Map<number, ReplicaState>([[1, { kind: 'uncommitted', timestamp: t(9), size: 5 }], [2, { kind: 'missing' }]]));
    assert.ok([...pending.actions.values()].every((a) => a === 'none'));
    const inProgress = planKey(new Map<number, ReplicaState>([[1, data(5)], [2, { kind: 'uncommitted', timestamp: t(9), size: 5 }]]));
    assert.equal(inProgress.actions.get(2), 'none', 'a prepared write newer than the newest commit is left to finish');
  });

  it('--since takes Unix seconds, ISO dates and ages', () => {
    assert.deepEqual(parseSince('1700000000'), t(1_700_000_000));
    assert.deepEqual(parseSince('2024-01-02T00:00:00Z'), t(1_704_153_600));
    assert.deepEqual(parseSince('2h', 10_000_000), t(2800));
    assert.throws(() => parseSince('yesterday-ish'), /--since/);
  });

  it('repairs missing, stale and removed replicas, keeping timestamps; a second run has nothing to do', async () => {
    // Healthy first: nothing to do.
    const both = new Session(cluster, { namespace: 'b1', groups: [1, 2] });
    await both.write('same', Buffer.from('same everywhere'), { timestamp: t(1000) });
    let r = await run('--config', config, '--bucket', 'b1', '--dry-run');
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /nothing to do/);
    // Divergence, made group by group as an outage leaves it.
    await g(1).write('only-in-1', Buffer.from('one'), { timestamp: t(2000), userFlags: 77n });
    await g(2).write('only-in-2', Buffer.from('two'), { timestamp: t(2001) });
    await g(1).write('newer-in-1', Buffer.from('new'), { timestamp: t(3000) });
    await g(2).write('newer-in-1', Buffer.from('old'), { timestamp: t(2500) });
    await both.write('gone', Buffer.from('to be removed'), { timestamp: t(4000) });
    await g(1).remove('gone', { timestamp: t(4100) });
    await both.write('rewritten', Buffer.from('v1'), { timestamp: t(5000) });
    await g(2).remove('rewritten', { timestamp: t(5100) });
    await g(1).write('rewritten', Buffer.from('v2'), { timestamp: t(5200) });

    r = await run('--config', config, '--bucket', 'b1', '--dry-run', '--json');
    assert.equal(r.code, 0, r.stderr);
    const dry = JSON.parse(r.stdout) as { walked: number; missing: number; stale: number; copied: number };
    assert.deepEqual([dry.missing, dry.stale, dry.copied], [2, 3, 0], r.stdout);
    assert.equal(await holds(2, 'only-in-1'), 'missing', 'a dry run changes nothing');

    r = await run('--config', config, '--bucket', 'b1', '--json');
    assert.equal(r.code, 0, r.stderr + r.stdout);
    const s = JSON.parse(r.stdout) as { walked: number; copied: number; removed: number; failed: number; removalsInvisible: number[] };
    assert.deepEqual([s.copied, s.removed, s.failed], [4, 1, 0], r.stdout);
    assert.deepEqual(s.removalsInvisible, []);
    assert.equal(await holds(2, 'only-in-1'), 'one@2000');
    assert.equal(await holds(1, 'only-in-2'), 'two@2001');
    assert.equal(await holds(2, 'newer-in-1'), 'new@3000');
    assert.equal(await holds(2, 'gone'), 'removed@4100', 'the removal, not a resurrection');
    assert.equal(await holds(1, 'gone'), 'removed@4100');
    assert.equal(await holds(2, 'rewritten'), 'v2@5200', 'a write after a removal wins');
    assert.equal((await g(2).read('only-in-1')).io.userFlags, 77n, 'user flags kept');

    r = await run('--config', config, '--bucket', 'b1', '--dry-run', '--json');
    const again = JSON.parse(r.stdout) as { missing: number; stale: number };
    assert.deepEqual([again.missing, again.stale], [0, 0], 'the second run has nothing to do');
  });

  it('a copy never overwrites a newer version (CAS_TIMESTAMP), for a whole write and a streamed one', async () => {
    for (const size of [100, 9 * 1024 * 1024]) {
      const key = `cas-${size}`;
      await g(1).write(key, Buffer.alloc(size, 1), { timestamp: t(6000) });
      await g(2).write(key, Buffer.from('newer'), { timestamp: t(7000) });
      const out = await copyReplica(new Session(cluster, { groups: [1, 2] }), keyToId(key, 'b1'), 1, [2]);
      assert.equal(out.results.get(2), Errno.EBADFD);
      assert.equal(await holds(2, key), 'newer@7000');
    }
    // A write with CAS_TIMESTAMP over a remembered, newer removal is refused too.
    await g(1).write('cas-removed', Buffer.from('x'), { timestamp: t(8000) });
    await g(1).remove('cas-removed', { timestamp: t(8100) });
    const [res] = await g(1).write('cas-removed', Buffer.from('old copy'), { timestamp: t(8050), ioFlags: IoFlags.CAS_TIMESTAMP });
    assert.equal(res!.status, Errno.EBADFD);
  });

  it('walks a key space too big for memory in slices, and --groups / --since narrow the walk', async () => {
    const s1 = g(3, 'b2');
    for (let i = 0; i < 300; i++) await s1.write(`slice-${i}`, Buffer.from(`v${i}`), { timestamp: t(9000 + i) });
    const rec = new Recovery(cluster, { sets: [{ groups: [3, 4], buckets: ['b2'] }], maxKeys: 50 });
    const s = await rec.run();
    assert.equal(s.walked, 300);
    assert.equal(s.copied, 300);
    assert.equal(await holds(4, 'slice-123', 'b2'), 'v123@9123');
    const r = await run('--config', config, '--bucket', 'b2', '--groups', '3', '--json');
    assert.equal(r.code, 0, r.stderr);
    assert.equal((JSON.parse(r.stdout) as { walked: number }).walked, 0, 'one group of a bucket has nothing to compare');
    await g(3, 'b2').write('recent', Buffer.from('r'));
    const since = await run('--config', config, '--bucket', 'b2', '--since', '10m', '--json');
    const ss = JSON.parse(since.stdout) as { walked: number; copied: number };
    assert.deepEqual([ss.walked, ss.copied], [1, 1], since.stdout);
  });

  it('names what it could not do: an unknown bucket, a bad flag, an unreachable group', async () => {
    let r = await run('--config', config, '--bucket', 'nosuch');
    assert.equal(r.code, 2);
    assert.match(r.stderr, /bucket nosuch/);
    r = await run('--config', config, '--bucket', 'b1', '--groups', 'x');
    assert.equal(r.code, 2);
    assert.match(r.stderr, /--groups/);
    await tc.stop(1, 'SIGKILL');
    try {
      r = await run('--config', config, '--bucket', 'b1', '--json');
      assert.equal(r.code, 1, r.stdout);
      assert.ok((JSON.parse(r.stdout) as { unwalked: { group: number }[] }).unwalked.some((u) => u.group === 2), r.stdout);
    } finally {
      await tc.restart(1);
    }
  });
});
