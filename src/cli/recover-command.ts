// `backrunner recover`: bring every replica of the buckets up to date (src/recovery/recover.ts) —
// the bucket list as the proxy finds it, or the buckets named — with progress on the terminal and a
// summary at the end (`--json` for scripts). Exit status 0 when everything is in place, 1 when
// something could not be repaired (the keys are named), 2 for a problem with the arguments.

import type { CommandModule } from 'yargs';
import { parseDefinitionsAt } from '../buckets/definitions.js';
import type { BucketMeta } from '../buckets/metadata.js';
import { MetadataStore } from '../buckets/metadata-store.js';
import { loadBackrunnerConfig } from '../config/backrunner-config.js';
import { withConfigFile } from '../config/reader.js';
import { Cluster } from '../elliptics/cluster.js';
import { groupSets } from '../recovery/group-sets.js';
import { Recovery, type RecoverProgress, type RecoverSummary } from '../recovery/recover.js';
import { createLogger } from '../util/logger.js';

interface RecoverArgs {
  config: string;
  buckets?: string;
  bucket?: string[];
  groups?: string;
  'dry-run'?: boolean;
  rate?: number;
  since?: string;
  json?: boolean;
  'max-keys': number;
  concurrency: number;
}

function fail(message: string, code: number): never {
  process.stderr.write(`backrunner recover: ${message}\n`);
  process.exit(code);
}

/** `--since`: seconds since the epoch, an ISO date, or an age such as 90m, 6h, 2d. */
export function parseSince(text: string, now = Date.now()): { sec: number; nsec: number } {
  const age = /^(\d+(?:\.\d+)?)\s*(s|m|h|d)$/.exec(text.trim());
  let ms: number;
  if (age) ms = now - Number(age[1]) * { s: 1e3, m: 6e4, h: 3.6e6, d: 8.64e7 }[age[2] as 's' | 'm' | 'h' | 'd'];
  else if (/^\d+(\.\d+)?$/.test(text.trim())) ms = Number(text) * 1000;
  else ms = Date.parse(text);
  if (!Number.isFinite(ms)) throw new Error(`--since: "${text}" is not a time (give Unix seconds, an ISO date, or an age like 6h)`);
  return { sec: Math.floor(ms / 1000), nsec: 0 };
}

const mib = (n: number): string => `${(n / 1048576).toFixed(1)} MiB`;

function progressLine(p: RecoverProgress): string {
  const secs = Math.max(0.001, (Date.now() - p.startedAt) / 1000);
  const rate = p.bytes / secs;
  const keysPerSec = p.walked / secs;
  const eta = p.estimate > p.walked && keysPerSec > 0 ? `, ETA ${Math.ceil((p.estimate - p.walked) / keysPerSec)} s` : '';
  return `${p.walked.toLocaleString('en')} keys walked${p.estimate ? ` of ~${p.estimate.toLocaleString('en')}` : ''}, ${p.copied.toLocaleString('en')} repaired, ${mib(p.bytes)} copied (${mib(rate)}/s)${eta} — ${p.phase}`;
}

function summaryText(s: RecoverSummary): string {
  const lines = [
    `${s.dryRun ? 'dry run: ' : ''}walked ${s.walked} keys in ${s.seconds} s: ${s.missing} missing and ${s.stale} stale replicas; ` +
      `${s.copied} copied (${mib(s.bytes)}), ${s.removed} removals repeated, ${s.failed} failed`,
  ];
  if (s.dryRun && s.missing + s.stale === 0 && s.unwalked.length === 0) lines.push('nothing to do: every replica holds the newest state');
  for (const u of s.unwalked) lines.push(`group ${u.group} could not be walked: ${u.reason}`);
  if (s.removalsInvisible.length > 0) lines.push(`groups ${s.removalsInvisible.join(', ')} are on nodes that do not report removals (real Elliptics): a key deleted there looks missing and is copied back from a replica that missed the delete`);
  if (s.failedKeys.length > 0) lines.push(`could not repair ${s.failed} replicas; keys (hex ids): ${s.failedKeys.join(' ')}${s.failed > s.failedKeys.length ? ' …' : ''}`);
  return lines.join('\n');
}

export const recoverCommand: CommandModule<object, RecoverArgs> = {
  command: 'recover',
  describe: 'copy the newest version of every key to the replicas that miss it (and repeat removals they missed)',
  builder: (y) =>
    y
      .option('config', { type: 'string', demandOption: true, describe: 'Backrunner config (its elliptics section says where storage is)' })
      .option('buckets', { type: 'string', describe: 'bucket-list file, as the proxy reads it' })
      .option('bucket', { type: 'string', array: true, describe: 'only this bucket (repeatable)' })
      .option('groups', { type: 'string', describe: 'only these groups of each bucket, e.g. 1,2' })
      .option('dry-run', { type: 'boolean', describe: 'count what is missing or stale, change nothing' })
      .option('rate', { type: 'number', describe: 'MB/s the copies may take (default: no limit)' })
      .option('since', { type: 'string', describe: 'only records changed since: Unix seconds, an ISO date, or an age (6h, 2d)' })
      .option('json', { type: 'boolean', describe: 'the summary as JSON on stdout' })
      .option('max-keys', { type: 'number', default: 250_000, describe: 'keys held in memory at once (about 300 bytes each)' })
      .option('concurrency', { type: 'number', default: 8, describe: 'repairs in flight' }),
  handler: async (args) => {
    let since;
    let only: number[] | undefined;
    try {
      since = args.since ? parseSince(args.since) : undefined;
      if (args.groups) {
        only = args.groups.split(',').map((g) => Number(g.trim()));
        if (only.some((g) => !Number.isInteger(g) || g <= 0)) throw new Error(`--groups: "${args.groups}" is not a list of group numbers such as 1,2`);
      }
      if (args.rate !== undefined && !(args.rate > 0)) throw new Error('--rate: give MB/s above 0');
    } catch (err) {
      fail((err as Error).message, 2);
    }
    let config;
    try {
      config = loadBackrunnerConfig(args.config);
    } catch (err) {
      fail((err as Error).message, 2);
    }
    const e = config.elliptics;
    const log = createLogger('recover', { level: 'error' });
    const cluster = await Cluster.connect({ remotes: e.remotes, protocolVersion: e.protocolVersion, poolSize: 1, timeoutMs: e.waitTimeoutMs, checkIntervalMs: e.checkIntervalMs, maxFrame: e.maxFrame, log }).catch((err: unknown) => fail(`${(err as Error).message} (elliptics.remote in ${args.config})`, 2));
    try {
      const store = new MetadataStore(cluster, e.metadataGroups);
      let names = args.bucket ?? [];
      if (names.length === 0) {
        if (e.bucketListKey || args.buckets) names = await store.readBucketList({ key: e.bucketListKey || undefined, file: args.buckets });
        else if (config.embedded) names = withConfigFile(config.file, () => parseDefinitionsAt(config.embedded!.bucketDefinitions, 'embedded.buckets')).map((b) => b.name);
      }
      if (names.length === 0) fail('no buckets: give --bucket B, --buckets FILE, or a config with elliptics.bucket-list-key or embedded buckets', 2);
      const buckets: BucketMeta[] = [];
      for (const n of names) buckets.push(await store.readBucket(n).catch((err: unknown) => fail(`bucket ${n}: ${(err as Error).message}`, 2)));
      let sets;
      try {
        sets = groupSets(buckets, only);
      } catch (err) {
        fail((err as Error).message, 2);
      }
      const tty = process.stderr.isTTY === true && !args.json;
      let last = 0;
      const recovery = new Recovery(cluster, {
        sets,
        dryRun: args['dry-run'] ?? false,
        rate: (args.rate ?? 0) * 1e6,
        ...(since ? { since } : {}),
        maxKeys: args['max-keys'],
        concurrency: args.concurrency,
        onProgress: (p) => {
          const now = Date.now();
          if (tty && (now - last > 250 || p.phase === 'done')) process.stderr.write(`\r\x1b[K${progressLine(p)}`);
          else if (!tty && !args.json && now - last > 10_000) process.stderr.write(`${progressLine(p)}\n`);
          else return;
          last = now;
        },
      });
      const summary = await recovery.run();
      if (tty) process.stderr.write('\n');
      process.stdout.write(args.json ? `${JSON.stringify(summary)}\n` : `${summaryText(summary)}\n`);
      process.exitCode = summary.failed > 0 || summary.unwalked.length > 0 ? 1 : 0;
    } finally {
      cluster.close();
    }
  },
};
