// Request paths, decoded in two passes exactly as the original (spec backrunner.md §2, MUST):
//   1. percent-decode the raw path once, `+` kept → signPath (what signatures cover);
//   2. form-unescape signPath (`+` → space, `%XX` → byte) → path (routing, bucket, key).
// No dot-segment resolution, no slash merging.

import { formUnescape, percentDecode } from '../../buckets/signature.js';

export interface DecodedPath {
  signPath: string;
  path: string;
}

export class PathError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'PathError';
  }
}

export function decodePath(rawPath: string): DecodedPath {
  const signPath = percentDecode(rawPath);
  if (signPath === undefined) throw new PathError(`invalid URL escape in ${JSON.stringify(rawPath)}`);
  const path = formUnescape(signPath);
  if (path === undefined) throw new PathError(`could not unescape URL: ${JSON.stringify(signPath)}`);
  return { signPath, path };
}

/** `/get/b1/dir/key` → handler `get`, rest `b1/dir/key` (undefined rest when no `/` follows the name). */
export function splitHandler(path: string): { name: string; rest: string | undefined } | undefined {
  const first = path.indexOf('/');
  if (first < 0) return undefined;
  const slash = path.indexOf('/', first + 1);
  return slash < 0 ? { name: path.slice(first + 1), rest: undefined } : { name: path.slice(first + 1, slash), rest: path.slice(slash + 1) };
}

/**
 * Splits `rest` into `n` parameters; the last keeps further slashes. Fewer pieces, or an empty
 * last piece, are errors (empty non-last pieces are allowed, as in the original).
 */
export function splitParams(rest: string, n: number): string[] {
  const out: string[] = [];
  let at = 0;
  for (let i = 0; i < n - 1; i++) {
    const slash = rest.indexOf('/', at);
    if (slash < 0) throw new PathError(`not enough path parameters: need ${n}`);
    out.push(rest.slice(at, slash));
    at = slash + 1;
  }
  const last = rest.slice(at);
  if (last === '') throw new PathError('last path parameter can not be empty');
  out.push(last);
  return out;
}
