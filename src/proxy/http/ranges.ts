// The Range parser of the original (spec backrunner.md §8.1), shared by upload, get and redirect.

export interface ByteRange {
  start: number;
  length: number;
}

export class RangeError_ extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'RangeError';
  }
}

/** Parses `bytes=…` against an object of `size` bytes; [] for an empty header. */
export function parseRange(header: string, size: number): ByteRange[] {
  if (header === '') return [];
  if (!header.startsWith('bytes=')) throw new RangeError_("invalid range, there is no prefix 'bytes='");
  const out: ByteRange[] = [];
  for (const raw of header.slice('bytes='.length).split(',')) {
    const element = raw.trim();
    if (element === '') continue;
    const dash = element.indexOf('-');
    if (dash < 0) throw new RangeError_(`invalid range element ${JSON.stringify(element)}: no '-'`);
    const a = element.slice(0, dash).trim();
    const b = element.slice(dash + 1).trim();
    if (a === '') {
      const n = decimal(b, element);
      const len = Math.min(n, size);
      out.push({ start: size - len, length: len });
      continue;
    }
    const start = decimal(a, element);
    if (start >= size) throw new RangeError_(`invalid range ${JSON.stringify(element)}: start ${start} is not below the size ${size}`);
    if (b === '') {
      out.push({ start, length: size - start });
      continue;
    }
    let end = decimal(b, element);
    if (end < start) throw new RangeError_(`invalid range ${JSON.stringify(element)}: end before start`);
    if (end >= size) end = size - 1;
    out.push({ start, length: end - start + 1 });
  }
  return out;
}

function decimal(s: string, element: string): number {
  if (!/^[0-9]+$/.test(s)) throw new RangeError_(`invalid range ${JSON.stringify(element)}`);
  const n = Number(s);
  if (!Number.isSafeInteger(n)) throw new RangeError_(`invalid range ${JSON.stringify(element)}: number too large`);
  return n;
}
