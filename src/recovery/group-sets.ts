// The sets of groups that replicate each other, from the buckets that use them: recovery compares
// the groups of a set key by key. Buckets that share groups but not all of them cannot be recovered
// this way — a key walked in a shared group could belong to either bucket — and are refused by name.

import type { BucketMeta } from '../buckets/metadata.js';

export interface GroupSet {
  groups: number[];
  buckets: string[];
}

export function groupSets(buckets: readonly BucketMeta[], only?: readonly number[]): GroupSet[] {
  const sets: GroupSet[] = [];
  for (const b of buckets) {
    const groups = [...b.groups].filter((g) => !only || only.includes(g)).sort((x, y) => x - y);
    const same = sets.find((s) => s.groups.join() === groups.join());
    if (same) {
      same.buckets.push(b.name);
      continue;
    }
    const clash = sets.find((s) => s.groups.some((g) => groups.includes(g)));
    if (clash) {
      throw new Error(`buckets ${clash.buckets.join(', ')} (groups ${clash.groups.join(', ')}) and ${b.name} (groups ${groups.join(', ')}) share some groups but not all: recover them with --groups naming one set at a time`);
    }
    sets.push({ groups, buckets: [b.name] });
  }
  // A set of one group has nothing to compare.
  return sets.filter((s) => s.groups.length > 1);
}
