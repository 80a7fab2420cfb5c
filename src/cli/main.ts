// The `backrunner` command line: one yargs program with a subcommand per role.

import yargs from 'yargs';
import { hideBin } from 'yargs/helpers';
import { nodeCommand } from './node-command.js';

export async function main(argv: string[] = hideBin(process.argv)): Promise<void> {
  await yargs(argv)
    .scriptName('backrunner')
    .usage('$0 <command> [options]')
    .command(nodeCommand)
    .demandCommand(1, 'name a command: node')
    .strict()
    .help()
    .alias('h', 'help')
    .version(false)
    .wrap(Math.min(110, process.stdout.columns ?? 110))
    .parseAsync();
}
