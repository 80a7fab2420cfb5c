// The `backrunner` command line: one yargs program with a subcommand per role.

import { readFileSync } from 'node:fs';
import yargs from 'yargs';
import { hideBin } from 'yargs/helpers';
import { nodeCommand } from './node-command.js';
import { bmetaCommand } from './bmeta-command.js';
import { defragCommand } from './defrag-command.js';
import { proxyCommand } from './proxy-command.js';
import { recoverCommand } from './recover-command.js';
import { signCommand } from './sign-command.js';

/** package.json's version (dist/src/cli/main.js → package.json). */
export const VERSION = (JSON.parse(readFileSync(new URL('../../../package.json', import.meta.url), 'utf8')) as { version: string }).version;

export async function main(argv: string[] = hideBin(process.argv)): Promise<void> {
  await yargs(argv)
    .scriptName('backrunner')
    .usage('$0 <command> [options]')
    // `-config file` is one long option, as the original's Go flags read it, not -c -o -n -f -i -g.
    .parserConfiguration({ 'short-option-groups': false })
    .command(proxyCommand)
    .command(nodeCommand)
    .command(bmetaCommand)
    .command(signCommand)
    .command(defragCommand)
    .command(recoverCommand)
    .demandCommand(1, 'name a command: proxy, node, bmeta, sign, defrag, recover')
    .strict()
    .help()
    .alias('h', 'help')
    .version(VERSION)
    .wrap(Math.min(110, process.stdout.columns ?? 110))
    .parseAsync();
}
