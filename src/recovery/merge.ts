// What recovery decides for one key from what each group's walk reported (spec §6.8b "Timestamps
// decide between replicas"): the newest state — a committed version (timestamp, then size) or a
// removal — and, per group, what it takes to bring that group there. Pure: the tests feed it states.

import { compareTime, type DnetTime } from '../elliptics/protocol/time.js';

/** One group's view of a key. */
export type ReplicaState =
  | { kind: 'data'; timestamp: DnetTime; size: number }
  /** Prepared, not committed: a write may be in progress. */
  | { kind: 'uncommitted'; timestamp: DnetTime; size: number }
  /** A removal our node remembers. */
  | { kind: 'removed'; timestamp: DnetTime }
  /** The walk did not report it. */
  | { kind: 'missing' };

export type GroupAction = 'none' | 'copy' | 'remove';

export interface KeyPlan {
  /** Where the newest committed version lives (copies read from there); undefined when the newest state is a removal or nothing is committed. */
  source: number | undefined;
  /** The newest state: a committed version, a removal, or nothing to go by (all uncommitted). */
  newest: ReplicaState;
  /** What each group needs. */
  actions: Map<number, GroupAction>;
  /** Why a group needs it: it lacks the key, or holds an older state. */
  missing: number[];
  stale: number[];
}

/** -1, 0, 1: which of two committed states or removals is newer (a removal wins a tie of timestamps). */
export function compareStates(a: ReplicaState, b: ReplicaState): number {
  if (a.kind === 'missing' || a.kind === 'uncommitted') return b.kind === 'missing' || b.kind === 'uncommitted' ? 0 : -1;
  if (b.kind === 'missing' || b.kind === 'uncommitted') return 1;
  const t = compareTime(a.timestamp, b.timestamp);
  if (t !== 0) return Math.sign(t);
  if (a.kind !== b.kind) return a.kind === 'removed' ? 1 : -1;
  if (a.kind === 'data' && b.kind === 'data') return Math.sign(a.size - b.size);
  return 0;
}

export function planKey(states: ReadonlyMap<number, ReplicaState>): KeyPlan {
  let source: number | undefined;
  let newest: ReplicaState = { kind: 'missing' };
  for (const [group, st] of states) {
    if (compareStates(st, newest) > 0) {
      newest = st;
      source = st.kind === 'data' ? group : undefined;
    }
  }
  const actions = new Map<number, GroupAction>();
  const missing: number[] = [];
  const stale: number[] = [];
  for (const [group, st] of states) {
    let action: GroupAction = 'none';
    if (newest.kind === 'data') {
      if (st.kind === 'missing') {
        action = 'copy';
        missing.push(group);
      } else if (st.kind === 'uncommitted') {
        // A prepared write newer than the newest commit may still be under way: it is left alone.
        if (compareTime(st.timestamp, newest.timestamp) < 0) {
          action = 'copy';
          missing.push(group);
        }
      } else if (compareStates(st, newest) < 0) {
        action = 'copy';
        stale.push(group);
      }
    } else if (newest.kind === 'removed') {
      if ((st.kind === 'data' || st.kind === 'uncommitted') && compareTime(st.timestamp, newest.timestamp) <= 0) {
        action = 'remove';
        stale.push(group);
      }
    }
    actions.set(group, action);
  }
  return { source, newest, actions, missing, stale };
}
