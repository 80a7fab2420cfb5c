// /status/ in a real browser: Debian's chromium, headless, loads the page from the running proxy,
// its script polls /stat/ and draws the buckets, the backends' fill, the selection figures and an
// SVG chart of write latency. Skipped with a message when chromium is not installed.

import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { statSync } from 'node:fs';
import path from 'node:path';
import { chromiumPath, dumpDom, screenshot } from '../helpers/chromium.js';
import { startTestCluster, type TestCluster } from '../helpers/cluster.js';
import { startProxy, type TestProxy } from '../helpers/proxy.js';

const writer = { user: 'writer', token: 'writer token' };

describe('the status page in a headless browser', { skip: chromiumPath ? false : 'chromium is not installed (apt-get install chromium); .ci/run installs it' }, () => {
  let tc: TestCluster;
  let p: TestProxy;

  before(async () => {
    tc = await startTestCluster();
    p = await startProxy(tc);
    for (let i = 0; i < 40; i++) {
      const r = await p.request(`/nobucket_upload/status/${i}`, { method: 'POST', body: Buffer.alloc(2048, i), as: writer });
      assert.equal(r.status, 200);
    }
    await p.request('/get/b1/not-there');
    await new Promise((r) => setTimeout(r, 2500)); // reports folded, the live view broadcast
  });

  after(async () => {
    await p?.stop();
    await tc.close();
  });

  it('is one self-contained page: no external asset', async () => {
    const r = await p.request('/status/');
    assert.equal(r.status, 200);
    assert.match(r.headers['content-type']!, /^text\/html/);
    const html = r.body.toString();
    assert.doesNotMatch(html, /(src|href)=["']?(https?:)?\/\//, 'nothing loaded from elsewhere');
    assert.doesNotMatch(html, /token/);
    assert.equal((await p.request('/status')).status, 200, 'without the slash too');
  });

  it('renders the buckets, their backends and a latency chart from /stat/', async () => {
    const dom = await dumpDom(`http://127.0.0.1:${p.port}/status/`);
    for (const b of ['b1', 'b2', 'b3']) assert.match(dom, new RegExp(`<tr data-bucket="${b}">`), `bucket ${b} listed`);
    assert.match(dom, /<svg[^>]*id="latency-chart"/, 'the chart is drawn');
    assert.match(dom, /<polyline [^>]*data-backend="127\.0\.0\.1:\d+:2\/\d"/, 'with a line per backend written to');
    assert.match(dom, /candidate/);
    // The predicted storage time of a small and a large upload per bucket (not a per-byte figure).
    assert.match(dom, /<td class="num cost-small">[\d.,]+ ms<\/td><td class="num cost-large">[\d.,]+ ms<\/td>/, 'predicted costs per bucket');
    assert.match(dom, /\d[\d,.]* ms \+ [\d,]+ MB\/s/, 'each backend\'s write cost');
    assert.match(dom, /<td class="num" data-pending="0">0<\/td>/, 'the replicas table');
    assert.match(dom, /class="bar/, 'fill bars');
    assert.match(dom, /updated \d/);
    assert.match(dom, /<span id="error"><\/span>/, 'no fetch error shown');
    const shot = path.join(tc.root, 'status.png');
    await screenshot(`http://127.0.0.1:${p.port}/status/`, shot);
    assert.ok(statSync(shot).size > 20_000, 'a screenshot with content');
  });
});
