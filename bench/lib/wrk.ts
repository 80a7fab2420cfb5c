// wrk, the load generator of the HTTP benches: one thread, its figures parsed, and its own CPU time
// (the shell's `times` for its children). Needs Debian's wrk.

import { execFileSync, spawn } from 'node:child_process';

export interface WrkResult {
  requests: number;
  seconds: number;
  /** `bytesPerRequest` × requests per second, in MB/s. */
  mbps: number;
  p50: number;
  p99: number;
  /** Non-2xx/3xx replies and timeouts. */
  errors: number;
  /** CPU seconds wrk used. */
  loadGenCpu: number;
}

export interface WrkOptions {
  connections: number;
  seconds: number;
  bytesPerRequest: number;
  /** A Lua script (path). */
  script?: string;
  headers?: Record<string, string>;
  /** Seconds before wrk counts a reply as a timeout error (wrk's default: 2). */
  timeoutSeconds?: number;
}

/** Exits with a message naming the Debian packages when `cmd` is not installed. */
export function need(cmd: string, bench: string): void {
  try {
    execFileSync('sh', ['-c', `command -v ${cmd}`], { stdio: 'ignore' });
  } catch {
    process.stderr.write(`${bench} needs ${cmd} (Debian: apt-get install wrk nginx-light)\n`);
    process.exit(2);
  }
}

export function wrk(url: string, o: WrkOptions): Promise<WrkResult> {
  const headers = Object.entries(o.headers ?? {}).flatMap(([k, v]) => ['-H', `${k}: ${v}`]);
  const args = ['-t', '1', '-c', String(o.connections), '-d', `${o.seconds}s`, '--latency', ...(o.timeoutSeconds ? ['--timeout', `${o.timeoutSeconds}s`] : []), ...headers, ...(o.script ? ['-s', o.script] : []), url];
  return new Promise((resolve, reject) => {
    const sh = spawn('sh', ['-c', 'wrk "$@"; times', 'wrk', ...args], { stdio: ['ignore', 'pipe', 'inherit'] });
    let out = '';
    sh.stdout.on('data', (c) => (out += c));
    sh.on('error', reject);
    sh.on('exit', () => {
      const num = (re: RegExp): number => Number(re.exec(out)?.[1] ?? 0);
      const ms = (re: RegExp): number => {
        const m = re.exec(out);
        if (!m) return 0;
        const v = Number(m[1]);
        return m[2] === 'us' ? v / 1000 : m[2] === 's' ? v * 1000 : v;
      };
      const requests = num(/(\d+) requests in/);
      const seconds = Number(/requests in ([\d.]+)s/.exec(out)?.[1] ?? o.seconds);
      const times = /\n(\d+)m([\d.]+)s (\d+)m([\d.]+)s\s*$/.exec(out);
      const loadGenCpu = times ? Number(times[1]) * 60 + Number(times[2]) + Number(times[3]) * 60 + Number(times[4]) : 0;
      const errors = num(/Non-2xx or 3xx responses:\s+(\d+)/) + num(/Socket errors:.*?timeout (\d+)/);
      resolve({ requests, seconds, mbps: (requests * o.bytesPerRequest) / seconds / 1e6, p50: ms(/50%\s+([\d.]+)(us|ms|s)/), p99: ms(/99%\s+([\d.]+)(us|ms|s)/), errors, loadGenCpu });
    });
  });
}
