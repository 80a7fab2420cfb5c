import type { CommandModule } from 'yargs';
import { runStorageNode } from '../storage-node/main.js';

interface NodeArgs {
  config: string;
}

export const nodeCommand: CommandModule<object, NodeArgs> = {
  command: 'node',
  describe: 'Run an Elliptics-compatible storage node (the embedded backend) until SIGTERM',
  builder: (y) =>
    y
      .option('config', { alias: 'c', type: 'string', demandOption: true, describe: 'node config file (JSON, see README "Storage node"), or a Backrunner config with an "embedded" section' })
      .example('$0 node --config node.example.json', 'a node on 127.0.0.1:1025 serving groups 1, 2, 3 from var/node/ (node.example.json ships with Backrunner)')
      .example('$0 node --config config.example.json', 'just the embedded storage node of a proxy config'),
  handler: async (args) => {
    await runStorageNode(args.config).catch(() => process.exit(1));
  },
};
