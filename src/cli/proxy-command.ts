import type { CommandModule } from 'yargs';
import { Primary } from '../primary/primary.js';

interface ProxyArgs {
  config: string;
  buckets?: string;
  workers?: number;
}

export const proxyCommand: CommandModule<object, ProxyArgs> = {
  command: 'proxy',
  describe: 'Run the HTTP/HTTPS proxy: a primary and one uWebSockets.js worker per core',
  builder: (y) =>
    y
      .option('config', { alias: 'c', type: 'string', demandOption: true, describe: 'Backrunner config (JSON, see config.example.json)' })
      .option('buckets', { type: 'string', describe: 'bucket-list file (one name per line), unless elliptics.bucket-list-key is set' })
      .option('workers', { type: 'number', describe: 'HTTP worker processes (default: proxy.workers, or one per core)' })
      .example('$0 proxy --config config.example.json', 'the proxy on 127.0.0.1:9090 with the embedded storage node'),
  handler: async (args) => {
    let primary: Primary | undefined;
    let stopAsked: string | undefined;
    const stop = (signal: string): void => {
      if (!primary) {
        stopAsked ??= signal; // still starting: stop as soon as it is up
        return;
      }
      primary.shutdown(signal).then(() => process.exit(0), () => process.exit(1));
    };
    // Installed before the start forks anything, and `on`, not `once`: a signal during the start or
    // a second one during the drain must not kill the primary half-way.
    process.on('SIGTERM', () => stop('SIGTERM'));
    process.on('SIGINT', () => stop('SIGINT'));
    try {
      primary = await Primary.start({ config: args.config, ...(args.buckets ? { buckets: args.buckets } : {}), ...(args.workers ? { workers: args.workers } : {}) });
    } catch (err) {
      process.stderr.write(`backrunner: ${(err as Error).message}\n`);
      process.exit(1);
    }
    if (stopAsked) stop(stopAsked);
  },
};
