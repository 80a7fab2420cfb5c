// pino loggers for every process. Logs go to stdout as JSON lines, or appended to
// `elliptics.log-file` (reopened by reopenLogs on SIGUSR1, for logrotate). Lines are written
// asynchronously in batches: a synchronous write per access-log line showed up as ~8 % of a
// worker's CPU under load (bench/proxy). Batches go out at least every 500 ms, and `flushLogs`
// runs before a process exits.

import pino, { type Logger as PinoLogger } from 'pino';
import { writeSync } from 'node:fs';
import { createRequire } from 'node:module';
import type { SonicBoom as SonicBoomType } from 'sonic-boom';

// sonic-boom is CommonJS whose typings describe a named class the ESM loader does not see.
const SonicBoom = createRequire(import.meta.url)('sonic-boom') as typeof SonicBoomType;

export type Logger = PinoLogger<'notice'>;

/**
 * Level names a config may use: the original's (error, warning, info, notice, debug — the Elliptics
 * client's levels) and pino's own. `notice` sits between info and debug, as in Elliptics.
 */
const LEVELS: Readonly<Record<string, string>> = {
  fatal: 'fatal',
  error: 'error',
  warning: 'warn',
  warn: 'warn',
  info: 'info',
  notice: 'notice',
  debug: 'debug',
  trace: 'trace',
  silent: 'silent',
};

export const LOG_LEVEL_NAMES = Object.keys(LEVELS);

/** The pino level for a configured name (case-insensitive), or undefined when it is not one. */
export function logLevel(name: string): string | undefined {
  return LEVELS[name.toLowerCase()];
}

export interface LogOptions {
  /** A level name of LOG_LEVEL_NAMES; BACKRUNNER_LOG_LEVEL, then info, when unset. */
  level?: string | undefined;
  /** Appended to (created with its directory when missing); standard output when unset. */
  file?: string | undefined;
  /** `elliptics.log-prefix`: put in front of every message, as the original did. */
  prefix?: string | undefined;
}

// SonicBoom directly, not pino.destination: pino's exit hook flushes synchronously and throws when a
// process exits before its log file finished opening; flushLogs below tolerates that.
const destinations: SonicBoomType[] = [];

/**
 * A log that cannot be written (a full disk, a closed pipe) must not take the process down with it:
 * lines wait, up to this many bytes (later ones are dropped), and go out once writes work again.
 */
const MAX_UNWRITTEN = 16 * 1024 * 1024;
const reported = new Set<string>();
/** Destinations whose last write failed: sonic-boom's flushSync would retry them forever. */
const failing = new Set<SonicBoomType>();

/** Says once per destination and error code, on standard error, that the log is not being written. */
function logWriteFailed(name: string, file: string | undefined, err: NodeJS.ErrnoException): void {
  const key = `${file ?? 'stdout'} ${err.code ?? err.message}`;
  if (reported.has(key)) return;
  reported.add(key);
  try {
    writeSync(2, `${name}: cannot write the log to ${file ?? 'standard output'} (${err.code ?? err.message}); lines wait (up to ${MAX_UNWRITTEN / 1024 / 1024} MiB) until it works again\n`);
  } catch {
    // standard error is gone as well: nothing left to tell
  }
}

/** `log-prefix` as the start of every message: the original glued it on; a space keeps words apart. */
function messagePrefix(prefix: string | undefined): string | undefined {
  if (!prefix) return undefined;
  return /[\s:]$/.test(prefix) ? prefix : `${prefix} `;
}

export function createLogger(name: string, opts: LogOptions = {}): Logger {
  const level = logLevel(opts.level ?? process.env.BACKRUNNER_LOG_LEVEL ?? 'info') ?? 'info';
  const dest = new SonicBoom({ dest: opts.file ?? 1, sync: false, minLength: 4096, maxLength: MAX_UNWRITTEN, mkdir: opts.file !== undefined, append: true });
  dest.on('error', (err: NodeJS.ErrnoException) => {
    failing.add(dest);
    logWriteFailed(name, opts.file, err);
  });
  dest.on('write', () => failing.delete(dest));
  destinations.push(dest);
  const msgPrefix = messagePrefix(opts.prefix);
  return pino(
    {
      name,
      level,
      customLevels: { notice: 25 },
      base: { pid: process.pid, name },
      timestamp: pino.stdTimeFunctions.isoTime,
      ...(msgPrefix ? { msgPrefix } : {}),
      // No `redact`: it costs a few percent of every request, and secrets are kept out of log
      // objects by construction (the tests grep the logs for every token and signature).
    },
    dest,
  );
}

/** Writes out buffered log lines (call before process.exit). */
export function flushLogs(): void {
  for (const d of destinations) {
    if (failing.has(d)) continue;
    try {
      d.flushSync();
    } catch {
      // a destination that is not ready yet has nothing buffered
    }
  }
}

/**
 * Reopens every log file of this process (logrotate moved it away and sends SIGUSR1): lines
 * buffered so far go to the old file, the next ones to a new file at the configured path.
 */
export function reopenLogs(): void {
  for (const d of destinations) {
    try {
      d.reopen();
    } catch {
      // standard output cannot be reopened, and needs not be
    }
  }
}

process.once('exit', flushLogs);
setInterval(() => {
  for (const d of destinations) d.flush();
}, 500).unref();
