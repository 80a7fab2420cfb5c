import { Errno } from '../../elliptics/protocol/constants.js';

/** A failed storage operation; `status` is the negative errno the node answers with. */
export class StorageError extends Error {
  constructor(
    readonly status: number,
    message: string,
    /** Bytes the error ACK carries (ours: the io_attr of a removal, see FlagsHigh.REMOVAL_TIME). */
    readonly payload?: Buffer,
  ) {
    super(message);
    this.name = 'StorageError';
  }
}

/** Maps a filesystem error to the errno a real node would report. */
export function fromFsError(err: unknown, what: string): StorageError {
  if (err instanceof StorageError) return err;
  const code = (err as NodeJS.ErrnoException | undefined)?.code;
  const status = code === 'ENOSPC' || code === 'EDQUOT' ? Errno.ENOSPC : code === 'EROFS' ? Errno.EROFS : code === 'ENODATA' ? Errno.ENODATA : Errno.EIO;
  return new StorageError(status, `${what}: ${(err as Error | undefined)?.message ?? String(err)}`);
}
