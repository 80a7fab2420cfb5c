// pino loggers for every process. Logs go to stdout as JSON lines; `LOG_PRETTY` is not offered on
// purpose (pipe through pino-pretty when reading by hand).

import pino, { type Logger, type LevelWithSilent } from 'pino';

export type { Logger };

export function createLogger(name: string, level: string = process.env.BACKRUNNER_LOG_LEVEL ?? 'info'): Logger {
  return pino({
    name,
    level: level as LevelWithSilent,
    base: { pid: process.pid, name },
    timestamp: pino.stdTimeFunctions.isoTime,
    // Never let a token or signature into a log line, whatever object a caller passes.
    redact: { paths: ['token', '*.token', 'authorization', '*.authorization', 'signature', '*.signature'], censor: '[masked]' },
  });
}
