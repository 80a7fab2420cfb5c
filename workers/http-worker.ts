// Process entry point of an HTTP worker (forked by the primary through node:cluster).
// The config file comes in BACKRUNNER_CONFIG.

import { runWorker } from '../src/proxy/worker.js';
import { startAllocationProfile } from '../src/util/alloc-profile.js';

startAllocationProfile();

const configFile = process.env.BACKRUNNER_CONFIG;
if (!configFile) {
  process.stderr.write('http-worker: BACKRUNNER_CONFIG is not set (workers are started by `backrunner proxy`)\n');
  process.exit(2);
}
runWorker(configFile).catch((err: unknown) => {
  const message = err instanceof Error ? err.message : String(err);
  process.send?.({ type: 'fatal', error: message });
  process.stderr.write(`http-worker: ${message}\n`);
  process.exit(1);
});
