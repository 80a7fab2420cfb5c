// The proxy section in force: the config file's, or — with elliptics.backrunner-config-key — the
// stored config combined with the file as the original does (spec §9.4). A stored config that
// cannot be read or parsed leaves the file alone in force, with a warning; the file's warnings are
// logged again only when they change.

import type { MetadataStore } from '../buckets/metadata-store.js';
import type { BackrunnerConfig } from '../config/backrunner-config.js';
import { parseProxyConfig, type ProxyConfig } from '../config/proxy-config.js';
import { Section, withConfigFile } from '../config/reader.js';
import { combineStoredConfig } from '../config/stored-config.js';
import type { Logger } from '../util/logger.js';

export class ProxySource {
  /** Config warnings last logged. */
  private warned = '';

  constructor(private readonly log: Logger) {}

  async read(config: BackrunnerConfig, store: MetadataStore): Promise<ProxyConfig> {
    const key = config.elliptics.backrunnerConfigKey;
    let section = config.proxy;
    let source = config.file;
    if (key) {
      try {
        const doc = combineStoredConfig((await store.readRaw(key)).toString('utf8'), config.doc);
        section = Section.root(doc).section('proxy');
        source = `${config.file} with the config stored under "${key}"`;
      } catch (err) {
        this.log.warn({ key, err: (err as Error).message }, `the stored config (elliptics.backrunner-config-key "${key}") could not be used; ${config.file} alone is in force`);
      }
    }
    const warnings = [...config.warnings];
    const proxy = withConfigFile(source, () => parseProxyConfig(section, source, warnings));
    const text = warnings.join('\n');
    if (text !== this.warned) for (const w of warnings) this.log.warn(`${source}: ${w}`);
    this.warned = text;
    return proxy;
  }
}
