// The proxy (2 uWS workers, embedded storage node) under wrk, against baselines measured in the same
// run: nginx serving the same bytes as static files (GETs), the same reads and writes issued
// directly through the native client (every case). For each case: requests/s, MB/s, p50/p99, the
// CPU µs per request of each process kind (workers, primary, storage node, load generator), and the
// peak RSS of each kind. Then worker memory while a 1 GiB object goes in and out.
//
// Cases run in rounds (--rounds, default 3), each round every case and every side in turn, so that a
// slow spell of this shared machine falls on all of them; figures add up over the rounds. The CPU
// of the whole proxy tree (workers + primary + embedded node) per request is what the targets
// bound.
//
//   npm run bench:proxy [-- --seconds 5] [--rounds 3] [--rest 20] [--only get4,get1m,up4,up1m,memory] [--profile] [--page-cache-cap 512]
//
// --page-cache-cap: the embedded node in a memory cgroup of that many MiB (bench/lib/memory-cap.ts).
//
// Needs wrk and nginx (Debian: apt-get install wrk nginx-light).

import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import http from 'node:http';
import { chmodSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { Cluster, ObjectReader, Session } from '../src/elliptics/index.js';
import { VERSION_2_26 } from '../src/elliptics/protocol/index.js';
import { createLogger } from '../src/util/logger.js';
import { cpuSecondsOf, pssOf, rssOf } from './lib/processes.js';
import { authFor, freePort, waitForHttp, WRITER } from './lib/rig.js';
import { writeBarChart } from './lib/svg.js';
import { percent, printTable, say } from './lib/table.js';
import { argValue } from './lib/args.js';
import { need, wrk } from './lib/wrk.js';
import { MemoryCap } from './lib/memory-cap.js';

const SECONDS = Number(argValue('--seconds') ?? 5);
const ROUNDS = Number(argValue('--rounds') ?? 3);
const WARM_UP_SECONDS = 1;
/** Seconds at rest before the tree's memory after the run is taken (`--rest`). */
const REST_SECONDS = Number(argValue('--rest') ?? 20);
const PROFILE = process.argv.includes('--profile');
/** `--only get4,up4`: the cases to run (all when absent). */
const ONLY = argValue('--only')?.split(',');
const wanted = (key: string): boolean => !ONLY || ONLY.includes(key);
const BIN = fileURLToPath(new URL('../../bin/backrunner', import.meta.url));
const MIB = 1024 * 1024;

/** The processes of one side of a comparison, by kind. */
type Kinds = Record<string, () => number[]>;

interface Measured {
  requests: number;
  seconds: number;
  /** Object bytes moved per second (either way). */
  mbps: number;
  p50: number;
  p99: number;
  /** CPU µs per request, by process kind. */
  cpu: Record<string, number>;
  /** Peak RSS by process kind (the largest process of the kind), bytes. */
  rss: Record<string, number>;
  errors: number;
}

/** Samples CPU and RSS of `kinds` around `run`. */
async function metered(kinds: Kinds, run: () => Promise<Omit<Measured, 'cpu' | 'rss'> & { extraCpu?: Record<string, number> }>): Promise<Measured> {
  const pids = Object.fromEntries(Object.entries(kinds).map(([k, f]) => [k, f()]));
  const cpu0 = Object.fromEntries(Object.entries(pids).map(([k, ps]) => [k, ps.reduce((n, p) => n + cpuSecondsOf(p), 0)]));
  const rss: Record<string, number> = {};
  const sample = (): void => {
    for (const [k, ps] of Object.entries(pids)) for (const p of ps) rss[k] = Math.max(rss[k] ?? 0, rssOf(p));
  };
  sample();
  const sampler = setInterval(sample, 100);
  const r = await run();
  clearInterval(sampler);
  sample();
  const cpu: Record<string, number> = {};
  for (const [k, ps] of Object.entries(pids)) cpu[k] = ((ps.reduce((n, p) => n + cpuSecondsOf(p), 0) - cpu0[k]!) / r.requests) * 1e6;
  for (const [k, s] of Object.entries(r.extraCpu ?? {})) cpu[k] = (s / r.requests) * 1e6;
  return { ...r, cpu, rss };
}

/** wrk against `url`, as a Measured without CPU and RSS (metered adds them). */
async function wrkRun(url: string, connections: number, bytesPerRequest: number, script?: string, seconds = SECONDS): Promise<Omit<Measured, 'cpu' | 'rss'> & { extraCpu: Record<string, number> }> {
  const { loadGenCpu, ...r } = await wrk(url, { connections, seconds, bytesPerRequest, ...(script ? { script } : {}) });
  return { ...r, extraCpu: { 'load gen': loadGenCpu } };
}

/** The same operation issued directly through the native client, `concurrency` in flight. */
async function direct(concurrency: number, bytesPerRequest: number, op: (i: number) => Promise<unknown>, duration = SECONDS): Promise<Omit<Measured, 'cpu' | 'rss'> & { extraCpu: Record<string, number> }> {
  const lat: number[] = [];
  const cpu0 = process.cpuUsage();
  const t0 = performance.now();
  const until = t0 + duration * 1000;
  let n = 0;
  await Promise.all(Array.from({ length: concurrency }, async () => {
    while (performance.now() < until) {
      const s = performance.now();
      await op(n++);
      lat.push(performance.now() - s);
    }
  }));
  const seconds = (performance.now() - t0) / 1000;
  const c = process.cpuUsage(cpu0);
  lat.sort((a, b) => a - b);
  return { requests: lat.length, seconds, mbps: (lat.length * bytesPerRequest) / seconds / 1e6, p50: lat[Math.floor(lat.length / 2)] ?? 0, p99: lat[Math.floor(lat.length * 0.99)] ?? 0, errors: 0, extraCpu: { client: (c.user + c.system) / 1e6 } };
}

interface Row {
  name: string;
  side: string;
  m: Measured;
  rounds: number;
}

function childrenOf(pid: number, script: string): number[] {
  try {
    return execFileSync('pgrep', ['-P', String(pid)], { encoding: 'utf8' }).trim().split('\n').map(Number)
      .filter((p) => readFileSync(`/proc/${p}/cmdline`, 'utf8').includes(script));
  } catch {
    return [];
  }
}

async function main(): Promise<void> {
  if (!ONLY || ONLY.some((k) => k !== 'memory')) {
    need('wrk', 'bench/proxy');
    need('nginx', 'bench/proxy');
  }
  const dir = mkdtempSync(path.join(os.tmpdir(), 'backrunner-bench-proxy-'));
  const procs: ChildProcess[] = [];
  const cap = MemoryCap.fromArgs('bench/proxy');
  try {
    const small = Buffer.alloc(4096, 0x61);
    const big = Buffer.alloc(MIB, 0x62);

    // --- the proxy on the embedded node; b1 is open for anonymous writes so wrk can upload without signing
    const port = await freePort();
    const nodePort = await freePort();
    const config = path.join(dir, 'config.json');
    writeFileSync(config, JSON.stringify({
      elliptics: { 'metadata-groups': [1, 2], 'log-level': 'error', 'pool-size': 2 },
      proxy: { address: `127.0.0.1:${port}`, workers: 2, 'bucket-stat-update-interval': 5 },
      embedded: {
        dir: path.join(dir, 'embedded'), address: `127.0.0.1:${nodePort}`, groups: [1, 2], sync: 1,
        buckets: { generic: { acl: [{ user: '*', token: '', flags: 3 }, { user: WRITER.user, token: WRITER.token, flags: 2 }] }, buckets: { b1: { groups: [1, 2] } } },
      },
    }));
    const profDir = path.join(dir, 'profiles');
    const proxy = spawn(BIN, ['proxy', '--config', config], { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, ...(PROFILE ? { BACKRUNNER_CPU_PROFILE_DIR: profDir } : {}) } });
    procs.push(proxy);
    let log = '';
    proxy.stdout!.on('data', (c) => (log += c));
    proxy.stderr!.on('data', (c) => (log += c));
    await waitForHttp(port, '/ping/', proxy, () => log);
    const kinds: Kinds = {
      workers: () => childrenOf(proxy.pid!, 'http-worker'),
      primary: () => [proxy.pid!],
      node: () => childrenOf(proxy.pid!, 'storage-node'),
    };
    if (cap) {
      for (const pid of kinds.node!()) cap.add(pid);
      say(cap.label);
    }
    for (const [name, body] of [['k4', small], ['k1m', big]] as const) {
      const r = await fetchStatus(port, 'POST', `/upload/b1/${name}`, body);
      if (r !== 200) throw new Error(`upload of ${name} answered ${r}`);
    }

    if (!ONLY || ONLY.some((k) => k !== 'memory')) await throughput(dir, port, nodePort, small, big, procs, kinds);
    if (cap) say(`${cap.label}: ${cap.report()}`);
    if (wanted('memory')) await memory(port, proxy.pid!);
    if (PROFILE) {
      proxy.kill('SIGTERM');
      await new Promise((r) => proxy.once('exit', r));
      for (const f of readdirSync(profDir).filter((x) => x.endsWith('.cpuprofile'))) topFunctions(path.join(profDir, f));
    }
  } finally {
    for (const p of procs) if (p.exitCode === null) p.kill('SIGTERM');
    await new Promise((r) => setTimeout(r, 500));
    await cap?.remove();
    rmSync(dir, { recursive: true, force: true });
  }
}

function fetchStatus(port: number, method: string, target: string, body?: Buffer): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = http.request({ host: '127.0.0.1', port, method, path: target, agent: false, headers: body ? { 'Content-Length': String(body.length) } : {} }, (res) => {
      res.resume();
      res.on('end', () => resolve(res.statusCode!));
    });
    req.on('error', reject);
    req.end(body);
  });
}

/** Every case under wrk beside its baselines; one table with all figures, one with the ratios. */
async function throughput(dir: string, port: number, nodePort: number, small: Buffer, big: Buffer, procs: ChildProcess[], kinds: Kinds): Promise<void> {
  // --- nginx with the same bytes as files
  const www = path.join(dir, 'www');
  mkdirSync(path.join(www, 'b1'), { recursive: true });
  writeFileSync(path.join(www, 'b1', 'k4'), small);
  writeFileSync(path.join(www, 'b1', 'k1m'), big);
  for (const d of [dir, www, path.join(www, 'b1')]) chmodSync(d, 0o755);
  const nginxPort = await freePort();
  const nginxConf = path.join(dir, 'nginx.conf');
  writeFileSync(nginxConf, `worker_processes 2;\npid ${dir}/nginx.pid;\nerror_log ${dir}/nginx-error.log;\nevents { worker_connections 1024; }\nhttp {\n  access_log off;\n  sendfile on;\n  tcp_nopush on;\n  keepalive_requests 100000;\n  client_body_temp_path ${dir}/nginx-body;\n  proxy_temp_path ${dir}/nginx-proxy;\n  fastcgi_temp_path ${dir}/nginx-fcgi;\n  uwsgi_temp_path ${dir}/nginx-uwsgi;\n  scgi_temp_path ${dir}/nginx-scgi;\n  server { listen 127.0.0.1:${nginxPort}; root ${www}; location /get/ { alias ${www}/; } }\n}\n`);
  const nginx = spawn('nginx', ['-c', nginxConf, '-p', dir, '-g', 'daemon off;'], { stdio: 'ignore' });
  procs.push(nginx);
  await waitForHttp(nginxPort, '/get/b1/k4', nginx, () => readFileSync(`${dir}/nginx-error.log`, 'utf8'));
  const nginxKinds: Kinds = { nginx: () => [nginx.pid!, ...childrenOf(nginx.pid!, 'nginx')] };

  // --- the native client, directly, to the same node and groups
  const cluster = await Cluster.connect({
    remotes: [{ host: '127.0.0.1', port: nodePort }], protocolVersion: VERSION_2_26, poolSize: 2, timeoutMs: 60_000, checkIntervalMs: 30_000, maxFrame: 200 * MIB, log: createLogger('bench', { level: 'error' }),
  });
  const session: Session = new Session(cluster, { namespace: 'b1', groups: [1, 2] });
  const clientKinds: Kinds = { node: kinds.node! };

  const script = (name: string, lua: string): string => {
    const file = path.join(dir, `${name}.lua`);
    writeFileSync(file, lua);
    return file;
  };
  const uploadLua = (size: number, fresh: boolean): string => script(`up-${size}-${fresh}`, [
    'wrk.method = "POST"',
    `wrk.body = string.rep("u", ${size})`,
    // Overwrites: 16 keys in turn, as the client baseline (one key would serialise every write on the
    // node's per-key lock), their requests built once — wrk.format per request makes a new Lua string
    // of the body each time, which cost wrk 4.6 ms of CPU per 1 MiB request, more than the whole tree.
    // New keys: a fresh one per request, so each request is built (wrk's cost shows in `load gen`).
    'local n = 0',
    fresh
      ? 'request = function()\n  n = n + 1\n  return wrk.format(nil, "/upload/b1/new-" .. tostring(n) .. "-" .. tostring(math.random(1e9)))\nend'
      : `local built = {}\ninit = function()\n  for i = 0, 15 do built[i] = wrk.format(nil, "/upload/b1/over-${size}-" .. i) end\nend\nrequest = function()\n  n = n + 1\n  return built[n % 16]\nend`,
  ].join('\n'));

  const rows: Row[] = [];
  /** Adds a round's figures to the case's row of that side (requests, time and CPU summed; peaks kept). */
  const run = async (name: string, side: string, k: Kinds, f: () => ReturnType<typeof wrkRun>): Promise<void> => {
    const m = await metered(k, f);
    const row = rows.find((r) => r.name === name && r.side === side);
    if (!row) return void rows.push({ name, side, m, rounds: 1 });
    const n = row.m.requests + m.requests;
    const cpu: Record<string, number> = {};
    for (const key of new Set([...Object.keys(row.m.cpu), ...Object.keys(m.cpu)])) cpu[key] = ((row.m.cpu[key] ?? 0) * row.m.requests + (m.cpu[key] ?? 0) * m.requests) / n;
    const rss: Record<string, number> = { ...row.m.rss };
    for (const [key, v] of Object.entries(m.rss)) rss[key] = Math.max(rss[key] ?? 0, v);
    const seconds = row.m.seconds + m.seconds;
    row.m = {
      requests: n, seconds, mbps: (row.m.mbps * row.m.seconds + m.mbps * m.seconds) / seconds,
      p50: Math.max(row.m.p50, m.p50), p99: Math.max(row.m.p99, m.p99), cpu, rss, errors: row.m.errors + m.errors,
    };
    row.rounds++;
  };
  const ratios: (string | number)[][] = [];
  const chart: { name: string; proxy: number; base: number }[] = [];
  // Targets: a ratio to the baseline of the same run (nginx for reads; uploads have none, their
  // ratio is shown against the client for reference) and the tree's CPU µs per request.
  const cases = [
    { key: 'get4', name: 'GET 4 KiB', conns: 64, bytes: small.length, url: '/get/b1/k4', nginx: '/get/b1/k4', client: () => session.read('k4'), target: ['nginx req/s', 0.45] as const, treeCpu: 55 },
    { key: 'get1m', name: 'GET 1 MiB', conns: 16, bytes: big.length, url: '/get/b1/k1m', nginx: '/get/b1/k1m', client: async () => { const r = await ObjectReader.open(session, session.id('k1m')); for await (const part of r) void part; }, target: ['nginx MB/s', 0.7] as const, treeCpu: 400 },
    { key: 'up4', name: 'upload 4 KiB, overwrite', conns: 16, bytes: small.length, url: '/upload/b1/wrk-4k', lua: uploadLua(small.length, false), client: (i: number) => session.write(`direct-4k-${i % 16}`, small), target: ['client req/s', 0] as const, treeCpu: 150 },
    { key: 'up4', name: 'upload 4 KiB, new keys', conns: 16, bytes: small.length, url: '/', lua: uploadLua(small.length, true), client: (i: number) => session.write(`direct-new-4k-${i}-${Math.random()}`, small), target: ['client req/s', 0] as const, treeCpu: 150 },
    { key: 'up1m', name: 'upload 1 MiB, overwrite', conns: 16, bytes: big.length, url: '/upload/b1/wrk-1m', lua: uploadLua(big.length, false), client: (i: number) => session.write(`direct-1m-${i % 16}`, big), target: ['client MB/s', 0] as const, treeCpu: 3000 },
    { key: 'up1m', name: 'upload 1 MiB, new keys', conns: 16, bytes: big.length, url: '/', lua: uploadLua(big.length, true), client: (i: number) => session.write(`direct-new-1m-${i}-${Math.random()}`, big), target: ['client MB/s', 0] as const, treeCpu: 3000 },
  ].filter((c) => wanted(c.key));
  for (const c of cases) {
    // An unmeasured second first: the code paths of the case are compiled and the pools filled.
    await wrkRun(`http://127.0.0.1:${port}${c.url}`, c.conns, c.bytes, c.lua, WARM_UP_SECONDS);
    await direct(c.conns, c.bytes, c.client, WARM_UP_SECONDS);
  }
  for (let round = 0; round < ROUNDS; round++) {
    for (const c of cases) {
      await run(c.name, 'proxy', kinds, () => wrkRun(`http://127.0.0.1:${port}${c.url}`, c.conns, c.bytes, c.lua));
      if (c.nginx) await run(c.name, 'nginx', nginxKinds, () => wrkRun(`http://127.0.0.1:${nginxPort}${c.nginx}`, c.conns, c.bytes));
      await run(c.name, 'client', clientKinds, () => direct(c.conns, c.bytes, c.client));
    }
  }
  cluster.close();
  const treeOf = (m: Measured): number => (m.cpu.workers ?? 0) + (m.cpu.primary ?? 0) + (m.cpu.node ?? 0);
  for (const c of cases) {
    const px = rows.find((r) => r.name === c.name && r.side === 'proxy')!.m;
    const base = rows.find((r) => r.name === c.name && r.side === (c.target[0].startsWith('nginx') ? 'nginx' : 'client'))!.m;
    const byMb = c.target[0].endsWith('MB/s');
    const ratio = byMb ? px.mbps / base.mbps : px.requests / px.seconds / (base.requests / base.seconds);
    const tree = treeOf(px);
    const verdicts = [
      ...(c.target[1] > 0 ? [`${c.target[0]} ≥ ${c.target[1] * 100}%: ${ratio >= c.target[1] ? 'met' : 'missed'}`] : []),
      `tree ${Math.round(tree)} µs/req ≤ ${c.treeCpu}: ${tree <= c.treeCpu ? 'met' : 'missed'}`,
    ];
    ratios.push([c.name, percent(ratio, 1), c.target[0], Math.round(tree), verdicts.join('; ')]);
    chart.push({ name: c.name, proxy: Math.round(ratio * 100), base: c.target[1] * 100 });
  }

  const kindsShown = ['workers', 'primary', 'node', 'load gen', 'nginx', 'client'];
  const mib = (n: number | undefined): string => (n ? `${(n / MIB).toFixed(0)}` : '-');
  printTable(`every case: wrk -t1, ${ROUNDS} rounds × ${SECONDS} s, interleaved, after ${WARM_UP_SECONDS} s unmeasured (connections as listed; proxy = 2 workers + primary + embedded node; tree = their sum; client = the native client in this process, as many in flight)`,
    ['case', 'side', 'conns', 'req/s', 'MB/s', 'p50 ms', 'p99 ms', 'tree µs/req', ...kindsShown.map((k) => `${k} µs/req`), 'peak RSS MiB (w/p/n)', 'errors'],
    rows.map((r) => [r.name, r.side, cases.find((c) => c.name === r.name)!.conns, r.m.requests / r.m.seconds, r.m.mbps, r.m.p50, r.m.p99,
      r.side === 'proxy' ? Math.round(treeOf(r.m)) : '-',
      ...kindsShown.map((k) => (r.m.cpu[k] === undefined ? '-' : Math.round(r.m.cpu[k]!))),
      r.side === 'proxy' ? `${mib(r.m.rss.workers)}/${mib(r.m.rss.primary)}/${mib(r.m.rss.node)}` : r.side === 'nginx' ? mib(r.m.rss.nginx) : `node ${mib(r.m.rss.node)}`, r.m.errors]));
  printTable('targets (ratios measured in this run)', ['case', 'ratio', 'to', 'tree µs/req', 'verdict'], ratios);
  const worst = Math.max(...rows.filter((r) => r.side === 'proxy').map((r) => r.m.rss.workers ?? 0));
  const primary = Math.max(...rows.filter((r) => r.side === 'proxy').map((r) => r.m.rss.primary ?? 0));
  const tree = Object.values(kinds).flatMap((f) => f());
  const pssByKind = (): string => Object.entries(kinds).map(([k, f]) => `${k} ${f().map((p) => mib(pssOf(p))).join('+')}`).join(', ');
  const treePss = (): number => tree.reduce((n, pid) => n + pssOf(pid), 0);
  const treeRss = tree.reduce((n, pid) => n + rssOf(pid), 0);
  say(`peak RSS: each worker ≤ ${mib(worst)} MiB (target ≤ 96), primary ≤ ${mib(primary)} MiB (target ≤ 80); the whole tree right after the run: ${mib(treePss())} MiB PSS (${pssByKind()}; the code pages all ${tree.length} processes share counted once — the sum of their RSS is ${mib(treeRss)} MiB)`);
  // Idle pools are handed back after IDLE_TRIM_SECONDS without use (src/util/buffer-pool.ts): the
  // figure the target bounds is the tree at rest after the run.
  await new Promise((r) => setTimeout(r, REST_SECONDS * 1000));
  say(`the whole tree ${REST_SECONDS} s after the run: ${mib(treePss())} MiB PSS (target ≤ 300; ${pssByKind()})`);
  writeBarChart('proxy', {
    title: 'Proxy vs its baseline in the same run (%)',
    yLabel: '% of the baseline',
    categories: chart.map((c) => c.name.replace('upload ', 'up ')),
    series: [{ name: 'proxy / baseline', values: chart.map((c) => c.proxy) }, { name: 'target', values: chart.map((c) => c.base) }],
  });
}

/** Worker memory (each worker's RSS) while a 1 GiB object goes in, then out. */
async function memory(port: number, primaryPid: number): Promise<void> {
  const pids = childrenOf(primaryPid, 'http-worker');
  const sum = (): number => pids.reduce((n, pid) => n + rssOf(pid), 0);
  const largest = (): number => Math.max(...pids.map(rssOf));
  const before = sum();
  let peak = before;
  let peakOne = largest();
  const sampler = setInterval(() => {
    peak = Math.max(peak, sum());
    peakOne = Math.max(peakOne, largest());
  }, 50);
  const gib = 1024 ** 3;
  const piece = Buffer.alloc(MIB, 0x63);
  const mib = (n: number): string => `${(n / MIB).toFixed(0)} MiB`;
  const t0 = performance.now();
  const st = await put(port, '/upload/b1/one-gib', gib, piece);
  const upPeak = peak;
  const t1 = performance.now();
  const got = await download(port, '/get/b1/one-gib');
  const t2 = performance.now();
  clearInterval(sampler);
  printTable('worker memory (RSS of both workers) while a 1 GiB object is uploaded, then downloaded, through the proxy',
    ['upload', 'downloaded', 'RSS before', 'peak in upload', 'peak in download', 'RSS after', 'peak growth', 'target', 'largest worker', 'up s', 'down s'],
    [[String(st), `${(got / gib).toFixed(2)} GiB`, mib(before), mib(upPeak), mib(peak), mib(sum()), mib(peak - before), '≤ 64 MiB', mib(peakOne), ((t1 - t0) / 1000).toFixed(1), ((t2 - t1) / 1000).toFixed(1)]]);
}

/** A streamed upload: chunked, with its size in X-Ell-Content-Length (uWS caps Content-Length at 9 digits). */
function put(port: number, target: string, size: number, piece: Buffer): Promise<number> {
  const headers = { 'X-Ell-Content-Length': String(size), Authorization: authFor('POST', target, { 'X-Ell-Content-Length': String(size) }) };
  return new Promise((resolve, reject) => {
    const req = http.request({ host: '127.0.0.1', port, method: 'POST', path: target, agent: false, headers }, (res) => {
      res.resume();
      res.on('end', () => resolve(res.statusCode!));
    });
    req.on('error', reject);
    let at = 0;
    const pump = (): void => {
      while (at < size) {
        const n = Math.min(piece.length, size - at);
        at += n;
        if (!req.write(n === piece.length ? piece : piece.subarray(0, n))) return void req.once('drain', pump);
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
  const idle = [...self].filter(([k]) => k.startsWith('(idle)')).reduce((n, [, v]) => n + v, 0);
  const active = total - idle;
  say(`\nCPU profile ${path.basename(file)} (${(active / 1e6).toFixed(1)} s busy of ${(total / 1e6).toFixed(1)} s sampled), top self time as a share of the busy time:`);
  for (const [k, v] of [...self].filter(([k]) => !k.startsWith('(idle)')).sort((a, b) => b[1] - a[1]).slice(0, 25)) say(`  ${((v / active) * 100).toFixed(1).padStart(5)}%  ${k}`);
}

await main();
