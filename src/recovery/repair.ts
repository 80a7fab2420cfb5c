// The two repairs every healing path makes (backrunner recover, hinted handoff, read-repair): copy
// the version one group holds into other groups, and repeat a removal in groups that missed it.
// Both carry the source's timestamp with CAS_TIMESTAMP, so a write or a removal made meanwhile —
// anything newer than what is being repaired — always wins: the node answers -EBADFD and the
// repair counts as done.

import { EllipticsError, statusOf } from '../elliptics/errors.js';
import { ObjectReader } from '../elliptics/object-reader.js';
import { ObjectWriter } from '../elliptics/object-writer.js';
import { Errno, IoFlags, type DnetTime } from '../elliptics/protocol/index.js';
import type { Session } from '../elliptics/session.js';

/** Objects up to this size are copied in one READ and one WRITE; larger ones stream chunk by chunk. */
const WHOLE_COPY_MAX = 4 * 1024 * 1024;
const CHUNK = 1024 * 1024;

export interface RepairOutcome {
  /** Per target group: 0 (repaired, or something newer is there already) or the error. */
  results: Map<number, number>;
  /** Bytes copied (per target). */
  bytes: number;
}

/** A repair status that means "nothing left to do": done, already newer, or already gone. */
export function settled(status: number): boolean {
  return status === 0 || status === Errno.EBADFD;
}

export interface CopyOptions {
  /** Called with each chunk's size before it is written (a rate limit waits here). */
  pace?: (bytes: number) => Promise<void>;
}

/**
 * Copies the version of `id` that group `from` holds into `to`, keeping its timestamp and user
 * flags. Throws when the source cannot be read (ENOENT: it has nothing to copy).
 */
export async function copyReplica(session: Session, id: Buffer, from: number, to: readonly number[], opts: CopyOptions = {}): Promise<RepairOutcome & { timestamp: DnetTime; size: number }> {
  const reader = await ObjectReader.open(session, id, { groups: [from], chunkSize: WHOLE_COPY_MAX });
  const size = reader.totalSize;
  const target = session.with({ groups: to });
  const write = { timestamp: reader.timestamp, userFlags: reader.userFlags, ioFlags: IoFlags.CAS_TIMESTAMP };
  const results = new Map<number, number>();
  try {
    if (size <= WHOLE_COPY_MAX) {
      const parts: Buffer[] = [];
      for await (const part of reader) parts.push(part);
      await opts.pace?.(size);
      for (const r of await target.writeId(id, parts, write)) results.set(r.group, r.status);
    } else {
      const writer = new ObjectWriter(target, id, size, { ...write, chunkSize: CHUNK });
      try {
        for await (const part of reader) {
          await opts.pace?.(part.length);
          await writer.write(part);
        }
        for (const r of await writer.end()) results.set(r.group, r.status);
      } catch (err) {
        // Every target failed (a writer drops a failed group and goes on with the others): -EBADFD
        // everywhere means every target holds something newer.
        if (!(err instanceof EllipticsError)) throw err;
        writer.abort(err);
        for (const g of to) results.set(g, err.status);
      }
    }
  } finally {
    reader.close();
  }
  return { results, bytes: size, timestamp: reader.timestamp, size };
}

/** Repeats a removal made at `timestamp` in `groups` (our nodes keep anything newer). */
export async function repeatRemoval(session: Session, id: Buffer, groups: readonly number[], timestamp: DnetTime): Promise<RepairOutcome> {
  const results = new Map<number, number>();
  for (const r of await session.removeId(id, { groups, timestamp, ioFlags: IoFlags.CAS_TIMESTAMP })) {
    // Already gone there: nothing to repeat.
    results.set(r.group, r.status === Errno.ENOENT ? 0 : r.status);
  }
  return { results, bytes: 0 };
}

/** The status of a failed repair call as a number (what the summary and the hints journal keep). */
export function repairStatus(err: unknown): number {
  return statusOf(err, Errno.EIO);
}
