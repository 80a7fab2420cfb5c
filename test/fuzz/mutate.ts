// Mutations of valid inputs, the way AFL-style fuzzers make them: bit flips, "interesting" integers
// written over fields, bytes inserted, deleted, duplicated, spliced from another input, the input
// cut short or extended. Structure-aware targets choose the byte ranges (a header field, a length).

import type { Rng } from './random.js';

/** Values at the edges where parsers go wrong. */
const INTERESTING_8 = [0, 1, 0x7f, 0x80, 0xff];
const INTERESTING_32 = [0, 1, 0x7fff_ffff, 0x8000_0000, 0xffff_ffff, 0xffff, 0x1_0000 - 1, 1024, 4096, 0x0100_0000, 0xffff_fffe];
const INTERESTING_64 = [0n, 1n, 0x7fff_ffff_ffff_ffffn, 0x8000_0000_0000_0000n, 0xffff_ffff_ffff_ffffn, 0x1_0000_0000n, 0x20_0000_0000_0000n];

export type Mutation = (rng: Rng, input: Buffer, others: readonly Buffer[]) => Buffer;

function at(rng: Rng, b: Buffer, width = 1): number {
  return rng.int(Math.max(1, b.length - width + 1));
}

export const MUTATIONS: readonly Mutation[] = [
  (rng, b) => {
    if (b.length === 0) return b;
    const out = Buffer.from(b);
    const i = at(rng, out);
    out[i] = out[i]! ^ (1 << rng.int(8));
    return out;
  },
  (rng, b) => {
    if (b.length === 0) return b;
    const out = Buffer.from(b);
    out[at(rng, out)] = rng.pick(INTERESTING_8);
    return out;
  },
  (rng, b) => {
    if (b.length < 4) return b;
    const out = Buffer.from(b);
    out.writeUInt32LE(rng.pick(INTERESTING_32) >>> 0, at(rng, out, 4));
    return out;
  },
  (rng, b) => {
    if (b.length < 8) return b;
    const out = Buffer.from(b);
    out.writeBigUInt64LE(rng.pick(INTERESTING_64), at(rng, out, 8));
    return out;
  },
  (rng, b) => {
    if (b.length === 0) return b;
    const out = Buffer.from(b);
    const from = at(rng, out);
    out.fill(rng.u32() & 0xff, from, Math.min(out.length, from + 1 + rng.int(16)));
    return out;
  },
  // delete a range
  (rng, b) => {
    if (b.length === 0) return b;
    const from = at(rng, b);
    const n = 1 + rng.int(Math.min(64, b.length - from));
    return Buffer.concat([b.subarray(0, from), b.subarray(from + n)]);
  },
  // insert random bytes
  (rng, b) => {
    const from = rng.int(b.length + 1);
    return Buffer.concat([b.subarray(0, from), rng.bytes(1 + rng.int(32)), b.subarray(from)]);
  },
  // duplicate a range
  (rng, b) => {
    if (b.length === 0) return b;
    const from = at(rng, b);
    const n = 1 + rng.int(Math.min(128, b.length - from));
    return Buffer.concat([b.subarray(0, from + n), b.subarray(from, from + n), b.subarray(from + n)]);
  },
  // cut short
  (rng, b) => b.subarray(0, rng.int(b.length + 1)),
  // splice with another input
  (rng, b, others) => {
    if (others.length === 0) return b;
    const o = rng.pick(others);
    return Buffer.concat([b.subarray(0, rng.int(b.length + 1)), o.subarray(rng.int(o.length + 1))]);
  },
];

/** 1–4 stacked mutations of `input` (a copy; the input is left alone). */
export function mutate(rng: Rng, input: Buffer, others: readonly Buffer[] = []): Buffer {
  let out = input;
  const n = 1 + rng.int(4);
  for (let i = 0; i < n; i++) out = rng.pick(MUTATIONS)(rng, out, others);
  return out === input ? Buffer.from(input) : out;
}

/** One of `fieldWidths` (offset, width) overwritten with an interesting or random value. */
export function mutateField(rng: Rng, input: Buffer, fields: readonly [offset: number, width: 1 | 4 | 8][]): Buffer {
  const out = Buffer.from(input);
  const [offset, width] = rng.pick(fields);
  if (offset + width > out.length) return out;
  if (width === 1) out[offset] = rng.chance(0.5) ? rng.pick(INTERESTING_8) : rng.u32() & 0xff;
  else if (width === 4) out.writeUInt32LE(rng.chance(0.5) ? rng.pick(INTERESTING_32) >>> 0 : rng.u32(), offset);
  else out.writeBigUInt64LE(rng.chance(0.5) ? rng.pick(INTERESTING_64) : (BigInt(rng.u32()) << 32n) | BigInt(rng.u32()), offset);
  return out;
}
