// The `riftv1` request signature (spec backrunner.md §6.2, §7): HMAC-SHA512 over a canonical text
// of method, path (decoded once), sorted non-empty query parameters and sorted X-Ell-* headers.

import { createHmac, timingSafeEqual } from 'node:crypto';

export interface SignedRequest {
  method: string;
  /** The request path percent-decoded once, `+` kept (spec §2 "signPath"). */
  signPath: string;
  /** The raw query string, without `?`. */
  rawQuery: string;
  /** Request headers as [name, value] (the first value of each name counts). */
  headers: Iterable<readonly [string, string]>;
}

/** The text that gets signed. */
export function canonicalText(r: SignedRequest): string {
  let text = `${r.method}\n${r.signPath}`;
  const params = parseQuery(r.rawQuery);
  if (params.size > 0) {
    const kept = [...params].filter(([, v]) => v !== '').sort(([a], [b]) => compareBytes(a, b));
    text += `?${kept.map(([k, v]) => `${queryEscape(k)}=${queryEscape(v)}`).join('&')}`;
  }
  text += '\n';
  const ell = new Map<string, string>();
  for (const [name, value] of r.headers) {
    const lower = name.toLowerCase();
    if (lower.startsWith('x-ell-') && !ell.has(lower)) ell.set(lower, value);
  }
  for (const name of [...ell.keys()].sort(compareBytes)) text += `${name}:${ell.get(name)}\n`;
  return text;
}

/** 128 lowercase hex characters. */
export function sign(token: string, r: SignedRequest): string {
  return createHmac('sha512', token).update(canonicalText(r)).digest('hex');
}

/**
 * Strict signatures (DESIGN §4.16): the signed X-Ell-Date of a request must lie within `skewSeconds`
 * of now, so a captured request cannot be replayed later. Returns why it fails, or undefined.
 * X-Ell-Date: Unix seconds, or an HTTP / ISO 8601 date.
 */
export function requestDateProblem(headers: Iterable<readonly [string, string]>, skewSeconds: number, nowMs = Date.now()): string | undefined {
  const value = headerValue(headers, 'x-ell-date');
  if (value === undefined) return 'X-Ell-Date is missing (strict signatures)';
  const ms = parseRequestDate(value);
  if (ms === undefined) return `X-Ell-Date ${JSON.stringify(value.slice(0, 40))} is not a date`;
  const off = Math.abs(nowMs - ms) / 1000;
  if (off > skewSeconds) return `X-Ell-Date is ${Math.round(off)} s away from now (allowed: ${skewSeconds} s)`;
  return undefined;
}

export function parseRequestDate(value: string): number | undefined {
  const v = value.trim();
  if (/^\d{1,12}$/.test(v)) return Number(v) * 1000;
  const ms = Date.parse(v);
  return Number.isNaN(ms) ? undefined : ms;
}

/** The first value of a header (case-insensitive name). */
export function headerValue(headers: Iterable<readonly [string, string]>, lowerName: string): string | undefined {
  for (const [name, value] of headers) if (name.toLowerCase() === lowerName) return value;
  return undefined;
}

/** Constant-time comparison of a received signature with the expected one. */
export function signatureMatches(received: string, expected: string): boolean {
  const a = Buffer.from(received.toLowerCase(), 'latin1');
  const b = Buffer.from(expected, 'latin1');
  if (a.length !== b.length) {
    timingSafeEqual(b, b); // same work whatever the length
    return false;
  }
  return timingSafeEqual(a, b);
}

/**
 * Go 1.6 url.ParseQuery: pieces split on `&` and `;`, key and value form-unescaped (`+` → space),
 * pieces that fail to unescape dropped, the first value of each key kept.
 */
export function parseQuery(raw: string): Map<string, string> {
  const out = new Map<string, string>();
  for (const piece of raw.split(/[&;]/)) {
    if (piece === '') continue;
    const eq = piece.indexOf('=');
    const k = formUnescape(eq < 0 ? piece : piece.slice(0, eq));
    const v = formUnescape(eq < 0 ? '' : piece.slice(eq + 1));
    if (k === undefined || v === undefined || k === '') continue;
    if (!out.has(k)) out.set(k, v);
  }
  return out;
}

/** Form-style unescape (`+` → space, `%XX` → byte, UTF-8); undefined on a bad escape. */
export function formUnescape(s: string): string | undefined {
  return percentDecode(s.replace(/\+/g, ' '));
}

/** `%XX` → byte (UTF-8 assembled), nothing else changed; undefined on a bad escape. */
export function percentDecode(s: string): string | undefined {
  if (!s.includes('%')) return s;
  const bytes: number[] = [];
  for (let i = 0; i < s.length; ) {
    const c = s.charCodeAt(i);
    if (c === 0x25) {
      const h = s.slice(i + 1, i + 3);
      if (!/^[0-9a-fA-F]{2}$/.test(h)) return undefined;
      bytes.push(parseInt(h, 16));
      i += 3;
    } else if (c < 0x80) {
      bytes.push(c);
      i++;
    } else {
      // A whole code point (a surrogate pair is one character beyond the BMP).
      const ch = String.fromCodePoint(s.codePointAt(i)!);
      for (const b of Buffer.from(ch, 'utf8')) bytes.push(b);
      i += ch.length;
    }
  }
  return Buffer.from(bytes).toString('utf8');
}

/** Go's url.QueryEscape: unreserved bytes stay, space → `+`, everything else %XX (uppercase). */
export function queryEscape(s: string): string {
  return encodeURIComponent(s)
    .replace(/[!'()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`)
    .replace(/%20/g, '+');
}

function compareBytes(a: string, b: string): number {
  return Buffer.compare(Buffer.from(a), Buffer.from(b));
}
