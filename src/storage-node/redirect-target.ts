// What a /redirect/ points at, checked (the role of the eblob streaming module of the original
// deployment): `GET|HEAD /<blob path below the root>:<file offset>:<size>` with the X-Ell-* headers
// and the Authorization of the proxy's 302. It checks what that module checks — the signature over
// the path and every X-Ell-* header (spec §7), that X-Ell-Signtime + X-Ell-Signature-Timeout has not
// passed, that the path stays inside the root and names one of this node's blob files, and that the
// range lies inside a live record of it (X-Ell-File-Offset, X-Ell-Total-Size, X-Ell-Mtime) — and
// answers 403 (signature, expiry, path) or 404 (the record is gone or was moved: ask the proxy for a
// fresh redirect) before a byte of the file is sent.

import path from 'node:path';
import { signatureMatches, sign } from '../buckets/signature.js';
import type { BlobFile } from './engine/blob-file.js';
import type { RecordRef } from './engine/key-index.js';

export class RedirectRefused extends Error {
  constructor(
    readonly status: 400 | 403 | 404,
    message: string,
  ) {
    super(message);
    this.name = 'RedirectRefused';
  }
}

/** What a verified request may be served: `length` bytes of `file` from `position`. */
export interface RedirectTarget {
  file: string;
  position: number;
  length: number;
  /** Seconds since the epoch (X-Ell-Mtime), for Last-Modified. */
  mtime: number;
}

export interface LiveRecordLookup {
  /** The live record whose data starts at `dataOffset` of `file` (pinned), or undefined. */
  liveRecordAt(file: string, dataOffset: number): Promise<{ ref: RecordRef; unpin: () => void } | undefined>;
  /** Whether `file` is one of the blob files this node serves. */
  isBlobFile(file: string): boolean;
}

const header = (headers: Record<string, string | string[] | undefined>, name: string): string | undefined => {
  const v = headers[name];
  return Array.isArray(v) ? v[0] : v;
};

function integer(value: string | undefined, what: string): number {
  if (value === undefined || !/^\d{1,16}$/.test(value)) throw new RedirectRefused(400, `${what} is missing or not a number`);
  return Number(value);
}

/** `/<file>:<offset>:<size>`: the file relative to the root, and the byte window. */
export function parseTargetPath(rawPath: string): { file: string; offset: number; size: number; signPath: string } {
  let signPath: string;
  try {
    signPath = decodeURIComponent(rawPath);
  } catch {
    throw new RedirectRefused(400, 'the path is not valid percent-encoding');
  }
  const m = /^(\/.*):(\d{1,16}):(\d{1,16})$/.exec(signPath);
  if (!m) throw new RedirectRefused(400, 'the path is not /<file>:<offset>:<size>');
  return { file: m[1]!, offset: Number(m[2]), size: Number(m[3]), signPath };
}

/**
 * Checks a request; returns the record (pinned: call `unpin` when the bytes are sent) and the bytes
 * to serve. Throws RedirectRefused.
 */
export async function verifyRedirect(
  rawPath: string,
  headers: Record<string, string | string[] | undefined>,
  opts: { token: string; root: string; nowMs?: number },
  store: LiveRecordLookup,
): Promise<{ target: RedirectTarget; blob: BlobFile; unpin: () => void }> {
  const { file: rel, offset, size, signPath } = parseTargetPath(rawPath);
  // The signature first: nothing about the files is said to someone who cannot sign.
  const ell: [string, string][] = [];
  for (const [name, value] of Object.entries(headers)) if (name.startsWith('x-ell-') && value !== undefined) ell.push([name, Array.isArray(value) ? value[0]! : value]);
  const given = header(headers, 'authorization')?.trim() ?? '';
  if (!/^[0-9a-f]{128}$/i.test(given) || !signatureMatches(given.toLowerCase(), sign(opts.token, { method: 'GET', signPath, rawQuery: '', headers: ell }))) {
    throw new RedirectRefused(403, 'the signature does not match');
  }
  const signtime = integer(header(headers, 'x-ell-signtime'), 'X-Ell-Signtime');
  const timeout = integer(header(headers, 'x-ell-signature-timeout'), 'X-Ell-Signature-Timeout');
  if ((opts.nowMs ?? Date.now()) / 1000 > signtime + timeout) throw new RedirectRefused(403, 'the signature has expired');
  if (header(headers, 'x-ell-file') !== rel) throw new RedirectRefused(403, 'X-Ell-File does not name the file of the path');
  const fileOffset = integer(header(headers, 'x-ell-file-offset'), 'X-Ell-File-Offset');
  const totalSize = integer(header(headers, 'x-ell-total-size'), 'X-Ell-Total-Size');
  const mtime = integer(header(headers, 'x-ell-mtime'), 'X-Ell-Mtime');
  if (offset < fileOffset || offset + size > fileOffset + totalSize) throw new RedirectRefused(403, 'the range lies outside the record the headers name');
  // Inside the root, and one of this node's blob files (never another file).
  if (rel.split('/').includes('..')) throw new RedirectRefused(403, 'the path leaves the root');
  const file = path.resolve(opts.root || '/', `.${rel.startsWith('/') ? rel : `/${rel}`}`);
  const root = path.resolve(opts.root || '/');
  if (file !== root && !file.startsWith(root.endsWith('/') ? root : `${root}/`)) throw new RedirectRefused(403, 'the path leaves the root');
  if (!store.isBlobFile(file)) throw new RedirectRefused(404, 'no such blob file on this node');
  const live = await store.liveRecordAt(file, fileOffset);
  if (!live) throw new RedirectRefused(404, 'the record is no longer there (removed, overwritten or moved): ask for a new redirect');
  const h = live.ref.header;
  if (h.size !== totalSize || h.tsec !== mtime) {
    live.unpin();
    throw new RedirectRefused(404, 'the record there is another version: ask for a new redirect');
  }
  return { target: { file, position: offset, length: size, mtime }, blob: live.ref.blob, unpin: live.unpin };
}
