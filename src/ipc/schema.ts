// Shapes of the messages between processes, checked when they are decoded. Both sides run the same
// build (the version byte sees to that), so a message that does not fit its shape is damage, not a
// newer format: the receiver logs it and keeps its last good view instead of carrying a field of the
// wrong type into a request. `obj` lists every field of its type (the compiler holds it to that).

export class IpcShapeError extends Error {
  constructor(
    readonly at: string,
    readonly problem: string,
  ) {
    super(`${at || 'message'}: ${problem}`);
    this.name = 'IpcShapeError';
  }
}

/** Checks `v` (at `at`, for the error) and returns it typed. */
export type Schema<T> = (v: unknown, at: string) => T;

function fail(at: string, problem: string): never {
  throw new IpcShapeError(at, problem);
}

/** Any number but NaN (pains may be infinite). */
export const num: Schema<number> = (v, at) => (typeof v === 'number' && !Number.isNaN(v) ? v : fail(at, 'must be a number'));
/** A finite number ≥ 0 (counters, sums, sizes: one that is not would poison every total it joins). */
export const count: Schema<number> = (v, at) => (typeof v === 'number' && Number.isFinite(v) && v >= 0 ? v : fail(at, 'must be a finite number ≥ 0'));
export const int: Schema<number> = (v, at) => (typeof v === 'number' && Number.isSafeInteger(v) ? v : fail(at, 'must be an integer'));
export const str: Schema<string> = (v, at) => (typeof v === 'string' ? v : fail(at, 'must be a string'));
export const bool: Schema<boolean> = (v, at) => (typeof v === 'boolean' ? v : fail(at, 'must be a boolean'));
/** An integer written in decimal (bigints travel as strings). */
export const decimal: Schema<string> = (v, at) => (typeof v === 'string' && /^-?\d{1,20}$/.test(v) ? v : fail(at, 'must be a decimal integer string'));
export const bytes: Schema<Uint8Array> = (v, at) => (v instanceof Uint8Array ? v : fail(at, 'must be bytes'));

export function opt<T>(s: Schema<T>): Schema<T | undefined> {
  return (v, at) => (v === undefined || v === null ? undefined : s(v, at));
}

export function oneOf<const T extends string | number>(...values: T[]): Schema<T> {
  return (v, at) => ((values as unknown[]).includes(v) ? (v as T) : fail(at, `must be one of ${values.join(', ')}`));
}

export function arr<T>(s: Schema<T>): Schema<T[]> {
  return (v, at) => {
    if (!Array.isArray(v)) fail(at, 'must be an array');
    for (let i = 0; i < v.length; i++) s(v[i], `${at}[${i}]`);
    return v as T[];
  };
}

export function tuple<T extends unknown[]>(...items: { [K in keyof T]: Schema<T[K]> }): Schema<T> {
  return (v, at) => {
    if (!Array.isArray(v) || v.length !== items.length) fail(at, `must be an array of ${items.length}`);
    items.forEach((s, i) => s(v[i], `${at}[${i}]`));
    return v as T;
  };
}

function isPlain(v: unknown): v is Record<string, unknown> {
  if (typeof v !== 'object' || v === null || Array.isArray(v)) return false;
  const proto = Object.getPrototypeOf(v) as unknown;
  return proto === Object.prototype || proto === null;
}

export function record<T>(s: Schema<T>): Schema<Record<string, T>> {
  return (v, at) => {
    if (!isPlain(v)) fail(at, 'must be a map');
    for (const k of Object.keys(v)) s(v[k], `${at}.${k}`);
    return v as Record<string, T>;
  };
}

export function obj<T>(fields: { [K in keyof T]-?: Schema<T[K]> }): Schema<T> {
  const entries = Object.entries(fields) as [string, Schema<unknown>][];
  return (v, at) => {
    if (!isPlain(v)) fail(at, 'must be a map');
    for (const [k, s] of entries) s(v[k], at ? `${at}.${k}` : k);
    return v as T;
  };
}
