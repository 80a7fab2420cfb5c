// bmeta, run as operators run it (`bin/bmeta -config c.json -upload b.json`), against the embedded
// two-node cluster; the stored bytes are compared with the reference encoding.

import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseBucketDefinitions } from '../../src/buckets/definitions.js';
import { encodeBucketMeta } from '../../src/buckets/metadata.js';
import { MetadataStore } from '../../src/buckets/metadata-store.js';
import type { Cluster } from '../../src/elliptics/index.js';
import { FIXTURES, fixture } from '../helpers/fixtures.js';
import { startTestCluster, type TestCluster } from '../helpers/cluster.js';

const BIN = fileURLToPath(new URL('../../../bin/', import.meta.url));

function run(cmd: 'bmeta' | 'backrunner', args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(path.join(BIN, cmd), args, { env: { ...process.env, BACKRUNNER_LOG_LEVEL: 'silent' } }, (err, stdout, stderr) =>
      resolve({ code: err ? Number((err as { code?: number }).code ?? 1) : 0, stdout, stderr }),
    );
  });
}

describe('bmeta', () => {
  let tc: TestCluster;
  let cluster: Cluster;
  let config: string;
  let noKeys: string;

  before(async () => {
    tc = await startTestCluster();
    cluster = await tc.connect();
    const elliptics = { remote: [`127.0.0.1:${tc.nodes[0]!.port}:2`], 'metadata-groups': [1, 2], 'log-file': '', 'log-level': 'info' };
    config = path.join(tc.root, 'config.json');
    writeFileSync(config, JSON.stringify({ elliptics: { ...elliptics, 'bucket-list-key': 'bucket-list', 'backrunner-config-key': 'proxy-config' }, proxy: {} }));
    noKeys = path.join(tc.root, 'config-no-keys.json');
    writeFileSync(noKeys, JSON.stringify({ elliptics, proxy: {} }));
  });

  after(async () => {
    await tc.close();
  });

  it('uploads the example bucket file with single-dash flags; the stored bytes are the reference encoding', async () => {
    const r = await run('bmeta', ['-config', config, '-upload', path.join(FIXTURES, 'bucket_create.json')]);
    assert.equal(r.code, 0, r.stderr);
    const lines = r.stdout.trim().split('\n');
    assert.deepEqual(lines, [
      'b1: version: 1, groups: [1 2], acl: [*:****:0x1 writer:****:0x2], flags: 0x0, max-size: 0, max-key-num: 0',
      'b2: version: 1, groups: [3 4], acl: [*:****:0x1 writer:****:0x2 reader:****:0x0], flags: 0x0, max-size: 0, max-key-num: 0',
      'b3: version: 1, groups: [5 6], acl: [*:****:0x1 writer:****:0x3], flags: 0x0, max-size: 5000000000, max-key-num: 0',
    ]);
    assert.doesNotMatch(r.stdout + r.stderr, /secure|token/, 'no token is printed');
    const expected = parseBucketDefinitions(JSON.parse(fixture('bucket_create.json').toString()));
    const store = new MetadataStore(cluster, [1, 2]);
    for (const meta of expected) {
      for (const group of [1, 2]) {
        const stored = (await store.session.with({ groups: [group] }).read(meta.name)).data;
        assert.deepEqual(stored, encodeBucketMeta(meta), `${meta.name} in group ${group}`);
      }
      assert.deepEqual(await store.readBucket(meta.name), meta);
    }
  });

  it('reads one bucket back (`backrunner bmeta -bucket`), tokens masked', async () => {
    const r = await run('backrunner', ['bmeta', '-config', config, '-bucket', 'b2']);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout.trim(), 'b2: version: 1, groups: [3 4], acl: [*:****:0x1 writer:****:0x2 reader:****:0x0], flags: 0x0, max-size: 0, max-key-num: 0');
  });

  it('uploads a bucket list and a proxy config to their keys', async () => {
    const list = path.join(tc.root, 'buckets.txt');
    writeFileSync(list, 'b1\nb2\n# b9 retired\nb3\n');
    const r = await run('bmeta', ['-config', config, '-upload-bucket-list', list, '-upload-backrunner-config', noKeys]);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /Successfully uploaded .*buckets\.txt into elliptics using key bucket-list/);
    assert.match(r.stdout, /Successfully uploaded .*config-no-keys\.json into elliptics using key proxy-config/);
    const store = new MetadataStore(cluster, [1, 2]);
    assert.deepEqual(await store.readBucketList({ key: 'bucket-list' }), ['b1', 'b2', 'b3']);
    assert.deepEqual(JSON.parse((await store.readRaw('proxy-config')).toString()).elliptics['metadata-groups'], [1, 2]);
  });

  it('a bad entry in any bucket fails the whole upload, naming bucket and field, and stores nothing', async () => {
    const defs = path.join(tc.root, 'bad.json');
    writeFileSync(defs, JSON.stringify({ buckets: { fine: { groups: [1, 2] }, broken: { groups: [3, 4], acl: [{ user: 'u', flags: 2 }] } } }));
    const r = await run('bmeta', ['-config', config, '-upload', defs]);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /buckets\.broken\.acl\[0\]\.token: must be a string/);
    const missing = await run('bmeta', ['-config', config, '-bucket', 'fine']);
    assert.equal(missing.code, 1);
    assert.match(missing.stderr, /ENOENT/);
  });

  it('explains what is missing: no action, no key configured, an unreachable cluster', async () => {
    const none = await run('bmeta', ['-config', config]);
    assert.equal(none.code, 2);
    assert.match(none.stderr, /nothing to do/);
    const noKey = await run('bmeta', ['-config', noKeys, '-upload-bucket-list', noKeys]);
    assert.equal(noKey.code, 1);
    assert.match(noKey.stderr, /elliptics\.bucket-list-key: is not set/);
    const dead = path.join(tc.root, 'dead.json');
    writeFileSync(dead, JSON.stringify({ elliptics: { remote: ['127.0.0.1:1:2'], 'metadata-groups': [1] } }));
    const unreachable = await run('bmeta', ['-config', dead, '-bucket', 'b1']);
    assert.equal(unreachable.code, 1);
    assert.match(unreachable.stderr, /could not connect to any storage node in elliptics\.remote \(127\.0\.0\.1:1: /);
    const badConfig = path.join(tc.root, 'bad-config.json');
    writeFileSync(badConfig, JSON.stringify({ elliptics: { remote: ['127.0.0.1:1025:2'], 'metadata-groups': [0] } }));
    const invalid = await run('bmeta', ['-config', badConfig, '-bucket', 'b1']);
    assert.equal(invalid.code, 1);
    assert.match(invalid.stderr, /bad-config\.json: elliptics\.metadata-groups\[0\]: must be a positive integer/);
    const missing = await run('bmeta', ['-config', config, '-bucket', 'nosuch']);
    assert.equal(missing.code, 1);
    assert.match(missing.stderr, /^bmeta: no key "nosuch" in the namespace "bucket" of metadata groups 1, 2 \(elliptics\.metadata-groups\) \(ENOENT -2\)$/m);
  });

  it('prints its version, as every command does', async () => {
    const version = (JSON.parse((await import('node:fs')).readFileSync(path.join(BIN, '..', 'package.json'), 'utf8')) as { version: string }).version;
    for (const [cmd, args] of [['bmeta', ['-version']], ['bmeta', ['--version']], ['backrunner', ['--version']], ['backrunner', ['proxy', '--version']], ['backrunner', ['node', '--version']]] as const) {
      const r = await run(cmd, [...args]);
      assert.equal(r.code, 0, `${cmd} ${args.join(' ')}: ${r.stderr}`);
      assert.equal(r.stdout.trim(), version);
    }
  });
});
