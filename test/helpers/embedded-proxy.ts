// The proxy as `npm start` runs it — config.example.json with its embedded storage node — moved to
// free ports and a temporary directory, in a process group of its own so a test can find (and
// signal) the primary, its workers and the node.

import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { freePort } from './proxy.js';

const REPO = fileURLToPath(new URL('../../../', import.meta.url));

export interface EmbeddedProxy {
  dir: string;
  port: number;
  proc: ChildProcess;
  configFile: string;
  output: () => string;
  exited: Promise<number | null>;
  /** PIDs of the primary's children running `script` (http-worker.js, storage-node.js). */
  children: (script: string) => number[];
  stop: () => Promise<number | null>;
}

/** Adjusts config.example.json (parsed) before it is written. */
export type ConfigEdit = (config: Record<string, Record<string, unknown>>) => void;

export function get(port: number, target: string): Promise<{ status: number; body: Buffer }> {
  return new Promise((resolve, reject) => {
    http.get({ host: '127.0.0.1', port, path: target, agent: false }, (res) => {
      const parts: Buffer[] = [];
      res.on('data', (c: Buffer) => parts.push(c));
      res.on('end', () => resolve({ status: res.statusCode!, body: Buffer.concat(parts) }));
    }).on('error', reject);
  });
}

export async function startEmbeddedProxy(edit: ConfigEdit = () => undefined, args: string[] = ['--workers', '2']): Promise<EmbeddedProxy> {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'backrunner-embedded-'));
  const port = await freePort();
  const nodePort = await freePort();
  const config = JSON.parse(readFileSync(path.join(REPO, 'config.example.json'), 'utf8')) as Record<string, Record<string, unknown>>;
  config.proxy!.address = `127.0.0.1:${port}`;
  config.embedded!.dir = path.join(dir, 'embedded');
  config.embedded!.address = `127.0.0.1:${nodePort}`;
  delete config.elliptics!.remote;
  edit(config);
  const configFile = path.join(dir, 'config.json');
  writeFileSync(configFile, JSON.stringify(config));
  const proc = spawn(path.join(REPO, 'bin', 'backrunner'), ['proxy', '--config', configFile, ...args], { cwd: REPO, detached: true, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  proc.stdout!.on('data', (c) => (out += c));
  proc.stderr!.on('data', (c) => (out += c));
  const exited = new Promise<number | null>((resolve) => proc.once('exit', (code) => resolve(code)));
  const until = Date.now() + 60_000;
  for (;;) {
    if (proc.exitCode !== null) throw new Error(`the proxy exited with ${proc.exitCode}:\n${out}`);
    if ((await get(port, '/ping/').catch(() => ({ status: 0 }))).status === 200) break;
    if (Date.now() > until) throw new Error(`the proxy did not answer within 60 s:\n${out}`);
    await new Promise((r) => setTimeout(r, 100));
  }
  const children = (script: string): number[] => {
    try {
      return execFileSync('pgrep', ['-P', String(proc.pid)], { encoding: 'utf8' }).trim().split('\n').filter(Boolean).map(Number)
        .filter((pid) => readFileSync(`/proc/${pid}/cmdline`, 'utf8').includes(script));
    } catch {
      return [];
    }
  };
  return {
    dir,
    port,
    proc,
    configFile,
    output: () => out,
    exited,
    children,
    async stop() {
      if (proc.exitCode === null) {
        try {
          process.kill(-proc.pid!, 'SIGTERM');
        } catch {
          // already gone
        }
      }
      const code = await exited;
      rmSync(dir, { recursive: true, force: true });
      return code;
    },
  };
}
