// A test rig for benches that need the whole product: a two-node storage cluster (groups 1, 3, 5 on
// node 1 and 2, 4, 6 on node 2, so buckets b1 = {1,2}, b2 = {3,4}, b3 = {5,6} have a replica on
// each), the proxy in front of it, and small HTTP helpers.

import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import http from 'node:http';
import net from 'node:net';
import path from 'node:path';
import { readFileSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { parseBucketDefinitions } from '../../src/buckets/definitions.js';
import { MetadataStore } from '../../src/buckets/metadata-store.js';
import { sign } from '../../src/buckets/signature.js';
import { Cluster, Session } from '../../src/elliptics/index.js';
import { VERSION_2_26 } from '../../src/elliptics/protocol/index.js';
import { createLogger } from '../../src/util/logger.js';
import { startBenchNode, stop, type BenchNode } from './processes.js';

const BIN = fileURLToPath(new URL('../../../bin/backrunner', import.meta.url));
const EXAMPLE = fileURLToPath(new URL('../../../config.example.json', import.meta.url));
export const WRITER = { user: 'writer', token: 'bench writer token' };

export async function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const s = net.createServer().listen(0, '127.0.0.1', () => {
      const port = (s.address() as net.AddressInfo).port;
      s.close(() => resolve(port));
    });
  });
}

export function authFor(method: string, target: string, headers: Record<string, string> = {}): string {
  return `riftv1 ${WRITER.user}:${sign(WRITER.token, { method, signPath: target, rawQuery: '', headers: Object.entries(headers) })}`;
}

/** Polls `target` until it answers 200 (or `proc` exits / a minute passes). */
export function waitForHttp(port: number, target: string, proc: ChildProcess, out: () => string): Promise<void> {
  const until = Date.now() + 60_000;
  return new Promise((resolve, reject) => {
    const tryOnce = (): void => {
      if (proc.exitCode !== null) return reject(new Error(`exited:\n${out()}`));
      http.get({ host: '127.0.0.1', port, path: target, agent: false }, (res) => {
        res.resume();
        if (res.statusCode === 200) resolve();
        else if (Date.now() > until) reject(new Error(`${target} answers ${res.statusCode}:\n${out()}`));
        else setTimeout(tryOnce, 100);
      }).on('error', () => (Date.now() > until ? reject(new Error(`no answer:\n${out()}`)) : setTimeout(tryOnce, 100)));
    };
    tryOnce();
  });
}

export interface Answer {
  status: number;
  body: Buffer;
  ms: number;
}

/** One request over `agent` (keep-alive by default); status 0 when the connection failed. */
export function request(port: number, method: string, target: string, body: Buffer | undefined, agent: http.Agent, headers: Record<string, string> = {}, timeoutMs = 60_000): Promise<Answer> {
  const t0 = performance.now();
  return new Promise((resolve) => {
    const req = http.request({ host: '127.0.0.1', port, method, path: target, agent, headers: body ? { ...headers, 'Content-Length': String(body.length) } : headers, timeout: timeoutMs }, (res) => {
      const parts: Buffer[] = [];
      res.on('data', (c: Buffer) => parts.push(c));
      res.on('end', () => resolve({ status: res.statusCode!, body: Buffer.concat(parts), ms: performance.now() - t0 }));
      res.on('error', () => resolve({ status: 0, body: Buffer.alloc(0), ms: performance.now() - t0 }));
    });
    req.on('timeout', () => req.destroy(new Error('timeout')));
    req.on('error', () => resolve({ status: 0, body: Buffer.alloc(0), ms: performance.now() - t0 }));
    req.end(body);
  });
}

export interface Rig {
  nodes: BenchNode[];
  proxyPort: number;
  proxy: ChildProcess;
  /** A client of the storage cluster (for BACKEND_CONTROL). */
  cluster: Cluster;
  output: () => string;
  close(): Promise<void>;
}

export interface RigOptions {
  /** Extra keys of every backend (e.g. blob-size-limit). */
  backend?: Record<string, unknown>;
  proxy?: Record<string, unknown>;
  workers?: number;
}

/** Two storage nodes, the b1/b2/b3 buckets, and the proxy with 2 workers in front. */
export async function startRig(dir: string, opts: RigOptions = {}): Promise<Rig> {
  const node1 = await startBenchNode(path.join(dir, 'node1'), [1, 3, 5], {}, opts.backend);
  const node2 = await startBenchNode(path.join(dir, 'node2'), [2, 4, 6], { remotes: [`127.0.0.1:${node1.port}`] }, opts.backend);
  const log = createLogger('bench', { level: 'error' });
  const cluster = await Cluster.connect({ remotes: [{ host: '127.0.0.1', port: node1.port }], protocolVersion: VERSION_2_26, poolSize: 1, timeoutMs: 10_000, checkIntervalMs: 1000, maxFrame: 200 * 1024 * 1024, log });
  for (let i = 0; cluster.nodes().filter((p) => p.alive).length < 2; i++) {
    if (i > 100) throw new Error('node 2 did not join node 1');
    await new Promise((r) => setTimeout(r, 100));
    await cluster.discover();
  }
  const store = new MetadataStore(cluster, [1, 2]);
  const defs = parseBucketDefinitions({
    generic: { acl: [{ user: '*', token: '', flags: 1 }, { user: WRITER.user, token: WRITER.token, flags: 2 }] },
    buckets: { b1: { groups: [1, 2] }, b2: { groups: [3, 4] }, b3: { groups: [5, 6] } },
  });
  for (const meta of defs) await store.writeBucket(meta);
  const proxyPort = await freePort();
  const config = path.join(dir, 'proxy.json');
  const buckets = path.join(dir, 'buckets.txt');
  writeFileSync(buckets, 'b1\nb2\nb3\n');
  writeFileSync(config, JSON.stringify({
    elliptics: { remote: [`127.0.0.1:${node1.port}:2`], 'metadata-groups': [1, 2], 'log-level': 'warn', 'node-config': { 'wait-timeout': 10, 'check-timeout': 2 } },
    proxy: { address: `127.0.0.1:${proxyPort}`, workers: opts.workers ?? 2, 'bucket-stat-update-interval': 1, 'free-space-ratio-soft': 0.2, 'free-space-ratio-hard': 0.1, ...opts.proxy },
  }));
  const proxy = spawn(BIN, ['proxy', '--config', config, '--buckets', buckets], { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  proxy.stdout!.on('data', (c) => (out += c));
  proxy.stderr!.on('data', (c) => (out += c));
  await waitForHttp(proxyPort, '/ping/', proxy, () => out);
  return {
    nodes: [node1, node2],
    proxyPort,
    proxy,
    cluster,
    output: () => out,
    async close() {
      cluster.close();
      if (proxy.exitCode === null) {
        proxy.kill('SIGTERM');
        await new Promise((r) => proxy.once('exit', r));
      }
      for (const n of [node1, node2]) await stop(n.proc);
    },
  };
}

/** BACKEND_CONTROL for the backend serving `group` (node 1: groups 1, 3, 5 = backends 1, 2, 3). */
export async function controlGroup(cluster: Cluster, group: number, command: number, delay = 0): Promise<void> {
  const s = new Session(cluster, { groups: [group] });
  const route = cluster.routes.lookup(group, s.id('any'));
  if (!route) throw new Error(`group ${group} has no route`);
  await s.backendControl(route.node, { backendId: route.backendId, command, defragLevel: 0, delay, ids: [] });
}

export interface EmbeddedRig {
  port: number;
  proxy: ChildProcess;
  /** Where the embedded storage node listens (host:port). */
  nodeAddress: string;
  /** PID of the embedded storage node now (it changes when the node is restarted). */
  nodePid(): number | undefined;
  output: () => string;
  close(): Promise<void>;
}

/** The proxy as `npm start` runs it (config.example.json, embedded node), moved under `dir`; its writer token becomes WRITER's. */
export async function startEmbeddedRig(dir: string, proxy: Record<string, unknown> = {}, embedded: Record<string, unknown> = {}): Promise<EmbeddedRig> {
  const config = JSON.parse(readFileSync(EXAMPLE, 'utf8')) as Record<string, Record<string, unknown>>;
  const port = await freePort();
  const nodeAddress = `127.0.0.1:${await freePort()}`;
  Object.assign(config.proxy!, { address: `127.0.0.1:${port}`, workers: 2, ...proxy });
  Object.assign(config.embedded!, { dir: path.join(dir, 'embedded'), address: nodeAddress, ...embedded });
  (config.embedded!.buckets as { generic: { acl: { user: string; token: string }[] } }).generic.acl.find((a) => a.user === WRITER.user)!.token = WRITER.token;
  delete config.elliptics!.remote;
  config.elliptics!['log-level'] = 'warn';
  const file = path.join(dir, 'embedded.json');
  writeFileSync(file, JSON.stringify(config));
  const proc = spawn(BIN, ['proxy', '--config', file], { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  proc.stdout!.on('data', (c) => (out += c));
  proc.stderr!.on('data', (c) => (out += c));
  await waitForHttp(port, '/ping/', proc, () => out);
  return {
    port,
    proxy: proc,
    nodeAddress,
    nodePid: () => {
      try {
        return execFileSync('pgrep', ['-P', String(proc.pid)], { encoding: 'utf8' }).trim().split('\n').map(Number)
          .find((pid) => readFileSync(`/proc/${pid}/cmdline`, 'utf8').includes('storage-node'));
      } catch {
        return undefined;
      }
    },
    output: () => out,
    async close() {
      if (proc.exitCode === null) {
        proc.kill('SIGTERM');
        await new Promise((r) => proc.once('exit', r));
      }
    },
  };
}
