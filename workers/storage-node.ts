// Process entry point of a storage node: `node dist/workers/storage-node.js <config.json>`.
// The proxy's primary forks it for the embedded backend; `backrunner node` runs the same code.

import { runStorageNode } from '../src/storage-node/main.js';

const configFile = process.argv[2];
if (!configFile) {
  process.stderr.write('usage: storage-node <config.json>\n');
  process.exit(2);
}
runStorageNode(configFile).catch(() => process.exit(1));
