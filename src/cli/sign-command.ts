// `backrunner sign`: the Authorization header of a request, so curl can talk to signed buckets.

import { readFileSync } from 'node:fs';
import type { CommandModule } from 'yargs';
import { percentDecode, sign } from '../buckets/signature.js';

interface SignArgs {
  user: string;
  'token-file': string;
  method: string;
  url: string;
  header?: string[];
}

/** `riftv1 <user>:<hmac>` for METHOD URL with the given X-Ell-* headers. */
export function authorizationFor(user: string, token: string, method: string, url: string, headers: [string, string][]): string {
  const target = url.replace(/^[a-z]+:\/\/[^/]*/i, '') || '/';
  const q = target.indexOf('?');
  const rawPath = q < 0 ? target : target.slice(0, q);
  const rawQuery = q < 0 ? '' : target.slice(q + 1);
  const signPath = percentDecode(rawPath);
  if (signPath === undefined) throw new Error(`cannot decode the path of ${url}`);
  return `riftv1 ${user}:${sign(token, { method: method.toUpperCase(), signPath, rawQuery, headers })}`;
}

export const signCommand: CommandModule<object, SignArgs> = {
  command: 'sign <method> <url>',
  describe: 'Print the Authorization header value (riftv1) for a request by a bucket user',
  builder: (y) =>
    y
      .positional('method', { type: 'string', demandOption: true, describe: 'HTTP method (GET, POST, …)' })
      .positional('url', { type: 'string', demandOption: true, describe: 'the full URL, query included' })
      .option('user', { type: 'string', demandOption: true, describe: 'ACL user name' })
      .option('token-file', { type: 'string', demandOption: true, describe: 'file holding the user\'s token (not echoed anywhere)' })
      .option('header', { alias: 'H', type: 'string', array: true, describe: "an X-Ell-* header the request will carry ('X-Ell-Name: value'), signed too" })
      .example("$0 sign --user writer --token-file writer.token POST http://127.0.0.1:9090/upload/b1/k", 'print riftv1 writer:<signature>'),
  handler: (args) => {
    let token: string;
    try {
      token = readFileSync(args['token-file'], 'utf8').replace(/\r?\n$/, '');
    } catch (err) {
      process.stderr.write(`backrunner sign: cannot read --token-file: ${(err as Error).message}\n`);
      process.exit(2);
    }
    const headers = (args.header ?? []).map((h): [string, string] => {
      const colon = h.indexOf(':');
      if (colon < 0) {
        process.stderr.write(`backrunner sign: -H '${h}' is not 'Name: value'\n`);
        process.exit(2);
      }
      return [h.slice(0, colon).trim(), h.slice(colon + 1).trim()];
    });
    process.stdout.write(`${authorizationFor(args.user, token, args.method, args.url, headers)}\n`);
  },
};
