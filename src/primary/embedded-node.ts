// The embedded storage node (DESIGN §1): a child process running the same node as
// `backrunner node`, started before anything else and stopped with the proxy.

import { fork, type ChildProcess } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { formatEndpoint } from '../elliptics/protocol/addr.js';
import type { EmbeddedConfig } from '../config/backrunner-config.js';
import { MANAGED_NODE_ENV, type NodeToParent, type ParentToNode } from '../storage-node/messages.js';
import type { Logger, LogOptions } from '../util/logger.js';

const ENTRY = fileURLToPath(new URL('../../workers/storage-node.js', import.meta.url));

export interface EmbeddedNode {
  address: string;
  port: number;
  pid: number | undefined;
  signal(sig: NodeJS.Signals): void;
  stop(): Promise<void>;
}

export async function startEmbeddedNode(e: EmbeddedConfig, maxFrame: number, logs: LogOptions, log: Logger): Promise<EmbeddedNode> {
  mkdirSync(e.dir, { recursive: true });
  const file = path.join(e.dir, 'node.json');
  writeFileSync(file, `${JSON.stringify({
    address: formatEndpoint(e.address),
    remotes: [],
    backends: e.groups.map((group, i) => ({ id: i + 1, group, dir: `b${i + 1}-g${group}`, 'blob-size-limit': e.blobSizeLimit })),
    sync: e.sync,
    'max-frame': maxFrame,
    'log-level': logs.level ?? 'info',
    ...(logs.file ? { 'log-file': logs.file } : {}),
  }, null, 2)}\n`);
  const proc: ChildProcess = fork(ENTRY, [file], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'], env: { ...process.env, [MANAGED_NODE_ENV]: '1' } });
  const ready = await new Promise<NodeToParent>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`the embedded storage node did not start within 60 s (embedded.dir ${e.dir})`)), 60_000);
    proc.once('message', (m: NodeToParent) => {
      clearTimeout(timer);
      resolve(m);
    });
    proc.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`the embedded storage node exited with code ${code} before it was ready (see its log above; check embedded.address and embedded.dir)`));
    });
  });
  if (ready.type !== 'ready') throw new Error(`the embedded storage node failed: ${ready.error}`);
  let stopped: Promise<void> | undefined;
  proc.on('exit', (code, signal) => {
    if (!stopped) log.error({ code, signal }, 'the embedded storage node exited');
  });
  log.info({ address: ready.address, dir: e.dir, groups: e.groups }, 'embedded storage node ready');
  return {
    address: ready.address,
    port: ready.port,
    pid: proc.pid,
    signal(sig) {
      if (proc.exitCode === null && proc.signalCode === null) proc.kill(sig);
    },
    stop() {
      stopped ??= new Promise<void>((resolve) => {
        if (proc.exitCode !== null || proc.signalCode !== null) return resolve();
        proc.once('exit', () => resolve());
        if (proc.connected) proc.send({ type: 'stop' } satisfies ParentToNode);
        else proc.kill('SIGTERM');
        setTimeout(() => proc.kill('SIGKILL'), 10_000).unref();
      });
      return stopped;
    },
  };
}
