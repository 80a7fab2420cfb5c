// Slices of the key space for walks that must fit in memory: ids are SHA-512 digests, so the
// leading bits spread keys evenly and a slice of 1/2^k of the space holds about 1/2^k of the keys.

import type { KeyRange } from '../elliptics/protocol/iterator.js';

/** The most slices (2^16): a slice is then named by the first two bytes of its ids. */
export const MAX_SLICE_BITS = 16;

export interface KeySlice {
  /** This slice is `index` of 2^bits equal slices. */
  bits: number;
  index: number;
}

export const WHOLE: KeySlice = { bits: 0, index: 0 };

/** The id range of a slice (inclusive bounds); the whole space has none (walk everything). */
export function sliceRange(s: KeySlice): KeyRange | undefined {
  if (s.bits === 0) return undefined;
  const shift = MAX_SLICE_BITS - s.bits;
  const first = s.index << shift;
  const last = ((s.index + 1) << shift) - 1;
  const begin = Buffer.alloc(64, 0);
  const end = Buffer.alloc(64, 0xff);
  begin.writeUInt16BE(first, 0);
  end.writeUInt16BE(last, 0);
  return { begin, end };
}

/** `s` cut into 2^more equal slices (at most MAX_SLICE_BITS deep). */
export function splitSlice(s: KeySlice, more: number): KeySlice[] {
  const add = Math.max(1, Math.min(more, MAX_SLICE_BITS - s.bits));
  if (s.bits + add > MAX_SLICE_BITS || add <= 0) return [s];
  const out: KeySlice[] = [];
  for (let i = 0; i < 1 << add; i++) out.push({ bits: s.bits + add, index: (s.index << add) | i });
  return out;
}

/** Extra bits that cut `keys` into slices of at most `max` keys each (with room for unevenness). */
export function bitsFor(keys: number, max: number): number {
  let bits = 0;
  while (bits < MAX_SLICE_BITS && keys * 1.25 > max * (1 << bits)) bits++;
  return bits;
}

export function describeSlice(s: KeySlice): string {
  return s.bits === 0 ? 'all keys' : `slice ${s.index + 1}/${1 << s.bits}`;
}
