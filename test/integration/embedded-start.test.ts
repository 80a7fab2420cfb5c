// `npm start` as a user meets it: the proxy on config.example.json (ports and directory moved to
// free ones) starts its embedded storage node, uploads the example buckets, prints curl lines that
// work as printed; a SIGTERM to the whole process group (Ctrl-C's sibling, what `timeout` or a
// service manager sends) lets an upload in flight finish — the storage node waits for the workers —
// and leaves no process behind; a restart serves what was stored.

import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import http from 'node:http';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { sign } from '../../src/buckets/signature.js';
import { freePort } from '../helpers/proxy.js';

const REPO = fileURLToPath(new URL('../../../', import.meta.url));

interface Running {
  proc: ChildProcess;
  output: () => string;
  exited: Promise<number | null>;
}

/** Starts the proxy in a process group of its own and waits for the printed "try it" lines. */
async function start(config: string): Promise<Running> {
  const proc = spawn(path.join(REPO, 'bin', 'backrunner'), ['proxy', '--config', config, '--workers', '2'], { cwd: REPO, detached: true, stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  proc.stdout!.on('data', (c) => (output += c));
  proc.stderr!.on('data', (c) => (output += c));
  const exited = new Promise<number | null>((resolve) => proc.once('exit', (code) => resolve(code)));
  const until = Date.now() + 60_000;
  while (!/try it:\n.*\n.*\n/.test(output)) {
    if (proc.exitCode !== null) throw new Error(`the proxy exited:\n${output}`);
    if (Date.now() > until) throw new Error(`the proxy did not print its curl lines:\n${output}`);
    await new Promise((r) => setTimeout(r, 100));
  }
  return { proc, output: () => output, exited };
}

/** Processes still in the group (the proxy, its workers, the storage node). */
function groupMembers(pgid: number): number[] {
  try {
    return execFileSync('pgrep', ['-g', String(pgid)], { encoding: 'utf8' }).trim().split('\n').filter(Boolean).map(Number);
  } catch {
    return [];
  }
}

describe('npm start: the proxy on the embedded storage node', () => {
  let dir: string;
  let config: string;
  let port: number;
  let running: Running | undefined;

  before(async () => {
    dir = mkdtempSync(path.join(os.tmpdir(), 'backrunner-start-'));
    port = await freePort();
    const nodePort = await freePort();
    const doc = JSON.parse(readFileSync(path.join(REPO, 'config.example.json'), 'utf8'));
    doc.elliptics.remote = [`127.0.0.1:${nodePort}:2`];
    doc.elliptics['log-level'] = 'warn';
    doc.proxy.address = `127.0.0.1:${port}`;
    doc.embedded.address = `127.0.0.1:${nodePort}`;
    doc.embedded.dir = path.join(dir, 'embedded');
    config = path.join(dir, 'config.json');
    writeFileSync(config, JSON.stringify(doc, null, 2));
  });

  after(async () => {
    if (running && running.proc.exitCode === null) {
      process.kill(-running.proc.pid!, 'SIGKILL');
      await running.exited;
    }
    rmSync(dir, { recursive: true, force: true });
  });

  it('prints curl lines that upload and read an object as printed', async () => {
    running = await start(config);
    const lines = running.output().split('try it:\n')[1]!.split('\n').slice(0, 2).map((l) => l.trim());
    assert.match(lines[0]!, /^curl .*--token-file .*writer\.token POST .*\/upload\/b1\/hello\.txt/);
    const uploaded = execFileSync('sh', ['-c', lines[0]!], { cwd: REPO, encoding: 'utf8' });
    assert.deepEqual(JSON.parse(uploaded).reply['success-groups'], [1, 2]);
    assert.equal(execFileSync('sh', ['-c', lines[1]!], { cwd: REPO, encoding: 'utf8' }), 'hello, backrunner');
    // The token lives in the file the line names, not in the output.
    const token = readFileSync(path.join(dir, 'embedded', 'tokens', 'writer.token'), 'utf8').trim();
    assert.ok(token.length >= 16);
    assert.ok(!running.output().includes(token));
    // The workers reach the node through its Unix socket, the primary over TCP.
    const sock = path.join(dir, 'embedded', 'node.sock');
    const unix = execFileSync('ss', ['-xH'], { encoding: 'utf8' }).split('\n').filter((l) => l.includes(sock));
    assert.ok(unix.length >= 2, `connections on ${sock}: ${unix.length}`);
  });

  it('SIGTERM to the process group: an upload in flight completes, every process exits, data stays', async () => {
    const r = running!;
    const token = readFileSync(path.join(dir, 'embedded', 'tokens', 'writer.token'), 'utf8').trim();
    const target = '/upload/b1/drain.bin';
    const size = 16 * 1024 * 1024;
    const piece = Buffer.alloc(1024 * 1024, 0x5a);
    const status = await new Promise<number>((resolve, reject) => {
      const req = http.request({
        host: '127.0.0.1', port, method: 'POST', path: target, agent: false,
        headers: { 'Content-Length': String(size), Authorization: `riftv1 writer:${sign(token, { method: 'POST', signPath: target, rawQuery: '', headers: [] })}` },
      }, (res) => {
        res.resume();
        res.on('end', () => resolve(res.statusCode!));
      });
      req.on('error', reject);
      // Half the body, the signal to everyone, a pause, then the rest.
      let sent = 0;
      let signalled = false;
      const pump = (): void => {
        while (sent < size) {
          if (!signalled && sent === size / 2) {
            signalled = true;
            process.kill(-r.proc.pid!, 'SIGTERM');
            return void setTimeout(pump, 700);
          }
          sent += piece.length;
          if (!req.write(piece)) return void req.once('drain', pump);
        }
        req.end();
      };
      pump();
    });
    assert.equal(status, 200, r.output());
    assert.equal(await r.exited, 0, r.output());
    // Workers and the storage node go with the primary.
    for (let i = 0; i < 50 && groupMembers(r.proc.pid!).length > 0; i++) await new Promise((res) => setTimeout(res, 100));
    assert.deepEqual(groupMembers(r.proc.pid!), []);

    running = await start(config);
    const len = await new Promise<string | undefined>((resolve, reject) => {
      http.request({ host: '127.0.0.1', port, method: 'HEAD', path: '/get/b1/drain.bin', agent: false }, (res) => {
        res.resume();
        resolve(res.headers['content-length']);
      }).on('error', reject).end();
    });
    assert.equal(len, String(size));
    process.kill(-running.proc.pid!, 'SIGTERM');
    assert.equal(await running.exited, 0);
  });
});
