// What the proxy says once it serves: where it listens and which storage it uses (a log line), and
// — on the embedded storage — two curl lines to try it with the first bucket's writer token.

import path from 'node:path';
import type { BucketMeta } from '../buckets/metadata.js';
import type { ProxyConfig } from '../config/proxy-config.js';
import { formatEndpoint, type Endpoint } from '../elliptics/protocol/addr.js';
import type { Logger } from '../util/logger.js';

export interface Started {
  proxy: ProxyConfig;
  workers: number;
  buckets: readonly BucketMeta[];
  embedded: { address: string; dir: string; groups: readonly number[] } | undefined;
  remotes: readonly Endpoint[];
}

export function announce(log: Logger, s: Started): void {
  const p = s.proxy;
  const http = `http://${formatEndpoint(p.address)}`;
  const storage = s.embedded ? `embedded node ${s.embedded.address} (${s.embedded.dir}), groups ${s.embedded.groups.join(',')}` : `Elliptics ${s.remotes.map(formatEndpoint).join(', ')}`;
  log.info({ http, https: p.httpsAddress ? `https://${formatEndpoint(p.httpsAddress)}` : undefined, workers: s.workers, storage, buckets: s.buckets.map((b) => b.name) }, `listening on ${http} with ${s.workers} workers; storage: ${storage}`);
  const first = s.buckets[0];
  if (!s.embedded || !first) return;
  const tokens = path.relative(process.cwd(), path.join(s.embedded.dir, 'tokens'));
  const writer = [...first.acl.values()].find((a) => a.flags & 2n);
  const url = `${http}/upload/${first.name}/hello.txt`;
  const lines = [
    'try it:',
    writer
      ? `  curl -s --data-binary 'hello, backrunner' -H "Authorization: $(./bin/backrunner sign --user ${writer.user} --token-file ${tokens}/${writer.user}.token POST ${url})" ${url}`
      : `  curl -s --data-binary 'hello, backrunner' ${url}`,
    `  curl -s ${http}/get/${first.name}/hello.txt`,
  ];
  process.stdout.write(`${lines.join('\n')}\n`);
}
