// What uWebSockets.js v20.30 accepts when clients talk to the proxy directly, measured as the README
// states it ("Behind nginx / a load balancer"): if the native build changes, this test says the
// table must change too.

import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import { startTestCluster, type TestCluster } from '../helpers/cluster.js';
import { startProxy, type TestProxy } from '../helpers/proxy.js';

interface Outcome {
  status: string | undefined;
  closed: boolean;
}

/**
 * Sends `bytes` (in two writes 50 ms apart when `splitAt` is given, as a network may deliver them);
 * resolves with the status line (if any) and whether the proxy closed within `waitMs`.
 */
function attempt(port: number, bytes: string, waitMs: number, splitAt?: number): Promise<Outcome> {
  return new Promise((resolve) => {
    let text = '';
    let closed = false;
    const s = net.connect(port, '127.0.0.1', () => {
      if (splitAt === undefined) return void s.write(bytes);
      s.write(bytes.slice(0, splitAt));
      setTimeout(() => s.write(bytes.slice(splitAt)), 50);
    });
    s.on('data', (c: Buffer) => (text += c.toString('latin1')));
    s.on('error', () => undefined);
    s.on('close', () => (closed = true));
    setTimeout(() => {
      s.destroy();
      resolve({ status: /^HTTP\/1\.1 (\d{3})/.exec(text)?.[1], closed });
    }, waitMs);
  });
}

const withHeaders = (lines: number, valueBytes = 1): string =>
  `GET /ping/ HTTP/1.1\r\nHost: t\r\n${Array.from({ length: lines - 1 }, (_, i) => `X-H${i}: ${'v'.repeat(valueBytes)}\r\n`).join('')}\r\n`;

describe('limits of the proxy talked to directly (README table)', () => {
  let tc: TestCluster;
  let p: TestProxy;

  before(async () => {
    tc = await startTestCluster();
    p = await startProxy(tc);
  });

  after(async () => {
    await p?.stop();
    await tc.close();
  });

  it('48 header lines, and a head of 4 KiB even when it arrives in two pieces, are answered', async () => {
    assert.equal((await attempt(p.port, withHeaders(48), 1000)).status, '200');
    const head = withHeaders(2, 4000);
    assert.ok(head.length <= 4096);
    assert.equal((await attempt(p.port, head, 1000, 1000)).status, '200');
  });

  it('a head above 4 KiB that arrives in two pieces is closed at once without a status', async () => {
    const r = await attempt(p.port, withHeaders(2, 5000), 1000, 1000);
    assert.deepEqual(r, { status: undefined, closed: true });
  });

  it('49 header lines, HTTP/1.0, a missing Host and a malformed line get no status (nginx in front answers them)', async () => {
    const cases = [withHeaders(49), 'GET /ping/ HTTP/1.0\r\n\r\n', 'GET /ping/ HTTP/1.1\r\n\r\n', 'NOT HTTP AT ALL\r\n\r\n'];
    const outcomes = await Promise.all(cases.map((c) => attempt(p.port, c, 1500)));
    for (const [i, o] of outcomes.entries()) assert.equal(o.status, undefined, `case ${i}: ${JSON.stringify(cases[i]!.slice(0, 40))}`);
  });
});
