// uWebSockets.js must be the native server; the pure-JS fallback is refused, never used.

import { it } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import http from 'node:http';
import { fileURLToPath } from 'node:url';
import { isNativeUws, loadUws } from '../../src/util/uws.js';

function get(port: number): Promise<http.IncomingMessage & { body: string }> {
  return new Promise((resolve, reject) => {
    http.get({ host: '127.0.0.1', port, path: '/probe' }, (res) => {
      let body = '';
      res.on('data', (c) => (body += c));
      res.on('end', () => resolve(Object.assign(res, { body })));
    }).on('error', reject);
  });
}

it('loads the native uWebSockets.js binary and serves HTTP with it', async () => {
  const uws = loadUws();
  assert.equal(isNativeUws(uws), true);
  const app = uws.App().get('/*', (res) => {
    res.end('native');
  });
  const listen = await new Promise<unknown>((resolve) => app.listen('127.0.0.1', 0, resolve));
  assert.ok(listen, 'listening');
  const port = uws.us_socket_local_port(listen as never);
  try {
    const res = await get(port);
    assert.equal(res.body, 'native');
    // The JS fallback (node:http underneath) sends keep-alive headers; the native server does not,
    // and its own `uWebSockets: 20` mark is switched off by loadUws.
    assert.equal(res.headers['keep-alive'], undefined);
    assert.equal(res.headers.uwebsockets, undefined);
    assert.ok(res.headers.date);
  } finally {
    uws.us_listen_socket_close(listen as never);
  }
});

it('refuses to start when the native binary cannot be loaded, naming the binary', async () => {
  const loader = fileURLToPath(new URL('../../src/util/uws.js', import.meta.url));
  const script = `import(${JSON.stringify(loader)}).then((m) => { m.loadUws(); console.log('loaded'); }).catch((e) => { console.error(e.name + ': ' + e.message); process.exit(3); });`;
  const result = await new Promise<{ code: number | null; stdout: string; stderr: string }>((resolve) => {
    execFile(process.execPath, ['--input-type=module', '-e', script], { env: { ...process.env, BACKRUNNER_UWS_BINARY: '/nonexistent/uws_linux_x64_999.node' } }, (err, stdout, stderr) =>
      resolve({ code: err ? (err as { code?: number }).code ?? 1 : 0, stdout, stderr }),
    );
  });
  assert.equal(result.code, 3);
  assert.doesNotMatch(result.stdout, /loaded/);
  assert.match(result.stderr, /UwsUnavailableError: uWebSockets.js native binary did not load: \/nonexistent\/uws_linux_x64_999.node/);
  assert.match(result.stderr, /refuses to run on the package's slow pure-JS fallback/);
});
