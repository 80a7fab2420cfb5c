// Debian's nginx as a test peer: started in the foreground with a config of the test's own, in a
// temporary prefix, and stopped with the test. `nginxAvailable` lets a suite skip with a message.

import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { chmodSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const README = fileURLToPath(new URL('../../../README.md', import.meta.url));

/** The first ```nginx block of the README's "Behind nginx" section, pointed at the test's ports. */
export function readmeNginxBlock(proxyPort: number, listenPort: number): string {
  const text = readFileSync(README, 'utf8');
  const section = text.slice(text.indexOf('## Behind nginx / a load balancer'));
  const m = /```nginx\n([\s\S]*?)```/.exec(section);
  if (!m) throw new Error('README: no ```nginx block in "Behind nginx / a load balancer"');
  let block = m[1]!;
  const changes: [RegExp, string][] = [
    [/server 127\.0\.0\.1:9090;/, `server 127.0.0.1:${proxyPort};`],
    [/listen 80;/, `listen 127.0.0.1:${listenPort};`],
  ];
  for (const [from, to] of changes) {
    if (!from.test(block)) throw new Error(`README nginx block: ${from} not found (update the test with the README)`);
    block = block.replace(from, to);
  }
  return block;
}

export function nginxAvailable(): boolean {
  try {
    execFileSync('nginx', ['-v'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

export interface Nginx {
  proc: ChildProcess;
  errors: () => string;
  stop(): Promise<void>;
}

/**
 * Runs nginx with `httpBlock` inside `http { }` under `dir`. The workers drop to an unprivileged
 * user when the master runs as root, so the prefix is made world-writable for their temp files.
 */
export async function startNginx(dir: string, httpBlock: string, probePort: number): Promise<Nginx> {
  mkdirSync(dir, { recursive: true });
  chmodSync(dir, 0o777);
  const temp = ['client_body', 'proxy', 'fastcgi', 'uwsgi', 'scgi'].map((t) => `  ${t}_temp_path ${path.join(dir, `tmp-${t}`)};`).join('\n');
  const conf = path.join(dir, 'nginx.conf');
  const errorLog = path.join(dir, 'error.log');
  writeFileSync(conf, `worker_processes 1;\npid ${dir}/nginx.pid;\nerror_log ${errorLog} warn;\nevents { worker_connections 1024; }\nhttp {\n  access_log off;\n${temp}\n${httpBlock}\n}\n`);
  const proc = spawn('nginx', ['-c', conf, '-p', dir, '-g', 'daemon off;'], { stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  proc.stderr!.on('data', (c) => (stderr += c));
  const errors = (): string => {
    try {
      return stderr + readFileSync(errorLog, 'utf8');
    } catch {
      return stderr;
    }
  };
  const until = Date.now() + 20_000;
  for (;;) {
    if (proc.exitCode !== null) throw new Error(`nginx exited with ${proc.exitCode}:\n${errors()}`);
    const up = await new Promise<boolean>((resolve) => {
      http.get({ host: '127.0.0.1', port: probePort, path: '/ping/', agent: false }, (res) => {
        res.resume();
        resolve(true);
      }).on('error', () => resolve(false));
    });
    if (up) break;
    if (Date.now() > until) throw new Error(`nginx did not listen within 20 s:\n${errors()}`);
    await new Promise((r) => setTimeout(r, 100));
  }
  return {
    proc,
    errors,
    stop: () =>
      new Promise<void>((resolve) => {
        if (proc.exitCode !== null) return resolve();
        proc.once('exit', () => resolve());
        proc.kill('SIGQUIT');
      }),
  };
}
