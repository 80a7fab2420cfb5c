// What every operation of the client answers per group: the outcome in that group.

import type { EllipticsError } from './errors.js';
import type { DnetAddr, FileInfo } from './protocol/index.js';

/** The outcome of one operation in one group. */
export interface GroupResult {
  group: number;
  backendId: number;
  /** `ip:port:family` of the node that answered (or would have). */
  address: string;
  /** 0 or a negative errno. */
  status: number;
  error: EllipticsError | undefined;
  /** WRITE / LOOKUP: the stored record (path of the blob file, data offset, size, mtime, checksum). */
  info: FileInfo | undefined;
  /** The storage address in the file info (the node holding the bytes). */
  storage: DnetAddr | undefined;
  /**
   * Microseconds the storage spent on it: from sending the request to its last reply (for a
   * streamed write, the time any of its steps was outstanding — not the time spent waiting for data).
   */
  micros: number;
}

export interface KeyResults {
  key: string;
  id: Buffer;
  results: GroupResult[];
}
