import { errnoName } from './protocol/constants.js';
import type { DnetTime } from './protocol/time.js';

/** A failed Elliptics operation: `status` is the negative errno (from the node or local, e.g. -ETIMEDOUT). */
export class EllipticsError extends Error {
  constructor(
    readonly status: number,
    message: string,
    /** -ENOENT from our node asked with FlagsHigh.REMOVAL_TIME: when the key was removed there. */
    readonly removedAt?: DnetTime,
  ) {
    super(`${message} (${errnoName(status)} ${status})`);
    this.name = 'EllipticsError';
  }
}

export function statusOf(err: unknown, fallback: number): number {
  if (err instanceof EllipticsError) return err.status;
  const status = (err as { status?: unknown } | undefined)?.status;
  return typeof status === 'number' ? status : fallback;
}
