// /redirect/ targets served by the storage node, against baselines in the same run: nginx serving the
// same bytes of the same blob file with sendfile (a Range on the file), and /get/ of the object
// through the proxy. MB/s for a 1 MiB and a 64 MiB object, rounds interleaved, best of each.
//
//   npm run bench:redirect [-- --seconds 5 --rounds 2]
//
// Needs wrk and nginx (Debian: apt-get install wrk nginx-light).

import { spawn } from 'node:child_process';
import http from 'node:http';
import { chmodSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { argNumber } from './lib/args.js';
import { stop } from './lib/processes.js';
import { authFor, freePort, request, startEmbeddedRig, waitForHttp } from './lib/rig.js';
import { writeBarChart } from './lib/svg.js';
import { percent, printTable } from './lib/table.js';
import { need, wrk } from './lib/wrk.js';

const SECONDS = argNumber('--seconds', 5);
const ROUNDS = argNumber('--rounds', 2);
const TOKEN = 'bench redirect token';
const MIB = 1024 * 1024;

interface Target {
  name: string;
  size: number;
  key: string;
  location: URL;
  headers: Record<string, string>;
}

async function main(): Promise<void> {
  need('wrk', 'bench/redirect');
  need('nginx', 'bench/redirect');
  const dir = mkdtempSync(path.join(os.tmpdir(), 'bench-redirect-'));
  // nginx's workers run as another user: they must be able to reach the blob files.
  chmodSync(dir, 0o755);
  const redirectPort = await freePort();
  const rig = await startEmbeddedRig(dir, { 'redirect-port': redirectPort, 'redirect-token': TOKEN, 'redirect-signature-timeout': 3600 });
  const agent = new http.Agent({ keepAlive: true });
  const procs = [];
  try {
    const targets: Target[] = [];
    for (const [name, size] of [['1 MiB', MIB], ['64 MiB', 64 * MIB]] as const) {
      const key = `obj-${size}`;
      const upload = `/upload/b1/${key}`;
      const up = await request(rig.port, 'POST', upload, Buffer.alloc(size, 0x42), agent, { Authorization: authFor('POST', upload) });
      if (up.status !== 200) throw new Error(`upload of ${key}: ${up.status} ${up.body.toString()}`);
      const r = await new Promise<http.IncomingMessage>((resolve, reject) => http.get({ host: '127.0.0.1', port: rig.port, path: `/redirect/b1/${key}`, agent: false }, resolve).on('error', reject));
      r.resume();
      if (r.statusCode !== 302) throw new Error(`redirect of ${key}: ${r.statusCode}`);
      const headers: Record<string, string> = {};
      for (const [k, v] of Object.entries(r.headers)) if (k.startsWith('x-ell-') || k === 'authorization') headers[k] = String(v);
      targets.push({ name, size, key, location: new URL(String(r.headers.location)), headers });
    }
    // nginx serves the blob files themselves (absolute paths from /), a byte range of each with sendfile.
    const nginxPort = await freePort();
    const conf = path.join(dir, 'nginx.conf');
    writeFileSync(conf, `worker_processes 2;\npid ${dir}/nginx.pid;\nerror_log ${dir}/nginx-error.log;\nevents { worker_connections 1024; }\nhttp {\n  access_log off;\n  sendfile on;\n  tcp_nopush on;\n  keepalive_requests 100000;\n  client_body_temp_path ${dir}/nb;\n  proxy_temp_path ${dir}/np;\n  fastcgi_temp_path ${dir}/nf;\n  uwsgi_temp_path ${dir}/nu;\n  scgi_temp_path ${dir}/ns;\n  default_type application/octet-stream;\n  server { listen 127.0.0.1:${nginxPort}; root /; }\n}\n`);
    const nginx = spawn('nginx', ['-c', conf, '-p', dir, '-g', 'daemon off;'], { stdio: 'ignore' });
    procs.push(nginx);
    await waitForHttp(nginxPort, targets[0]!.headers['x-ell-file']!, nginx, () => readFileSync(`${dir}/nginx-error.log`, 'utf8'));

    const best = new Map<string, number>();
    const measure = async (label: string, url: string, t: Target, headers: Record<string, string>): Promise<void> => {
      // A 64 MiB reply can take longer than wrk's default 2 s on a busy machine: that is no error here.
      const r = await wrk(url, { connections: 8, seconds: SECONDS, bytesPerRequest: t.size, headers, timeoutSeconds: 30 });
      if (r.errors > 0) throw new Error(`${label} ${t.name}: ${r.errors} errors`);
      best.set(`${label}|${t.name}`, Math.max(best.get(`${label}|${t.name}`) ?? 0, r.mbps));
    };
    for (let round = 0; round < ROUNDS; round++) {
      for (const t of targets) {
        const m = /:(\d+):(\d+)$/.exec(t.location.pathname)!;
        const from = Number(m[1]);
        await measure('redirect target', t.location.href, t, t.headers);
        await measure('nginx sendfile', `http://127.0.0.1:${nginxPort}${t.headers['x-ell-file']}`, t, { Range: `bytes=${from}-${from + t.size - 1}` });
        await measure('/get/ via proxy', `http://127.0.0.1:${rig.port}/get/b1/${t.key}`, t, {});
      }
    }
    const sides = ['redirect target', 'nginx sendfile', '/get/ via proxy'];
    printTable(`Redirect targets: MB/s, 8 connections, best of ${ROUNDS} × ${SECONDS} s`, ['object', ...sides, 'target / nginx', 'target / proxy'], targets.map((t) => {
      const v = sides.map((s) => best.get(`${s}|${t.name}`)!);
      return [t.name, ...v.map((x) => Math.round(x)), percent(v[0]!, v[1]!), percent(v[0]!, v[2]!)];
    }));
    writeBarChart('redirect', {
      title: 'Serving a redirect target: MB/s',
      yLabel: 'MB/s',
      categories: targets.map((t) => t.name),
      series: sides.map((s) => ({ name: s, values: targets.map((t) => best.get(`${s}|${t.name}`)!) })),
    });
  } finally {
    agent.destroy();
    for (const p of procs) await stop(p);
    await rig.close();
    rmSync(dir, { recursive: true, force: true });
  }
}

await main();
