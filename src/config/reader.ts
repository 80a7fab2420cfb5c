// Typed reading of JSON config sections. Every problem names the field the way an operator finds
// it in the file: `backends[1].group: must be a positive integer`.

import { readFileSync } from 'node:fs';
import { parseEndpoint, type Endpoint } from '../elliptics/protocol/addr.js';

export class ConfigError extends Error {
  constructor(
    readonly field: string,
    readonly problem: string,
    readonly file?: string,
  ) {
    super(`${file ? `${file}: ` : ''}${field ? `${field}: ` : ''}${problem}`);
    this.name = 'ConfigError';
  }
}

/** Runs `parse` on a config read from `file`: a ConfigError it throws names that file. */
export function withConfigFile<T>(file: string, parse: () => T): T {
  try {
    return parse();
  } catch (err) {
    if (err instanceof ConfigError && !err.file) throw new ConfigError(err.field, err.problem, file);
    throw err;
  }
}

/** Reads and parses a JSON config file; errors name the file. */
export function readJsonFile(file: string): unknown {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    throw new ConfigError('', `cannot read the config file: ${(err as Error).message}`, file);
  }
  try {
    return JSON.parse(text);
  } catch (err) {
    throw new ConfigError('', `not valid JSON: ${(err as Error).message}`, file);
  }
}

export class Section {
  private readonly seen = new Set<string>();
  /** Keys match case-insensitively, as the Go original's JSON decoding does. */
  private readonly byLower = new Map<string, string>();

  constructor(
    private readonly obj: Record<string, unknown>,
    readonly path: string,
  ) {
    for (const k of Object.keys(obj)) if (!this.byLower.has(k.toLowerCase())) this.byLower.set(k.toLowerCase(), k);
  }

  static root(value: unknown, what = 'config'): Section {
    if (!isPlainObject(value)) throw new ConfigError('', `the ${what} must be a JSON object`);
    return new Section(value, '');
  }

  field(key: string): string {
    return this.path ? `${this.path}.${key}` : key;
  }

  has(key: string): boolean {
    const actual = this.byLower.get(key.toLowerCase());
    return actual !== undefined && this.obj[actual] !== undefined && this.obj[actual] !== null;
  }

  raw(key: string): unknown {
    const actual = this.byLower.get(key.toLowerCase());
    if (actual === undefined) return undefined;
    this.seen.add(actual);
    return Object.hasOwn(this.obj, actual) ? this.obj[actual] : undefined;
  }

  fail(key: string, problem: string): never {
    throw new ConfigError(this.field(key), problem);
  }

  /** Keys present in the object that nothing read: typos and settings of other versions. */
  unknownKeys(): string[] {
    return Object.keys(this.obj).filter((k) => !this.seen.has(k)).map((k) => this.field(k));
  }

  string(key: string): string;
  string(key: string, def: string): string;
  string(key: string, def?: string): string {
    const v = this.raw(key);
    if (v === undefined || v === null) {
      if (def === undefined) this.fail(key, 'is required');
      return def;
    }
    if (typeof v !== 'string') this.fail(key, 'must be a string');
    return v;
  }

  /** One of `allowed` (compared case-insensitively; returned as the file spells it). */
  choice(key: string, allowed: readonly string[], def: string): string {
    const v = this.string(key, def);
    if (!allowed.includes(v.toLowerCase())) this.fail(key, `must be one of ${allowed.join(', ')}, got "${v}"`);
    return v;
  }

  optionalString(key: string): string | undefined {
    const v = this.raw(key);
    if (v === undefined || v === null) return undefined;
    if (typeof v !== 'string') this.fail(key, 'must be a string');
    return v;
  }

  int(key: string, opts: { def?: number; min?: number; max?: number; positive?: boolean } = {}): number {
    const v = this.raw(key);
    if (v === undefined || v === null) {
      if (opts.def === undefined) this.fail(key, 'is required');
      return opts.def;
    }
    if (typeof v !== 'number' || !Number.isSafeInteger(v)) this.fail(key, opts.positive ? 'must be a positive integer' : 'must be an integer');
    if (opts.positive && v <= 0) this.fail(key, 'must be a positive integer');
    if (opts.min !== undefined && v < opts.min) this.fail(key, `must be at least ${opts.min}`);
    if (opts.max !== undefined && v > opts.max) this.fail(key, `must be at most ${opts.max}`);
    return v;
  }

  number(key: string, opts: { def?: number; min?: number; max?: number } = {}): number {
    const v = this.raw(key);
    if (v === undefined || v === null) {
      if (opts.def === undefined) this.fail(key, 'is required');
      return opts.def;
    }
    if (typeof v !== 'number' || !Number.isFinite(v)) this.fail(key, 'must be a number');
    if (opts.min !== undefined && v < opts.min) this.fail(key, `must be at least ${opts.min}`);
    if (opts.max !== undefined && v > opts.max) this.fail(key, `must be at most ${opts.max}`);
    return v;
  }

  bool(key: string, def: boolean): boolean {
    const v = this.raw(key);
    if (v === undefined || v === null) return def;
    if (typeof v !== 'boolean') this.fail(key, 'must be true or false');
    return v;
  }

  stringArray(key: string, def?: string[]): string[] {
    const v = this.raw(key);
    if (v === undefined || v === null) {
      if (def === undefined) this.fail(key, 'is required');
      return def;
    }
    if (!Array.isArray(v)) this.fail(key, 'must be an array of strings');
    v.forEach((item, i) => {
      if (typeof item !== 'string') throw new ConfigError(`${this.field(key)}[${i}]`, 'must be a string');
    });
    return v as string[];
  }

  /** A storage endpoint (`host:port[:family]`); port 0 (any free port) only with `allowPortZero`. */
  endpoint(key: string, opts: { def?: string; allowPortZero?: boolean } = {}): Endpoint {
    const text = opts.def === undefined ? this.string(key) : this.string(key, opts.def);
    try {
      return parseEndpoint(text, { allowPortZero: opts.allowPortZero ?? false });
    } catch (err) {
      return this.fail(key, (err as Error).message);
    }
  }

  /** A list of storage endpoints; a bad one is named by its index. */
  endpointArray(key: string, def?: string[]): Endpoint[] {
    return this.stringArray(key, def).map((text, i) => {
      try {
        return parseEndpoint(text);
      } catch (err) {
        throw new ConfigError(`${this.field(key)}[${i}]`, (err as Error).message);
      }
    });
  }

  intArray(key: string, opts: { def?: number[]; positive?: boolean } = {}): number[] {
    const v = this.raw(key);
    if (v === undefined || v === null) {
      if (opts.def === undefined) this.fail(key, 'is required');
      return opts.def;
    }
    if (!Array.isArray(v)) this.fail(key, 'must be an array of integers');
    v.forEach((item, i) => {
      if (typeof item !== 'number' || !Number.isSafeInteger(item) || (opts.positive && item <= 0)) {
        throw new ConfigError(`${this.field(key)}[${i}]`, opts.positive ? 'must be a positive integer' : 'must be an integer');
      }
    });
    return v as number[];
  }

  section(key: string, required = false): Section | undefined {
    const v = this.raw(key);
    if (v === undefined || v === null) {
      if (required) this.fail(key, 'is required');
      return undefined;
    }
    if (!isPlainObject(v)) this.fail(key, 'must be an object');
    return new Section(v, this.field(key));
  }

  sections(key: string): Section[] {
    const v = this.raw(key);
    if (!Array.isArray(v)) this.fail(key, 'must be an array of objects');
    return v.map((item, i) => {
      const at = `${this.field(key)}[${i}]`;
      if (!isPlainObject(item)) throw new ConfigError(at, 'must be an object');
      return new Section(item, at);
    });
  }

  /** A map of string values (e.g. headers). */
  stringMap(key: string): Record<string, string> {
    const v = this.raw(key);
    if (v === undefined || v === null) return {};
    if (!isPlainObject(v)) this.fail(key, 'must be an object of strings');
    for (const [k, item] of Object.entries(v)) {
      if (typeof item !== 'string') throw new ConfigError(`${this.field(key)}.${k}`, 'must be a string');
    }
    return v as Record<string, string>;
  }
}

export function isPlainObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}
