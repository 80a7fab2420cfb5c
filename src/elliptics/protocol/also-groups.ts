// Ours: the list of further groups after the data of a WRITE with FlagsHigh.ALSO_GROUPS — u32
// count, then a u32 per group (little-endian, as the rest of the protocol).

/** Groups a WRITE may name besides its own (FlagsHigh.ALSO_GROUPS). */
export const MAX_ALSO_GROUPS = 32;

export function encodeAlsoGroups(groups: readonly number[]): Buffer {
  const b = Buffer.allocUnsafe(4 + 4 * groups.length);
  b.writeUInt32LE(groups.length, 0);
  groups.forEach((g, i) => b.writeUInt32LE(g, 4 + 4 * i));
  return b;
}

/** The groups listed in `trailer` (what follows a WRITE's data); undefined when it is not such a list. */
export function decodeAlsoGroups(trailer: Buffer): number[] | undefined {
  if (trailer.length < 8) return undefined;
  const n = trailer.readUInt32LE(0);
  if (n < 1 || n > MAX_ALSO_GROUPS || trailer.length !== 4 + 4 * n) return undefined;
  const out: number[] = [];
  for (let i = 0; i < n; i++) out.push(trailer.readUInt32LE(4 + 4 * i));
  return out;
}
