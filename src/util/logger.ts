// pino loggers for every process. Logs go to stdout as JSON lines, or appended to
// `elliptics.log-file` (reopened by reopenLogs on SIGUSR1, for logrotate). Lines are written
// asynchronously in batches: a synchronous write per access-log line showed up as ~8 % of a
// worker's CPU under load (bench/proxy). Batches go out at least every 500 ms, and `flushLogs`
// runs before a process exits.

import pino, { type Logger as PinoLogger } from 'pino';

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

const destinations: ReturnType<typeof pino.destination>[] = [];

export function createLogger(name: string, opts: LogOptions = {}): Logger {
  const level = logLevel(opts.level ?? process.env.BACKRUNNER_LOG_LEVEL ?? 'info') ?? 'info';
  const dest = pino.destination({ dest: opts.file ?? 1, sync: false, minLength: 4096, mkdir: opts.file !== undefined, append: true });
  destinations.push(dest);
  return pino(
    {
      name,
      level,
      customLevels: { notice: 25 },
      base: { pid: process.pid, name },
      timestamp: pino.stdTimeFunctions.isoTime,
      ...(opts.prefix ? { msgPrefix: opts.prefix } : {}),
      // No `redact`: it costs a few percent of every request, and secrets are kept out of log
      // objects by construction (the tests grep the logs for every token and signature).
    },
    dest,
  );
}

/** Writes out buffered log lines (call before process.exit). */
export function flushLogs(): void {
  for (const d of destinations) {
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
