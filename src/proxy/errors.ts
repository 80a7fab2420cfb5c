// How failures become HTTP replies (spec backrunner.md §5): a status, and a short text in the
// original's shape `url: <uri>: error status: <status>, returned data: '<message>'`.

import { EllipticsError } from '../elliptics/errors.js';
import { Errno } from '../elliptics/protocol/constants.js';

export class HttpError extends Error {
  constructor(
    readonly status: number,
    message: string,
    /** Extra reply headers (e.g. Allow on 405). */
    readonly headers: [string, string][] = [],
    /** The connection closes after the reply (a request body was left unread). */
    readonly close = false,
  ) {
    super(message);
    this.name = 'HttpError';
  }
}

/** Storage error code → HTTP status (spec §5.1). */
export function statusForErrno(code: number): number {
  switch (code) {
    case Errno.ENXIO:
    case Errno.ETIMEDOUT:
    case Errno.EIO:
    case Errno.ECONNRESET:
    case Errno.ECONNREFUSED:
    case Errno.EHOSTDOWN:
    // A replica that missed an acknowledged write, with its repair pending, and no other to read.
    case Errno.ESTALE:
    // This process has as many requests waiting on the node as it may (elliptics.max-pending-per-node).
    case Errno.EBUSY:
      return 503;
    case Errno.ENOENT:
    case Errno.EILSEQ:
    case Errno.EBADFD:
      return 404;
    // The storage is full (the original answered 400, as for bad input): 507 Insufficient Storage.
    case Errno.ENOSPC:
      return 507;
    default:
      return 400;
  }
}

/** An HttpError for a storage failure, with the message the original would give. */
export function storageHttpError(err: EllipticsError, context?: string): HttpError {
  const text = context
    ? `${context}: elliptics-code: ${err.status}, elliptics-message: ${err.message}`
    : `elliptics error: ${err.status}: ${err.message}`;
  return new HttpError(statusForErrno(err.status), text, err.status === Errno.EBUSY ? retryLater() : []);
}

/** Seconds a client shed under load is asked to wait before it tries again. */
export const RETRY_AFTER_SECONDS = 1;

export function retryLater(): [string, string][] {
  return [['Retry-After', String(RETRY_AFTER_SECONDS)]];
}

/** 503 for a request this worker has no room for now (DESIGN §4.21); `close`: its body is not read. */
export function overloaded(what: string, close = false): HttpError {
  return new HttpError(503, `overloaded: ${what}; retry later`, retryLater(), close);
}

export function errorBody(uri: string, status: number, message: string): string {
  return `url: ${uri}: error status: ${status}, returned data: '${message}'\n`;
}

/** Turns anything thrown by a handler into an HttpError (unknown errors are 500s). */
export function toHttpError(err: unknown): HttpError {
  if (err instanceof HttpError) return err;
  if (err instanceof EllipticsError) return storageHttpError(err);
  return new HttpError(500, 'internal error');
}
