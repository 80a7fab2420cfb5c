// pino loggers for every process. Logs go to stdout as JSON lines (or to elliptics.log-file).
// Lines are written asynchronously in batches: a synchronous write per access-log line showed up
// as ~8 % of a worker's CPU under load (bench/proxy). Batches go out at least every 500 ms, and
// `flushLogs` runs before a process exits.

import pino, { type Logger, type LevelWithSilent } from 'pino';

export type { Logger };

const destinations: ReturnType<typeof pino.destination>[] = [];

export function createLogger(name: string, level: string = process.env.BACKRUNNER_LOG_LEVEL ?? 'info', file?: string): Logger {
  const dest = pino.destination({ dest: file ?? 1, sync: false, minLength: 4096, mkdir: file !== undefined, append: true });
  destinations.push(dest);
  return pino(
    {
      name,
      level: level as LevelWithSilent,
      base: { pid: process.pid, name },
      timestamp: pino.stdTimeFunctions.isoTime,
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

process.once('exit', flushLogs);
setInterval(() => {
  for (const d of destinations) d.flush();
}, 500).unref();
