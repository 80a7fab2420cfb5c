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
      .option('config', { alias: 'c', type: 'string', demandOption: true, describe: 'node config file (JSON, see README "Storage node config")' })
      .example('$0 node --config node.example.json', 'start a node on 127.0.0.1:1025 with the groups listed in the file'),
  handler: async (args) => {
    await runStorageNode(args.config).catch(() => process.exit(1));
  },
};
