// Index snapshots of the embedded node: a clean stop leaves one and the next start reads it, a
// damaged one is ignored, a prepared upload committed after it is seen.

import { describe, it, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { Errno } from '../../src/elliptics/protocol/index.js';
import { RawClient } from '../helpers/raw-client.js';
import { startNode, tempDir, type NodeSpec } from '../helpers/nodes.js';
import { bodyFor, statusOf } from '../helpers/defrag.js';

describe('index snapshot', () => {
  const tmp = tempDir('backrunner-snapshot-');
  after(() => tmp.cleanup());

  it('a clean stop leaves a snapshot; the next start reads it and scans only what came after', async () => {
    const root = path.join(tmp.dir, 'clean');
    const spec: NodeSpec = { backends: [{ id: 1, group: 1, 'defrag-timeout': 0, 'index-snapshot-interval': 0 }] };
    let node = await startNode(root, spec);
    let c = await RawClient.connect(node.port);
    for (let i = 0; i < 500; i++) await c.write(1, `s-${i}`, bodyFor('s', i, 2000));
    await c.remove(1, 's-7');
    c.close();
    await node.stop();

    node = await startNode(root, spec);
    const from = node.backends[0]!.startedFrom;
    assert.equal(from.snapshot, true);
    assert.equal(from.scannedBytes, 0, 'nothing was written after the snapshot');
    c = await RawClient.connect(node.port);
    assert.ok((await c.read(1, 's-499')).data.equals(bodyFor('s', 499, 2000)));
    await assert.rejects(c.read(1, 's-7'), (e) => statusOf(e) === Errno.ENOENT);
    c.close();
    await node.stop();
  });

  it('a damaged snapshot is ignored: the start scans every blob and serves everything', async () => {
    const root = path.join(tmp.dir, 'damaged');
    const spec: NodeSpec = { backends: [{ id: 1, group: 1, 'defrag-timeout': 0 }] };
    let node = await startNode(root, spec);
    let c = await RawClient.connect(node.port);
    for (let i = 0; i < 50; i++) await c.write(1, `d-${i}`, bodyFor('d', i, 3000));
    const dir = node.backends[0]!.dir;
    c.close();
    await node.stop();
    const file = path.join(dir, 'index.snapshot');
    const bytes = fs.readFileSync(file);
    bytes[200] = bytes[200]! ^ 0x40;
    fs.writeFileSync(file, bytes);

    node = await startNode(root, spec);
    assert.equal(node.backends[0]!.startedFrom.snapshot, false);
    c = await RawClient.connect(node.port);
    for (let i = 0; i < 50; i++) assert.ok((await c.read(1, `d-${i}`)).data.equals(bodyFor('d', i, 3000)));
    c.close();
    await node.stop();
  });

  it('a prepared upload in the snapshot, committed after it: the start sees the commit', async () => {
    const root = path.join(tmp.dir, 'pending');
    const spec: NodeSpec = { backends: [{ id: 1, group: 1, 'defrag-timeout': 0, 'index-snapshot-interval': 0 }] };
    let node = await startNode(root, spec);
    let c = await RawClient.connect(node.port);
    const body = bodyFor('chunked', 1, 300_000);
    const { IoFlags } = await import('../../src/elliptics/protocol/index.js');
    await c.write(1, 'chunked', body.subarray(0, 100_000), { ioFlags: IoFlags.PREPARE | IoFlags.PLAIN_WRITE, num: body.length });
    const dir = node.backends[0]!.dir;
    await node.backends[0]!.saveSnapshot();
    fs.copyFileSync(path.join(dir, 'index.snapshot'), path.join(dir, 'index.snapshot.kept'));
    await c.write(1, 'chunked', body.subarray(100_000), { ioFlags: IoFlags.COMMIT | IoFlags.PLAIN_WRITE, offset: 100_000, num: body.length });
    // The snapshot from before the commit comes back (as after a kill): it names the record as prepared.
    c.close();
    await node.stop();
    fs.rmSync(path.join(dir, 'index.snapshot'));
    fs.renameSync(path.join(dir, 'index.snapshot.kept'), path.join(dir, 'index.snapshot'));
    node = await startNode(root, spec);
    assert.equal(node.backends[0]!.startedFrom.snapshot, true);
    c = await RawClient.connect(node.port);
    assert.ok((await c.read(1, 'chunked')).data.equals(body));
    c.close();
    await node.stop();
  });
});
