// Runs a storage node as the current process: load the config, start, stop on SIGTERM/SIGINT.
// Used by `backrunner node` and by the embedded node the proxy's primary forks.

import { startIdleReclaim } from '../util/buffer-pool.js';
import { formatEndpoint } from '../elliptics/protocol/addr.js';
import { ConfigError } from '../config/reader.js';
import { createLogger, reopenLogs } from '../util/logger.js';
import { loadBackrunnerConfig, logOptions } from '../config/backrunner-config.js';
import { readJsonFile, isPlainObject, withConfigFile } from '../config/reader.js';
import { parseProxyConfig } from '../config/proxy-config.js';
import { embeddedNodeConfig, loadNodeConfig, type NodeConfig } from './config.js';
import { StorageNode } from './node.js';
import { MANAGED_NODE_ENV, type NodeToParent, type ParentToNode } from '../ipc/node-messages.js';


/**
 * A node config, or a Backrunner config whose `embedded` section describes the node (so
 * `backrunner node --config config.example.json` runs just the embedded storage of a proxy setup).
 */
export function loadAnyNodeConfig(configFile: string): NodeConfig {
  const doc = readJsonFile(configFile);
  if (isPlainObject(doc) && (doc.elliptics !== undefined || doc.embedded !== undefined)) {
    const bc = loadBackrunnerConfig(configFile);
    if (!bc.embedded) throw new Error(`${configFile}: a Backrunner config without an "embedded" section describes no storage node to run`);
    // The proxy section's redirect settings say what the node serves for /redirect/.
    const proxy = bc.proxy ? withConfigFile(configFile, () => parseProxyConfig(bc.proxy, configFile)) : undefined;
    const redirect = proxy ? { port: proxy.redirectPort, token: proxy.redirectToken, root: proxy.redirectRoot } : undefined;
    return embeddedNodeConfig(bc.embedded, bc.elliptics.maxFrame, logOptions(bc.elliptics), redirect);
  }
  return loadNodeConfig(configFile);
}

export async function runStorageNode(configFile: string): Promise<StorageNode> {
  const bootLog = createLogger('storage-node');
  let node: StorageNode;
  try {
    const config = loadAnyNodeConfig(configFile);
    const log = createLogger('storage-node', { level: config.logLevel, file: config.logFile });
    for (const w of config.warnings) log.warn(`${configFile}: ${w}`);
    node = await StorageNode.start(config, log);
    startIdleReclaim();
    let stopping = false;
    const stop = (signal: string): void => {
      if (stopping) return;
      stopping = true;
      log.info({ signal }, 'stopping');
      node.stop().then(
        () => process.exit(0),
        (err: unknown) => {
          log.error({ err }, 'stop failed');
          process.exit(1);
        },
      );
    };
    const managed = process.send !== undefined && process.env[MANAGED_NODE_ENV] === '1';
    process.on('SIGTERM', () => (managed ? log.info('SIGTERM ignored: the proxy stops this node after its workers drained') : stop('SIGTERM')));
    // Ctrl-C reaches the whole process group: a node forked by the proxy waits for the proxy, which
    // drains its workers first and then stops the node.
    process.on('SIGINT', () => (process.send ? undefined : stop('SIGINT')));
    process.on('message', (m: ParentToNode) => {
      if (m?.type === 'stop') stop('asked by the parent');
    });
    // logrotate: the log file was moved away; write to a new one at the configured path.
    process.on('SIGUSR1', () => reopenLogs());
    process.once('disconnect', () => stop('parent exited'));
    const ready: NodeToParent = { type: 'ready', address: formatEndpoint({ host: config.address.host, port: node.port }), port: node.port };
    process.send?.(ready);
    return node;
  } catch (err) {
    const message = err instanceof ConfigError ? err.message : (err as Error).message;
    bootLog.fatal(message);
    const fatal: NodeToParent = { type: 'fatal', error: message };
    process.send?.(fatal);
    process.exitCode = 1;
    throw err;
  }
}
