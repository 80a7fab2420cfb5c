// Config files: the proxy's (elliptics, proxy, embedded with its bucket definitions) and the storage
// node's, mutated as JSON. Each must parse or fail with a ConfigError naming the field — never a
// TypeError or anything else an operator cannot act on.

import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { parseBucketDefinitions } from '../../../src/buckets/definitions.js';
import { parseBackrunnerConfig } from '../../../src/config/backrunner-config.js';
import { parseProxyConfig } from '../../../src/config/proxy-config.js';
import { ConfigError } from '../../../src/config/reader.js';
import { embeddedNodeConfig, parseNodeConfig } from '../../../src/storage-node/config.js';
import type { Harness, Target } from '../target.js';
import { mutateJson } from './json-values.js';

const ROOT = fileURLToPath(new URL('../../../../', import.meta.url));

function corpus(): string[] {
  const proxy = readFileSync(`${ROOT}config.example.json`, 'utf8');
  const node = readFileSync(`${ROOT}node.example.json`, 'utf8');
  const full = JSON.parse(proxy) as Record<string, Record<string, unknown>>;
  full.proxy!.admin = { user: 'admin', token: 'a token of sixteen+' };
  full.proxy!['write-quorum'] = 'majority';
  full.proxy!.https_address = '127.0.0.1:9443';
  full.proxy!.cert_file = 'c.pem';
  full.proxy!.key_file = 'k.pem';
  full.embedded!['free-space-reserve'] = 1024;
  full.embedded!.sync = 'always';
  const nodeFull = JSON.parse(node) as Record<string, unknown>;
  nodeFull.redirect = { address: '127.0.0.1:8080', token: 'redirect token', root: '/' };
  return [proxy, node, JSON.stringify(full), JSON.stringify(nodeFull)].map((t) => JSON.stringify(JSON.parse(t)));
}

/** Parses `text` as every config reader would; returns the unexpected error, if any. */
function parseAll(text: string): unknown {
  try {
    let doc: unknown;
    try {
      doc = JSON.parse(text);
    } catch {
      return undefined; // readJsonFile turns this into a ConfigError naming the file
    }
    const isNode = typeof doc === 'object' && doc !== null && 'backends' in doc;
    if (isNode) {
      parseNodeConfig(doc, '/tmp');
      return undefined;
    }
    const config = parseBackrunnerConfig(doc, '/tmp/fuzz.json');
    parseProxyConfig(config.proxy, config.file);
    if (config.embedded) {
      embeddedNodeConfig(config.embedded, config.elliptics.maxFrame, { level: 'silent' });
      if (config.embedded.bucketDefinitions !== undefined) parseBucketDefinitions(config.embedded.bucketDefinitions);
    }
    return undefined;
  } catch (err) {
    return err instanceof ConfigError ? undefined : err;
  }
}

export const configTarget: Target = {
  name: 'config',
  description: 'proxy and node config files (mutated JSON) → a ConfigError or a config',
  async start(): Promise<Harness> {
    const docs = corpus();
    return {
      make: (rng) => Buffer.from(mutateJson(rng, rng.pick(docs)), 'latin1'),
      async check(input) {
        const err = parseAll(input.toString('latin1'));
        return err === undefined ? undefined : `${(err as Error).name ?? typeof err}: ${(err as Error).message ?? String(err)}`;
      },
      async close() {},
    };
  },
};
