// Numbers the proxy parses itself (offset, size, ioflags, cflags, trace_id, X-Request): C-style
// prefixes as the original — 0x/0X hex, a leading 0 octal, else decimal — and no sign.

export function parseCNumber(text: string): bigint | undefined {
  const s = text.trim();
  let m: RegExpExecArray | null;
  if ((m = /^0[xX]([0-9a-fA-F]+)$/.exec(s))) return BigInt(`0x${m[1]}`);
  if ((m = /^0([0-7]+)$/.exec(s))) return BigInt(`0o${m[1]}`);
  if (/^(0|[1-9][0-9]*)$/.test(s)) return BigInt(s);
  return undefined;
}

/** An unsigned integer of at most `bits` bits, or undefined. */
export function parseUint(text: string, bits: 32 | 53 | 64): bigint | undefined {
  const v = parseCNumber(text);
  if (v === undefined) return undefined;
  const max = bits === 53 ? BigInt(Number.MAX_SAFE_INTEGER) : (1n << BigInt(bits)) - 1n;
  return v <= max ? v : undefined;
}

/** Content-Length: decimal digits only (the original re-parsed `010` as octal; SHOULD-FIX). */
export function parseContentLength(text: string): number | undefined {
  if (!/^[0-9]{1,16}$/.test(text)) return undefined;
  const n = Number(text);
  return Number.isSafeInteger(n) ? n : undefined;
}
