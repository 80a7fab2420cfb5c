// `backrunner bmeta` (and `bin/bmeta`): upload bucket definitions, read a bucket, upload a stored
// proxy config or bucket list — with the original's single-dash flags (`bmeta -config c.json
// -upload b.json`). Tokens are masked in everything it prints.

import { readFile } from 'node:fs/promises';
import type { CommandModule } from 'yargs';
import { parseBucketDefinitions } from '../buckets/definitions.js';
import { describeBucket } from '../buckets/metadata.js';
import { MetadataStore } from '../buckets/metadata-store.js';
import { loadBackrunnerConfig } from '../config/backrunner-config.js';
import { ConfigError, readJsonFile } from '../config/reader.js';
import { Cluster } from '../elliptics/cluster.js';
import { createLogger } from '../util/logger.js';

export interface BmetaArgs {
  config: string;
  upload?: string;
  bucket?: string;
  'upload-backrunner-config'?: string;
  'upload-bucket-list'?: string;
}

export interface Output {
  out: (line: string) => void;
  err: (line: string) => void;
}

const console_: Output = {
  out: (l) => process.stdout.write(`${l}\n`),
  err: (l) => process.stderr.write(`${l}\n`),
};

/** Runs bmeta; returns the process exit code. */
export async function runBmeta(args: BmetaArgs, io: Output = console_): Promise<number> {
  if (!args.upload && !args.bucket && !args['upload-backrunner-config'] && !args['upload-bucket-list']) {
    io.err('bmeta: nothing to do: give -upload <file>, -bucket <name>, -upload-backrunner-config <file> or -upload-bucket-list <file>');
    return 2;
  }
  let cluster: Cluster | undefined;
  try {
    const config = loadBackrunnerConfig(args.config);
    const e = config.elliptics;
    // Parse the input before touching storage: a bad definition uploads nothing.
    const definitions = args.upload ? parseBucketDefinitions(readJsonFile(args.upload)) : [];
    if (args['upload-backrunner-config'] && !e.backrunnerConfigKey) {
      throw new ConfigError('elliptics.backrunner-config-key', 'is not set: there is no key to upload the proxy config to', args.config);
    }
    if (args['upload-bucket-list'] && !e.bucketListKey) {
      throw new ConfigError('elliptics.bucket-list-key', 'is not set: there is no key to upload the bucket list to', args.config);
    }
    cluster = await Cluster.connect({
      remotes: e.remotes,
      protocolVersion: e.protocolVersion,
      poolSize: 1,
      timeoutMs: e.waitTimeoutMs,
      checkIntervalMs: e.checkIntervalMs,
      maxFrame: e.maxFrame,
      log: createLogger('bmeta', { level: process.env.BACKRUNNER_LOG_LEVEL ?? 'warn' }),
    });
    const store = new MetadataStore(cluster, e.metadataGroups);
    let failed = 0;
    for (const meta of definitions) {
      if (meta.acl.size === 0) io.err(`bmeta: warning: bucket ${meta.name} has an empty ACL: nobody may use it (add {"user": "*", "flags": 1} for an open bucket)`);
      try {
        await store.writeBucket(meta);
        io.out(describeBucket(meta));
      } catch (err) {
        failed++;
        io.err(`bmeta: could not write bucket ${meta.name}: ${(err as Error).message}`);
      }
    }
    if (args.bucket) io.out(describeBucket(await store.readBucket(args.bucket)));
    for (const [file, key] of [[args['upload-backrunner-config'], e.backrunnerConfigKey], [args['upload-bucket-list'], e.bucketListKey]] as const) {
      if (!file) continue;
      await store.writeRaw(key, await readFile(file));
      io.out(`Successfully uploaded ${file} into elliptics using key ${key}`);
    }
    return failed > 0 ? 1 : 0;
  } catch (err) {
    io.err(`bmeta: ${(err as Error).message}`);
    return 1;
  } finally {
    cluster?.close();
  }
}

export const bmetaCommand: CommandModule<object, BmetaArgs> = {
  command: 'bmeta',
  describe: 'Bucket metadata: upload definitions, read a bucket, upload a stored config or bucket list',
  builder: (y) =>
    y
      .option('config', { type: 'string', demandOption: true, describe: 'Backrunner config (its elliptics section says where storage is)' })
      .option('upload', { type: 'string', describe: 'upload the bucket definitions of this JSON file' })
      .option('bucket', { type: 'string', describe: 'read one bucket and print its description (tokens masked)' })
      .option('upload-backrunner-config', { type: 'string', describe: 'upload this file to elliptics.backrunner-config-key' })
      .option('upload-bucket-list', { type: 'string', describe: 'upload this file to elliptics.bucket-list-key' })
      .example('$0 bmeta -config config.json -upload buckets.json', 'create or update the buckets of buckets.json')
      .example('$0 bmeta -config config.json -bucket b1', 'print bucket b1'),
  handler: async (args) => {
    process.exitCode = await runBmeta(args);
  },
};
