// The proxy (2 uWS workers, embedded storage node) under wrk, against two baselines measured in
// the same run: nginx serving the same bytes as static files, and the same objects read and written
// directly through the native client. Then worker memory while a 1 GiB object goes in and out.
//
//   npm run bench:proxy [-- --seconds 5] [--profile] [--only throughput|memory]
//
// Needs wrk and nginx (Debian: apt-get install wrk nginx-light).

import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import http from 'node:http';
import { chmodSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { Cluster } from '../src/elliptics/index.js';
import { VERSION_2_26 } from '../src/elliptics/protocol/index.js';
import { createLogger } from '../src/util/logger.js';
import { printTable, percent } from './lib/table.js';
import { rssOf } from './lib/processes.js';
import { authFor, freePort, waitForHttp, WRITER } from './lib/rig.js';

const arg = (name: string): string | undefined => (process.argv.includes(name) ? process.argv[process.argv.indexOf(name) + 1] : undefined);
const SECONDS = Number(arg('--seconds') ?? 5);
const PROFILE = process.argv.includes('--profile');
const ONLY = arg('--only');
const CONNECTIONS = 16;
const BIN = fileURLToPath(new URL('../../bin/backrunner', import.meta.url));

function step(what: string): void {
  if (process.env.BENCH_VERBOSE) process.stderr.write(`[bench] ${what}\n`);
}

function need(cmd: string): void {
  try {
    execFileSync('sh', ['-c', `command -v ${cmd}`], { stdio: 'ignore' });
  } catch {
    process.stderr.write(`bench/proxy needs ${cmd} (Debian: apt-get install wrk nginx-light)\n`);
    process.exit(2);
  }
}

interface WrkResult {
  rps: number;
  mbps: number;
  errors: number;
}

/** Runs wrk (its own process) against a URL; optional Lua script for uploads. */
function wrk(url: string, script?: string): WrkResult {
  const args = ['-t', '2', '-c', String(CONNECTIONS), '-d', `${SECONDS}s`, ...(script ? ['-s', script] : []), url];
  const out = execFileSync('wrk', args, { encoding: 'utf8' });
  const rps = Number(/Requests\/sec:\s+([\d.]+)/.exec(out)?.[1] ?? 0);
  const t = /Transfer\/sec:\s+([\d.]+)(\w+)/.exec(out);
  const unit = { B: 1, KB: 1024, MB: 1024 ** 2, GB: 1024 ** 3 }[t?.[2] ?? 'B'] ?? 1;
  const errors = Number(/Non-2xx or 3xx responses:\s+(\d+)/.exec(out)?.[1] ?? 0) + Number(/Socket errors:.*?(\d+) timeout/.exec(out)?.[1] ?? 0);
  return { rps, mbps: (Number(t?.[1] ?? 0) * unit) / 1e6, errors };
}

/** An upload; a streamed one goes chunked with X-Ell-Content-Length (uWS caps Content-Length at 9 digits). */
function put(port: number, target: string, body: Buffer | { size: number; piece: (at: number, n: number) => Buffer }): Promise<number> {
  const size = Buffer.isBuffer(body) ? body.length : body.size;
  const headers = Buffer.isBuffer(body)
    ? { 'Content-Length': String(size), Authorization: authFor('POST', target) }
    : { 'X-Ell-Content-Length': String(size), Authorization: authFor('POST', target, { 'X-Ell-Content-Length': String(size) }) };
  return new Promise((resolve, reject) => {
    const req = http.request({ host: '127.0.0.1', port, method: 'POST', path: target, agent: false, headers }, (res) => {
      res.resume();
      res.on('end', () => resolve(res.statusCode!));
    });
    req.on('error', reject);
    if (Buffer.isBuffer(body)) return void req.end(body);
    let at = 0;
    const pump = (): void => {
      while (at < size) {
        const n = Math.min(1024 * 1024, size - at);
        const ok = req.write(body.piece(at, n));
        at += n;
        if (!ok) return void req.once('drain', pump);
      }
      req.end();
    };
    pump();
  });
}

function download(port: number, target: string): Promise<number> {
  return new Promise((resolve, reject) => {
    http.get({ host: '127.0.0.1', port, path: target, agent: false }, (res) => {
      let n = 0;
      res.on('data', (c: Buffer) => (n += c.length));
      res.on('end', () => resolve(n));
    }).on('error', reject);
  });
}

function workerPids(primary: number): number[] {
  try {
    const children = execFileSync('pgrep', ['-P', String(primary)], { encoding: 'utf8' }).trim().split('\n').map(Number);
    // The embedded node is a child too; workers run http-worker.js.
    return children.filter((pid) => readFileSync(`/proc/${pid}/cmdline`, 'utf8').includes('http-worker'));
  } catch {
    return [];
  }
}

async function main(): Promise<void> {
  if (ONLY !== 'memory') {
    need('wrk');
    need('nginx');
  }
  const dir = mkdtempSync(path.join(os.tmpdir(), 'backrunner-bench-proxy-'));
  const procs: ChildProcess[] = [];
  try {
    const small = Buffer.alloc(4096, 0x61);
    const big = Buffer.alloc(1024 * 1024, 0x62);

    // --- the proxy on the embedded node
    const port = await freePort();
    const nodePort = await freePort();
    const config = path.join(dir, 'config.json');
    writeFileSync(config, JSON.stringify({
      elliptics: { 'metadata-groups': [1, 2], 'log-level': 'warn', 'pool-size': 2 },
      proxy: { address: `127.0.0.1:${port}`, workers: 2, 'bucket-stat-update-interval': 5 },
      embedded: {
        dir: path.join(dir, 'embedded'), address: `127.0.0.1:${nodePort}`, groups: [1, 2], sync: 1,
        buckets: { generic: { acl: [{ user: '*', token: '', flags: 1 }, { user: WRITER.user, token: WRITER.token, flags: 2 }] }, buckets: { b1: { groups: [1, 2] } } },
      },
    }));
    const profDir = path.join(dir, 'profiles');
    const proxy = spawn(BIN, ['proxy', '--config', config], {
      stdio: ['ignore', 'pipe', 'pipe'],
      env: { ...process.env, ...(PROFILE ? { BACKRUNNER_CPU_PROFILE_DIR: profDir } : {}) },
    });
    procs.push(proxy);
    let log = '';
    proxy.stdout!.on('data', (c) => (log += c));
    proxy.stderr!.on('data', (c) => (log += c));
    await waitForHttp(port, '/ping/', proxy, () => log);
    step('proxy up');
    for (const [name, body] of [['k4', small], ['k1m', big]] as const) {
      step(`uploading ${name}`);
      const status = await put(port, `/upload/b1/${name}`, body);
      step(`uploaded ${name}: ${status}`);
      if (status !== 200) throw new Error(`upload of ${name} answered ${status}`);
    }

    if (ONLY !== 'memory') await throughput(dir, port, nodePort, small, big, procs);
    if (ONLY !== 'throughput') await memory(port, proxy.pid!);

    if (PROFILE) {
      proxy.kill('SIGTERM');
      await new Promise((r) => proxy.once('exit', r));
      for (const f of readdirSync(profDir).filter((x) => x.endsWith('.cpuprofile'))) topFunctions(path.join(profDir, f));
    }
  } finally {
    for (const p of procs) if (p.exitCode === null) p.kill('SIGTERM');
    await new Promise((r) => setTimeout(r, 500));
    rmSync(dir, { recursive: true, force: true });
  }
}

/** GET and upload under wrk, beside nginx and the native client. */
async function throughput(dir: string, port: number, nodePort: number, small: Buffer, big: Buffer, procs: ChildProcess[]): Promise<void> {
  // --- nginx with the same bytes as files
  const www = path.join(dir, 'www');
  mkdirSync(path.join(www, 'b1'), { recursive: true });
  writeFileSync(path.join(www, 'b1', 'k4'), small);
  writeFileSync(path.join(www, 'b1', 'k1m'), big);
  // nginx workers run as an unprivileged user when the master is root: the files must be readable.
  for (const d of [dir, www, path.join(www, 'b1')]) chmodSync(d, 0o755);
  const nginxPort = await freePort();
  const nginxConf = path.join(dir, 'nginx.conf');
  writeFileSync(nginxConf, `worker_processes 2;\npid ${dir}/nginx.pid;\nerror_log ${dir}/nginx-error.log;\nevents { worker_connections 1024; }\nhttp {\n  access_log off;\n  sendfile on;\n  tcp_nopush on;\n  keepalive_requests 100000;\n  client_body_temp_path ${dir}/nginx-body;\n  proxy_temp_path ${dir}/nginx-proxy;\n  fastcgi_temp_path ${dir}/nginx-fcgi;\n  uwsgi_temp_path ${dir}/nginx-uwsgi;\n  scgi_temp_path ${dir}/nginx-scgi;\n  server { listen 127.0.0.1:${nginxPort}; root ${www}; location /get/ { alias ${www}/; } }\n}\n`);
  const nginx = spawn('nginx', ['-c', nginxConf, '-p', dir, '-g', 'daemon off;'], { stdio: 'ignore' });
  procs.push(nginx);
  await waitForHttp(nginxPort, '/get/b1/k4', nginx, () => readFileSync(`${dir}/nginx-error.log`, 'utf8'));
  step('nginx up');

  // --- the native client, directly
  const cluster = await Cluster.connect({
    remotes: [{ host: '127.0.0.1', port: nodePort }], protocolVersion: VERSION_2_26, poolSize: 2, timeoutMs: 60_000, checkIntervalMs: 30_000, maxFrame: 200 * 1024 * 1024, log: createLogger('bench', { level: 'warn' }),
  });
  const session = cluster.session({ namespace: 'b1', groups: [1, 2] });
  const direct = async (op: () => Promise<unknown>, bytes: number): Promise<WrkResult> => {
    const until = performance.now() + SECONDS * 1000;
    const t0 = performance.now();
    let n = 0;
    await Promise.all(Array.from({ length: CONNECTIONS }, async () => {
      while (performance.now() < until) {
        await op();
        n++;
      }
    }));
    const s = (performance.now() - t0) / 1000;
    return { rps: n / s, mbps: (n * bytes) / s / 1e6, errors: 0 };
  };

  const uploadScript = path.join(dir, 'upload.lua');
  writeFileSync(uploadScript, `wrk.method = "POST"\nwrk.body = string.rep("u", ${big.length})\nwrk.headers["Authorization"] = "${authFor('POST', '/upload/b1/wrk-up')}"\n`);

  const rows: (string | number)[][] = [];
  step('measuring');
  const get4 = wrk(`http://127.0.0.1:${port}/get/b1/k4`);
  const nginx4 = wrk(`http://127.0.0.1:${nginxPort}/get/b1/k4`);
  const client4 = await direct(() => session.read('k4'), small.length);
  rows.push(['GET 4 KiB', get4.rps, get4.mbps, nginx4.rps, nginx4.mbps, client4.rps, percent(get4.rps, nginx4.rps), 'req/s vs nginx ≥ 50%']);
  const get1 = wrk(`http://127.0.0.1:${port}/get/b1/k1m`);
  const nginx1 = wrk(`http://127.0.0.1:${nginxPort}/get/b1/k1m`);
  const client1 = await direct(async () => {
    const r = await session.openReader('k1m');
    for await (const part of r) void part;
  }, big.length);
  rows.push(['GET 1 MiB', get1.rps, get1.mbps, nginx1.rps, nginx1.mbps, client1.rps, percent(get1.mbps, nginx1.mbps), 'MB/s vs nginx ≥ 40%']);
  const up1 = wrk(`http://127.0.0.1:${port}/upload/b1/wrk-up`, uploadScript);
  const clientUp = await direct(() => session.write('direct-up', big), big.length);
  // wrk's Transfer/sec counts what came back; an upload moves its body the other way.
  const upMbps = (up1.rps * big.length) / 1e6;
  rows.push(['upload 1 MiB → 2 groups', up1.rps, upMbps, '-', '-', clientUp.rps, percent(upMbps, clientUp.mbps), 'MB/s vs client ≥ 50%']);
  printTable(`proxy (2 workers, embedded node) vs nginx and the native client; wrk -t2 -c${CONNECTIONS} -d${SECONDS}s, client ${CONNECTIONS} in flight`,
    ['case', 'proxy req/s', 'proxy MB/s', 'nginx req/s', 'nginx MB/s', 'client ops/s', 'ratio', 'target'], rows);
  if (get4.errors + get1.errors + up1.errors > 0) process.stdout.write(`non-2xx or timeouts: get4 ${get4.errors}, get1 ${get1.errors}, upload ${up1.errors}\n`);
  process.stdout.write(`client MB/s: read 4 KiB ${client4.mbps.toFixed(1)}, read 1 MiB ${client1.mbps.toFixed(1)}, write 1 MiB ${clientUp.mbps.toFixed(1)} (object bytes; a write goes to 2 groups)\n`);

  cluster.close();
}

/** Worker memory (both workers' RSS) while a 1 GiB object goes in, then out. */
async function memory(port: number, primaryPid: number): Promise<void> {
  step('memory');
  const pids = workerPids(primaryPid);
  const rss = (): number => pids.reduce((n, pid) => n + rssOf(pid), 0);
  const before = rss();
  let peak = before;
  const sampler = setInterval(() => (peak = Math.max(peak, rss())), 50);
  const gib = 1024 ** 3;
  const piece = Buffer.alloc(1024 * 1024, 0x63);
  const mib = (n: number): string => `${(n / 2 ** 20).toFixed(0)} MiB`;
  const t0 = performance.now();
  const st = await put(port, '/upload/b1/one-gib', { size: gib, piece: () => piece });
  const upPeak = peak;
  const t1 = performance.now();
  const got = await download(port, '/get/b1/one-gib');
  const t2 = performance.now();
  clearInterval(sampler);
  printTable('worker memory (RSS of both workers) while a 1 GiB object is uploaded, then downloaded, through the proxy',
    ['upload', 'downloaded', 'RSS before', 'peak in upload', 'peak in download', 'RSS after', 'peak growth', 'target', 'up s', 'down s'],
    [[String(st), `${(got / gib).toFixed(2)} GiB`, mib(before), mib(upPeak), mib(peak), mib(rss()), mib(peak - before), '≤ 64 MiB', ((t1 - t0) / 1000).toFixed(1), ((t2 - t1) / 1000).toFixed(1)]]);
}

/** Self time per function of a V8 CPU profile: where a worker spends its time. */
function topFunctions(file: string): void {
  const p = JSON.parse(readFileSync(file, 'utf8')) as { nodes: { id: number; callFrame: { functionName: string; url: string; lineNumber: number } }[]; samples: number[]; timeDeltas: number[] };
  const time = new Map<number, number>();
  p.samples.forEach((id, i) => time.set(id, (time.get(id) ?? 0) + (p.timeDeltas[i] ?? 0)));
  const self = new Map<string, number>();
  let total = 0;
  for (const n of p.nodes) {
    const t = time.get(n.id) ?? 0;
    total += t;
    const key = `${n.callFrame.functionName || '(anonymous)'} ${n.callFrame.url.split('/').slice(-2).join('/')}:${n.callFrame.lineNumber}`;
    self.set(key, (self.get(key) ?? 0) + t);
  }
  process.stdout.write(`\nCPU profile ${path.basename(file)} (${(total / 1e6).toFixed(1)} s sampled), top self time:\n`);
  for (const [k, v] of [...self].sort((a, b) => b[1] - a[1]).slice(0, 15)) process.stdout.write(`  ${((v / total) * 100).toFixed(1).padStart(5)}%  ${k}\n`);
}

await main();
