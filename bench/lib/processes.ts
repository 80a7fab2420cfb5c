// Child processes for benchmarks: storage nodes and helper servers, and their memory.

import { fork, type ChildProcess } from 'node:child_process';
import { readFileSync, writeFileSync, mkdirSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const DIST = fileURLToPath(new URL('../../', import.meta.url));

/** Forks a compiled entry point (relative to dist/) and waits for its first IPC message. */
export function forkReady<T>(entry: string, args: string[], execArgv: string[] = []): Promise<{ proc: ChildProcess; message: T }> {
  return new Promise((resolve, reject) => {
    const proc = fork(path.join(DIST, entry), args, { stdio: ['ignore', 'ignore', 'inherit', 'ipc'], execArgv });
    proc.once('message', (message: T) => resolve({ proc, message }));
    proc.once('exit', (code) => reject(new Error(`${entry} exited with ${code} before it was ready`)));
  });
}

export interface BenchNode {
  proc: ChildProcess;
  port: number;
}

/** A storage node child process with `groups` backends under `dir` (`backend`: extra keys of each). */
export async function startBenchNode(dir: string, groups: number[], extra: Record<string, unknown> = {}, backend: Record<string, unknown> = {}): Promise<BenchNode> {
  mkdirSync(dir, { recursive: true });
  const config = path.join(dir, 'node.json');
  writeFileSync(config, JSON.stringify({
    address: '127.0.0.1:0',
    backends: groups.map((g, i) => ({ id: i + 1, group: g, dir: path.join(dir, `b${i + 1}`), ...backend })),
    sync: 1,
    'max-frame': 104857600,
    'log-level': 'warn',
    ...extra,
  }));
  const { proc, message } = await forkReady<{ type: string; port: number; error?: string }>('workers/storage-node.js', [config]);
  if (message.type !== 'ready') throw new Error(`node failed: ${message.error}`);
  return { proc, port: message.port };
}

export { pssOf, rssOf } from '../../src/util/process-meter.js';

export function stop(proc: ChildProcess): Promise<void> {
  return new Promise((resolve) => {
    if (proc.exitCode !== null) return resolve();
    proc.once('exit', () => resolve());
    proc.kill('SIGTERM');
  });
}

/** CPU seconds (user + system) a process has used so far (Linux /proc, 10 ms resolution). */
export function cpuSecondsOf(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(fields[11]) + Number(fields[12])) / 100;
}
