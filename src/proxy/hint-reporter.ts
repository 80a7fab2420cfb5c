// A worker's side of hinted handoff: the groups a successful write or removal missed go to the
// primary as hints, and the reply to the client waits until the primary has them on disk (or a
// short deadline passes) — an acknowledged write is then repaired even if the primary is killed.
// Only degraded requests pay this wait; they already waited out a failed group.

import type { Hint, HintsAck, HintsMessage } from '../ipc/hints.js';
import type { GroupResult } from '../elliptics/group-result.js';
import { Errno, type DnetTime } from '../elliptics/protocol/index.js';
import type { Logger } from '../util/logger.js';

/** How long a reply waits for the primary to journal its hints. */
const ACK_TIMEOUT_MS = 2000;

export class HintReporter {
  private seq = 0;
  private readonly waiting = new Map<number, (stored: boolean) => void>();

  constructor(
    private readonly send: (m: HintsMessage) => void,
    private readonly log: Logger,
  ) {}

  /** Hints for `groups`. Resolves true once the primary stored them; false when it could not (logged). */
  async report(bucket: string, id: Buffer, groups: readonly number[], op: Hint['op'], when: DnetTime): Promise<boolean> {
    if (groups.length === 0) return true;
    const hints = groups.map((group): Hint => ({ bucket, id: new Uint8Array(id), group, op, sec: when.sec, nsec: when.nsec }));
    const seq = ++this.seq;
    const stored = await new Promise<boolean>((resolve) => {
      const timer = setTimeout(() => {
        this.waiting.delete(seq);
        resolve(false);
      }, ACK_TIMEOUT_MS);
      this.waiting.set(seq, (ok) => {
        clearTimeout(timer);
        resolve(ok);
      });
      this.send({ type: 'hints', seq, hints });
    });
    if (!stored) this.log.warn({ bucket, groups, op }, 'a hint was not stored: the group stays behind until `backrunner recover` runs');
    return stored;
  }

  ack(m: HintsAck): void {
    this.waiting.get(m.seq)?.(m.stored);
    this.waiting.delete(m.seq);
  }
}

/** The groups a successful write or removal missed (a removal that found no key there missed nothing). */
export function missedGroups(results: readonly GroupResult[], op: Hint['op']): number[] {
  return results.filter((r) => r.status !== 0 && !(op === 'remove' && r.status === Errno.ENOENT)).map((r) => r.group);
}
