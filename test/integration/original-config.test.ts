// The Go Backrunner's config accepted as written: its log levels (notice among them), log-file
// honoured by every process of the proxy and reopened on SIGUSR1 (logrotate), unknown keys reported
// in every section, and a proxy config stored under elliptics.backrunner-config-key combined with
// the file at start and on reload (spec backrunner.md §9.4).

import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, readlinkSync, readdirSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { MetadataStore } from '../../src/buckets/metadata-store.js';
import { startTestCluster, type TestCluster } from '../helpers/cluster.js';
import { freePort, startProxy, type TestProxy } from '../helpers/proxy.js';

const REPO = fileURLToPath(new URL('../../../', import.meta.url));

async function waitFor(what: string, check: () => boolean | Promise<boolean>, ms = 20_000): Promise<void> {
  const until = Date.now() + ms;
  while (!(await check())) {
    if (Date.now() > until) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

function get(port: number, target: string): Promise<{ status: number; headers: http.IncomingHttpHeaders }> {
  return new Promise((resolve, reject) => {
    http.get({ host: '127.0.0.1', port, path: target, agent: false }, (res) => {
      res.resume();
      res.on('end', () => resolve({ status: res.statusCode!, headers: res.headers }));
    }).on('error', reject);
  });
}

/** The files a process has open (its fd links). */
function openFiles(pid: number): string[] {
  try {
    return readdirSync(`/proc/${pid}/fd`).map((fd) => {
      try {
        return readlinkSync(`/proc/${pid}/fd/${fd}`);
      } catch {
        return '';
      }
    });
  } catch {
    return [];
  }
}

describe('log-level notice and log-file, for every process, reopened on SIGUSR1', () => {
  let dir: string;
  let proc: ChildProcess;
  let port: number;
  let logFile: string;

  before(async () => {
    dir = mkdtempSync(path.join(os.tmpdir(), 'backrunner-logs-'));
    port = await freePort();
    const nodePort = await freePort();
    logFile = path.join(dir, 'logs', 'backrunner.log');
    const example = JSON.parse(readFileSync(path.join(REPO, 'config.example.json'), 'utf8'));
    example.elliptics['log-level'] = 'notice';
    example.elliptics['log-file'] = 'logs/backrunner.log';
    example.elliptics['log-prefix'] = 'backrunner: ';
    example.proxy.address = `127.0.0.1:${port}`;
    example.proxy['colour-of-the-bikeshed'] = 'green';
    example.embedded.dir = path.join(dir, 'embedded');
    example.embedded.address = `127.0.0.1:${nodePort}`;
    writeFileSync(path.join(dir, 'config.json'), JSON.stringify(example));
    proc = spawn(path.join(REPO, 'bin', 'backrunner'), ['proxy', '--config', path.join(dir, 'config.json'), '--workers', '2'], { cwd: REPO, detached: true, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    proc.stdout!.on('data', (c) => (out += c));
    proc.stderr!.on('data', (c) => (out += c));
    await waitFor(`the proxy to answer (output so far: ${out})`, async () => (await get(port, '/ping/').catch(() => ({ status: 0 }))).status === 200, 60_000);
  });

  after(async () => {
    if (proc.exitCode === null) {
      const exited = new Promise((r) => proc.once('exit', r));
      process.kill(-proc.pid!, 'SIGTERM');
      await exited;
    }
    rmSync(dir, { recursive: true, force: true });
  });

  const members = (): number[] => execFileSync('pgrep', ['-g', String(proc.pid)], { encoding: 'utf8' }).trim().split('\n').filter(Boolean).map(Number);

  it('starts on "notice", and every process appends to the log file (prefixed, unknown proxy keys named)', async () => {
    await get(port, '/get/b1/no-such-key');
    await waitFor('lines of every process in the log file', () => {
      const text = existsSync(logFile) ? readFileSync(logFile, 'utf8') : '';
      // The access line is written after the reply has gone: wait for it too.
      return ['"name":"primary"', '"name":"worker"', '"name":"storage-node"', '"path":"/get/b1/no-such-key"'].every((n) => text.includes(n));
    });
    const text = readFileSync(logFile, 'utf8');
    assert.match(text, /"msg":"backrunner: /, 'log-prefix starts every message');
    assert.match(text, /proxy\.colour-of-the-bikeshed/, 'the unknown proxy key is reported');
    assert.match(text, /"path":"\/get\/b1\/no-such-key"/, 'access lines go to the file');
    const pids = members();
    assert.ok(pids.length >= 4, `primary, 2 workers, storage node: ${pids}`);
    for (const pid of pids) assert.ok(openFiles(pid).includes(logFile), `process ${pid} has the log file open`);
  });

  it('SIGUSR1 after logrotate moved the file: every process writes to a new one', async () => {
    renameSync(logFile, `${logFile}.1`);
    const pids = members();
    for (const pid of pids) assert.ok(openFiles(pid).includes(`${logFile}.1`), `process ${pid} still writes to the moved file`);
    process.kill(proc.pid!, 'SIGUSR1');
    await waitFor('every process to reopen the log file', () => pids.every((pid) => openFiles(pid).includes(logFile)));
    await get(port, '/get/b1/after-rotation');
    await waitFor('new lines in the new file', () => existsSync(logFile) && readFileSync(logFile, 'utf8').includes('after-rotation'));
    assert.doesNotMatch(readFileSync(`${logFile}.1`, 'utf8'), /after-rotation/);
    for (const pid of pids) assert.ok(!openFiles(pid).includes(`${logFile}.1`), `process ${pid} let go of the rotated file`);
  });
});

/** Runs `backrunner proxy` on a config document that must fail at start; its exit code and output. */
async function failingStart(doc: unknown, extraArgs: string[] = []): Promise<{ code: number | null; out: string }> {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'backrunner-fail-'));
  try {
    writeFileSync(path.join(dir, 'c.json'), JSON.stringify(doc));
    return await new Promise((resolve) => {
      const p = spawn(path.join(REPO, 'bin', 'backrunner'), ['proxy', '--config', path.join(dir, 'c.json'), ...extraArgs], { stdio: ['ignore', 'pipe', 'pipe'] });
      let out = '';
      p.stdout!.on('data', (c) => (out += c));
      p.stderr!.on('data', (c) => (out += c));
      p.on('exit', (code) => resolve({ code, out }));
    });
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

describe('start-up errors name what to fix', () => {
  it('a missing --buckets file: the file and the flag', async () => {
    const r = await failingStart({ elliptics: { remote: ['127.0.0.1:1:2'], 'metadata-groups': [1] }, proxy: { address: '127.0.0.1:1' } }, ['--buckets', '/nonexistent/buckets.txt']);
    assert.equal(r.code, 1);
    assert.match(r.out, /cannot read the bucket-list file \/nonexistent\/buckets\.txt \(--buckets\): no such file/);
  });

  it('a bad log level: elliptics.log-level in the message', async () => {
    const r = await failingStart({ elliptics: { remote: ['127.0.0.1:1:2'], 'metadata-groups': [1], 'log-level': 'chatty' }, proxy: { address: '127.0.0.1:1' } });
    assert.equal(r.code, 1);
    assert.match(r.out, /elliptics\.log-level: must be one of fatal, error, warning, warn, info, notice, debug, trace, silent, got "chatty"/);
  });
});

describe('elliptics.backrunner-config-key: a stored proxy config combined with the file', () => {
  let tc: TestCluster;
  let p: TestProxy;
  let store: MetadataStore;

  const stored = (headers: Record<string, string>, extra: Record<string, unknown> = {}) =>
    Buffer.from(JSON.stringify({ elliptics: { ...extra }, proxy: { headers, 'content-types': { '.stored': 'application/x-stored' } } }));

  before(async () => {
    tc = await startTestCluster();
    const cluster = await tc.connect();
    store = new MetadataStore(cluster, [1, 2]);
    await store.writeRaw('proxy.config', stored({ 'X-Stored': 'one', 'X-Both': 'stored' }));
    p = await startProxy(tc, {
      elliptics: { 'backrunner-config-key': 'proxy.config' },
      proxy: { headers: { 'X-File': 'yes', 'X-Both': 'file' }, 'bucket-update-interval': 3600 },
    });
  });

  after(async () => {
    await p?.stop();
    await tc.close();
  });

  it('at start: stored headers, the file\'s on top of them (file fields win, maps merge)', async () => {
    const r = await get(p.port, '/ping/');
    assert.equal(r.headers['x-stored'], 'one');
    assert.equal(r.headers['x-file'], 'yes');
    assert.equal(r.headers['x-both'], 'file');
  });

  it('on reload (SIGHUP): a changed stored config takes effect; one that names a key itself is used alone', async () => {
    await store.writeRaw('proxy.config', stored({ 'X-Stored': 'two' }));
    p.proc.kill('SIGHUP');
    await waitFor('the new stored header', async () => (await get(p.port, '/ping/')).headers['x-stored'] === 'two');
    const alone = { elliptics: { 'backrunner-config-key': 'proxy.config' }, proxy: { address: `127.0.0.1:${p.port}`, headers: { 'X-Alone': 'yes' } } };
    await store.writeRaw('proxy.config', Buffer.from(JSON.stringify(alone)));
    p.proc.kill('SIGHUP');
    await waitFor('the stored config alone', async () => (await get(p.port, '/ping/')).headers['x-alone'] === 'yes');
    const r = await get(p.port, '/ping/');
    assert.equal(r.headers['x-file'], undefined, 'the file is not applied over a self-contained stored config');
  });

  it('a stored config that is not JSON leaves the file in force, with a warning naming the key', async () => {
    await store.writeRaw('proxy.config', Buffer.from('{not json'));
    p.proc.kill('SIGHUP');
    await waitFor('the file alone', async () => (await get(p.port, '/ping/')).headers['x-file'] === 'yes');
    assert.equal((await get(p.port, '/ping/')).headers['x-alone'], undefined);
    await waitFor('the warning', () => /backrunner-config-key \\"proxy\.config\\"\) could not be used/.test(p.output()));
  });
});
