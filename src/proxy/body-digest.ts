// Upload integrity: a client may send `Content-MD5` (RFC 1864) or `Digest: sha-256=…` /
// `sha-512=…` (RFC 3230); the body must match before the object is committed, else 400 and nothing
// is stored. Streamed bodies are hashed chunk by chunk as they arrive (a few microseconds of the
// event loop at a time). A body small enough to be buffered whole is hashed at once: on the loop
// below HASH_OFFLOAD_ABOVE, in the piscina pool above it (threshold from bench/hash).

import { createHash, type Hash } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import { Piscina } from 'piscina';
import type { HashTask } from '../../workers/hash-worker.js';
import { HttpError } from './errors.js';

export type DigestAlgorithm = HashTask['algorithm'];

/** Whole bodies at least this big are hashed in the pool (see bench/hash for the measurement). */
export const HASH_OFFLOAD_ABOVE = 256 * 1024;

export interface ExpectedDigest {
  algorithm: DigestAlgorithm;
  /** base64 */
  value: string;
  header: string;
}

/** The digest the client announced, undefined without one; a malformed header is a 400. */
export function expectedDigest(headers: ReadonlyMap<string, string>): ExpectedDigest | undefined {
  const md5 = headers.get('content-md5');
  if (md5 !== undefined) {
    if (!/^[A-Za-z0-9+/]{22}==$/.test(md5.trim())) throw new HttpError(400, 'upload: Content-MD5 must be the base64 MD5 of the body');
    return { algorithm: 'md5', value: md5.trim(), header: 'Content-MD5' };
  }
  const digest = headers.get('digest');
  if (digest === undefined) return undefined;
  for (const item of digest.split(',')) {
    const eq = item.indexOf('=');
    const name = item.slice(0, eq).trim().toLowerCase();
    const value = item.slice(eq + 1).trim();
    const algorithm = name === 'sha-256' ? 'sha256' : name === 'sha-512' ? 'sha512' : name === 'md5' ? 'md5' : undefined;
    if (algorithm && eq > 0) return { algorithm, value, header: 'Digest' };
  }
  throw new HttpError(400, 'upload: Digest names no supported algorithm (sha-256, sha-512, md5)');
}

let pool: Piscina | undefined;

function hashPool(): Piscina {
  pool ??= new Piscina({
    filename: fileURLToPath(new URL('../../workers/hash-worker.js', import.meta.url)),
    minThreads: 0,
    maxThreads: 2,
    idleTimeout: 30_000,
  });
  return pool;
}

/** Hashes a body while it streams in, or all at once when it was buffered whole. */
export class BodyDigest {
  private hash: Hash | undefined;

  constructor(private readonly expected: ExpectedDigest) {}

  /** A chunk of a streamed body. */
  update(chunk: Buffer): void {
    (this.hash ??= createHash(this.expected.algorithm)).update(chunk);
  }

  /** Throws 400 unless the body matches. `whole`: the entire body, when it was never streamed. */
  async verify(whole?: readonly Buffer[]): Promise<void> {
    let actual: string;
    if (whole) {
      const size = whole.reduce((n, b) => n + b.length, 0);
      if (size >= HASH_OFFLOAD_ABOVE) actual = (await hashPool().run({ algorithm: this.expected.algorithm, parts: [...whole] } satisfies HashTask)) as string;
      else {
        const h = createHash(this.expected.algorithm);
        for (const b of whole) h.update(b);
        actual = h.digest('base64');
      }
    } else actual = (this.hash ?? createHash(this.expected.algorithm)).digest('base64');
    if (actual !== this.expected.value) throw new HttpError(400, `upload: the body does not match its ${this.expected.header} header`);
  }
}

export async function closeHashPool(): Promise<void> {
  await pool?.destroy();
  pool = undefined;
}
