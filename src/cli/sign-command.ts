// `backrunner sign`: the Authorization header of a request, so curl can talk to signed buckets.

import { createHash } from 'node:crypto';
import { createReadStream, readFileSync } from 'node:fs';
import type { CommandModule } from 'yargs';
import { percentDecode, sign } from '../buckets/signature.js';

interface SignArgs {
  user: string;
  'token-file': string;
  method: string;
  url: string;
  header?: string[];
  strict?: boolean;
  'body-file'?: string;
  date?: string;
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
      .option('strict', { type: 'boolean', describe: 'strict signatures: add a signed X-Ell-Date (now) and, with --body-file, X-Ell-Content-SHA256; prints every header line' })
      .option('body-file', { type: 'string', describe: 'with --strict: the file that will be the request body (its SHA-256 is signed)' })
      .option('date', { type: 'string', describe: 'with --strict: X-Ell-Date to use instead of now (Unix seconds)' })
      .example("$0 sign --user writer --token-file writer.token POST http://127.0.0.1:9090/upload/b1/k", 'print riftv1 writer:<signature>')
      .example("curl -H @<($0 sign --strict --body-file photo.jpg --user writer --token-file writer.token POST $URL) --data-binary @photo.jpg $URL", 'a strict upload: the header lines go to curl'),
  handler: async (args) => {
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
    if (!args.strict) {
      if (args['body-file'] || args.date) fail('--body-file and --date belong to --strict');
      process.stdout.write(`${authorizationFor(args.user, token, args.method, args.url, headers)}\n`);
      return;
    }
    const date = args.date ?? String(Math.floor(Date.now() / 1000));
    if (!/^\d+$/.test(date)) fail('--date must be Unix seconds');
    headers.push(['X-Ell-Date', date]);
    if (args['body-file']) headers.push(['X-Ell-Content-SHA256', await sha256OfFile(args['body-file'])]);
    const lines = [`Authorization: ${authorizationFor(args.user, token, args.method, args.url, headers)}`, ...headers.map(([k, v]) => `${k}: ${v}`)];
    process.stdout.write(`${lines.join('\n')}\n`);
  },
};

function fail(message: string): never {
  process.stderr.write(`backrunner sign: ${message}\n`);
  process.exit(2);
}

async function sha256OfFile(file: string): Promise<string> {
  const h = createHash('sha256');
  try {
    for await (const chunk of createReadStream(file)) h.update(chunk as Buffer);
  } catch (err) {
    fail(`cannot read --body-file: ${(err as Error).message}`);
  }
  return h.digest('hex');
}
