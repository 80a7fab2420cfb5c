// The proxy as operators run it (`backrunner proxy`, cluster mode, uWS workers) in front of the
// two-node test cluster, plus an HTTP client that sends paths exactly as given.

import { spawn, type ChildProcess } from 'node:child_process';
import http from 'node:http';
import https from 'node:https';
import net from 'node:net';
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseBucketDefinitions } from '../../src/buckets/definitions.js';
import { MetadataStore } from '../../src/buckets/metadata-store.js';
import { percentDecode, sign } from '../../src/buckets/signature.js';
import type { TestCluster } from './cluster.js';

const BIN = fileURLToPath(new URL('../../../bin/backrunner', import.meta.url));

export async function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const s = net.createServer().listen(0, '127.0.0.1', () => {
      const port = (s.address() as net.AddressInfo).port;
      s.close(() => resolve(port));
    });
  });
}

export interface Reply {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: Buffer;
}

export interface RequestOptions {
  method?: string;
  headers?: Record<string, string>;
  body?: Buffer | string;
  /** Sign as this user with this token (riftv1). */
  as?: { user: string; token: string };
}

export interface TestProxy {
  port: number;
  httpsPort: number | undefined;
  proc: ChildProcess;
  configFile: string;
  /** What the proxy printed (stdout + stderr). */
  output: () => string;
  request(target: string, opts?: RequestOptions): Promise<Reply>;
  httpsRequest(target: string, opts?: RequestOptions & { ca: Buffer }): Promise<Reply>;
  stop(): Promise<number | null>;
}

/** The Authorization header of a request to `target` (raw path + query) by `user`. */
export function authorization(method: string, target: string, user: string, token: string, headers: Record<string, string> = {}): string {
  const q = target.indexOf('?');
  const signPath = percentDecode(q < 0 ? target : target.slice(0, q))!;
  return `riftv1 ${user}:${sign(token, { method, signPath, rawQuery: q < 0 ? '' : target.slice(q + 1), headers: Object.entries(headers) })}`;
}

export const BUCKETS = {
  generic: {
    acl: [
      { user: '*', token: '', flags: 1 },
      { user: 'reader', token: 'reader token', flags: 0 },
      { user: 'writer', token: 'writer token', flags: 2 },
      { user: 'free', token: 'free token', flags: 3 },
    ],
  },
  buckets: {
    b1: { groups: [1, 2] },
    b2: { groups: [3, 4] },
    b3: { groups: [5, 6] },
    small: { groups: [1, 2], 'max-size': 1000 },
  },
};

/** Buckets the definitions format cannot express: an empty ACL, no groups. */
export async function oddBuckets(store: MetadataStore): Promise<string[]> {
  await store.writeBucket({ version: 1, name: 'closed', acl: new Map(), groups: [3, 4], flags: 0n, maxSize: 0, maxKeyNum: 0 });
  await store.writeBucket({ version: 1, name: 'nogroups', acl: new Map([['*', { version: 2, user: '*', token: '', flags: 3n }]]), groups: [], flags: 0n, maxSize: 0, maxKeyNum: 0 });
  await store.writeBucket({ version: 1, name: 'nowhere', acl: new Map([['*', { version: 2, user: '*', token: '', flags: 3n }]]), groups: [98, 99], flags: 0n, maxSize: 0, maxKeyNum: 0 });
  await store.writeRaw('garbage', Buffer.from('not msgpack'));
  return ['closed', 'nogroups', 'nowhere'];
}

export async function startProxy(tc: TestCluster, opts: { proxy?: Record<string, unknown>; elliptics?: Record<string, unknown>; workers?: number; extraBuckets?: (store: MetadataStore) => Promise<string[]>; env?: Record<string, string>; host?: string; prefix?: string[] } = {}): Promise<TestProxy> {
  const host = opts.host ?? '127.0.0.1';
  const cluster = await tc.connect({ poolSize: 1 });
  const store = new MetadataStore(cluster, [1, 2]);
  const names: string[] = [];
  for (const meta of parseBucketDefinitions(BUCKETS)) {
    await store.writeBucket(meta);
    names.push(meta.name);
  }
  names.push(...((await opts.extraBuckets?.(store)) ?? []));
  const port = await freePort();
  const configFile = path.join(tc.root, `proxy-${port}.json`);
  const bucketsFile = path.join(tc.root, `buckets-${port}.txt`);
  writeFileSync(bucketsFile, `${names.join('\n')}\n`);
  writeFileSync(configFile, JSON.stringify({
    elliptics: { remote: [`${tc.hosts[0]}:${tc.nodes[0]!.port}:2`], 'metadata-groups': [1, 2], 'log-level': process.env.TEST_LOG_LEVEL ?? 'info', 'node-config': { 'wait-timeout': 10, 'check-timeout': 2 }, ...opts.elliptics },
    proxy: {
      address: `${host}:${port}`,
      'bucket-update-interval': 2,
      'bucket-stat-update-interval': 1,
      'free-space-ratio-hard': 0.0001,
      headers: { 'X-Test-Header': 'present', 'Access-Control-Allow-Origin': '*' },
      'content-types': { '.mp4': 'video/mp4', big: 'application/x-big' },
      ...opts.proxy,
    },
  }, null, 2));
  const args = ['proxy', '--config', configFile, '--buckets', bucketsFile, '--workers', String(opts.workers ?? 2)];
  const [cmd, ...cmdArgs] = [...(opts.prefix ?? []), BIN, ...args];
  const proc = spawn(cmd!, cmdArgs, {
    env: { ...process.env, ...opts.env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  proc.stdout!.on('data', (c) => (output += c));
  proc.stderr!.on('data', (c) => (output += c));
  const exited = new Promise<number | null>((resolve) => proc.once('exit', (code) => resolve(code)));
  const httpsPort = typeof opts.proxy?.https_address === 'string' ? Number((opts.proxy.https_address as string).split(':').pop()) : undefined;

  const request = (target: string, o: RequestOptions = {}): Promise<Reply> => send(http, host, port, target, o);
  const until = Date.now() + 30_000;
  for (;;) {
    if (proc.exitCode !== null) throw new Error(`the proxy exited with ${proc.exitCode}:\n${output}`);
    try {
      if ((await request('/ping/')).status === 200) break;
    } catch {
      // not listening yet
    }
    if (Date.now() > until) throw new Error(`the proxy did not answer within 30 s:\n${output}`);
    await new Promise((r) => setTimeout(r, 100));
  }
  cluster.close();
  return {
    port,
    httpsPort,
    proc,
    configFile,
    output: () => output,
    request,
    httpsRequest: (target, o) => send(https, host, httpsPort!, target, o!),
    async stop() {
      if (proc.exitCode === null) proc.kill('SIGTERM');
      return exited;
    },
  };
}

function send(mod: typeof http | typeof https, host: string, port: number, target: string, o: RequestOptions & { ca?: Buffer }): Promise<Reply> {
  const method = o.method ?? 'GET';
  const headers: Record<string, string> = { ...o.headers };
  if (o.as) headers.Authorization = authorization(method, target, o.as.user, o.as.token, Object.fromEntries(Object.entries(headers).filter(([k]) => k.toLowerCase().startsWith('x-ell-'))));
  return new Promise((resolve, reject) => {
    const req = mod.request({ host, port, method, path: target, headers, agent: false, ...(o.ca ? { ca: o.ca, servername: 'localhost' } : {}) }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode!, headers: res.headers, body: Buffer.concat(chunks) }));
      res.on('error', reject);
    });
    req.on('error', reject);
    if (o.body !== undefined) req.end(o.body);
    else req.end();
  });
}

/** Sends raw bytes to the proxy and collects what comes back until it closes or `waitMs` passes. */
export function raw(port: number, bytes: Buffer | string, waitMs = 1000): Promise<string> {
  return new Promise((resolve) => {
    let out = '';
    const s = net.connect(port, '127.0.0.1', () => s.write(bytes));
    s.on('data', (c) => (out += c.toString('latin1')));
    s.on('error', () => undefined);
    const t = setTimeout(() => s.destroy(), waitMs);
    s.on('close', () => {
      clearTimeout(t);
      resolve(out);
    });
  });
}
