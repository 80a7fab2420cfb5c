// Real storage nodes for tests: in this process (fast) or as child processes (to kill them),
// always over TCP on 127.0.0.1 with temporary directories.

import { fork, type ChildProcess } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseNodeConfig } from '../../src/storage-node/config.js';
import { StorageNode } from '../../src/storage-node/node.js';
import { createLogger } from '../../src/util/logger.js';
import type { NodeToParent } from '../../src/ipc/node-messages.js';

export function tempDir(prefix = 'backrunner-test-'): { dir: string; cleanup: () => void } {
  const dir = mkdtempSync(path.join(os.tmpdir(), prefix));
  return { dir, cleanup: () => rmSync(dir, { recursive: true, force: true }) };
}

export interface BackendSpec {
  id: number;
  group: number;
  dir?: string;
  'blob-size'?: number;
  'blob-size-limit'?: number;
  'read-only'?: boolean;
  delay?: number;
  'defrag-percentage'?: number;
  'defrag-timeout'?: number;
  'defrag-rate-limit'?: number;
  'index-snapshot-interval'?: number;
  'tombstone-ttl'?: number;
  'free-space-reserve'?: number;
}

export interface NodeSpec {
  backends: BackendSpec[];
  remotes?: string[];
  sync?: 'always' | number;
  'max-frame'?: number;
  port?: number;
  /** The address it listens on and announces (127.0.0.1 by default). */
  host?: string;
  /** Its Unix socket (node config `unix-socket`). */
  'unix-socket'?: string;
  /** Where the node logs (a file beside its backends, `node.log`, when set to true), and at which level. */
  log?: { level: string };
  /** Seconds a verified chunk is trusted (node config `verify-ttl`; 0: every read verifies). */
  'verify-ttl'?: number;
}

/** A node config object with backend dirs under `root`. */
export function nodeConfig(root: string, spec: NodeSpec): Record<string, unknown> {
  return {
    address: `${spec.host ?? '127.0.0.1'}:${spec.port ?? 0}`,
    remotes: spec.remotes ?? [],
    backends: spec.backends.map((b) => ({ ...b, dir: b.dir ?? path.join(root, `b${b.id}-g${b.group}`) })),
    sync: spec.sync ?? 1,
    'max-frame': spec['max-frame'] ?? 100 * 1024 * 1024,
    'log-level': spec.log?.level ?? process.env.TEST_LOG_LEVEL ?? 'silent',
    ...(spec.log ? { 'log-file': path.join(root, 'node.log') } : {}),
    ...(spec['unix-socket'] ? { 'unix-socket': spec['unix-socket'] } : {}),
    ...(spec['verify-ttl'] !== undefined ? { 'verify-ttl': spec['verify-ttl'] } : {}),
  };
}

export async function startNode(root: string, spec: NodeSpec): Promise<StorageNode> {
  const config = parseNodeConfig(nodeConfig(root, spec), root);
  return StorageNode.start(config, createLogger('test-node', { level: config.logLevel }));
}

export interface ChildNode {
  proc: ChildProcess;
  port: number;
  configFile: string;
  /** Resolves when the process has exited. */
  exited: Promise<number | null>;
}

const NODE_ENTRY = fileURLToPath(new URL('../../workers/storage-node.js', import.meta.url));

/**
 * Runs a node as a child process; resolves when it accepts connections. `prefix` runs it through a
 * command that execs it (`ip netns exec <ns>`): the pid, the signals and the IPC channel stay its own.
 */
export function spawnNode(root: string, spec: NodeSpec, name = 'node', prefix: readonly string[] = []): Promise<ChildNode> {
  mkdirSync(root, { recursive: true });
  const configFile = path.join(root, `${name}.json`);
  writeFileSync(configFile, JSON.stringify(nodeConfig(root, spec), null, 2));
  return new Promise((resolve, reject) => {
    const through = prefix.length > 0 ? { execPath: prefix[0]!, execArgv: [...prefix.slice(1), process.execPath] } : {};
    const proc = fork(NODE_ENTRY, [configFile], { stdio: ['ignore', 'ignore', 'inherit', 'ipc'], ...through });
    const exited = new Promise<number | null>((res) => proc.once('exit', (code) => res(code)));
    proc.once('message', (m: NodeToParent) => {
      if (m.type === 'ready') resolve({ proc, port: m.port, configFile, exited });
      else reject(new Error(`node failed to start: ${m.error}`));
    });
    proc.once('exit', (code) => reject(new Error(`node exited with ${code} before it was ready`)));
  });
}
