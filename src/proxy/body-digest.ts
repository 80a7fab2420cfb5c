// Upload integrity: a client may send `Content-MD5` (RFC 1864) or `Digest: sha-256=…` /
// `sha-512=…` (RFC 3230), and — required under strict signatures, where it is signed — the hex
// `X-Ell-Content-SHA256`; the body must match before the object is committed, else 400 and nothing
// is stored. Streamed bodies are hashed chunk by chunk as they arrive (a few microseconds of the
// event loop at a time). A body small enough to be buffered whole is hashed at once: on the loop
// below HASH_OFFLOAD_ABOVE, in the piscina pool above it (threshold from bench/hash).

import { createHash, type Hash } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import { Piscina } from 'piscina';
import type { HashTask } from '../util/hash-task.js';
import { HttpError } from './errors.js';

export type DigestAlgorithm = HashTask['algorithm'];

/** Whole bodies at least this big are hashed in the pool (see bench/hash for the measurement). */
export const HASH_OFFLOAD_ABOVE = 256 * 1024;

export interface ExpectedDigest {
  algorithm: DigestAlgorithm;
  /** In `encoding` (hex lower-case). */
  value: string;
  encoding: 'base64' | 'hex';
  header: string;
}

/** The digests the client announced (none: an empty list); a malformed header is a 400. */
export function expectedDigests(header: (lowerName: string) => string | undefined): ExpectedDigest[] {
  const out: ExpectedDigest[] = [];
  const md5 = header('content-md5');
  const digest = header('digest');
  if (md5 !== undefined) {
    if (!/^[A-Za-z0-9+/]{22}==$/.test(md5.trim())) throw new HttpError(400, 'upload: Content-MD5 must be the base64 MD5 of the body');
    out.push({ algorithm: 'md5', value: md5.trim(), encoding: 'base64', header: 'Content-MD5' });
  } else if (digest !== undefined) out.push(digestHeader(digest));
  const sha = header('x-ell-content-sha256');
  if (sha !== undefined) {
    if (!/^[0-9a-fA-F]{64}$/.test(sha.trim())) throw new HttpError(400, 'upload: X-Ell-Content-SHA256 must be the hex SHA-256 of the body');
    out.push({ algorithm: 'sha256', value: sha.trim().toLowerCase(), encoding: 'hex', header: 'X-Ell-Content-SHA256' });
  }
  return out;
}

function digestHeader(digest: string): ExpectedDigest {
  for (const item of digest.split(',')) {
    const eq = item.indexOf('=');
    const name = item.slice(0, eq).trim().toLowerCase();
    const value = item.slice(eq + 1).trim();
    const algorithm = name === 'sha-256' ? 'sha256' : name === 'sha-512' ? 'sha512' : name === 'md5' ? 'md5' : undefined;
    if (algorithm && eq > 0) return { algorithm, value, encoding: 'base64', header: 'Digest' };
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
  private readonly hashes: (Hash | undefined)[];

  constructor(private readonly expected: readonly ExpectedDigest[]) {
    this.hashes = expected.map(() => undefined);
  }

  /** A chunk of a streamed body. */
  update(chunk: Buffer): void {
    this.expected.forEach((e, i) => (this.hashes[i] ??= createHash(e.algorithm)).update(chunk));
  }

  /** Throws 400 unless the body matches every digest. `whole`: the entire body, when it was never streamed. */
  async verify(whole?: readonly Buffer[]): Promise<void> {
    const size = whole?.reduce((n, b) => n + b.length, 0) ?? 0;
    await Promise.all(this.expected.map(async (e, i) => {
      let actual: string;
      if (whole && size >= HASH_OFFLOAD_ABOVE) actual = (await hashPool().run({ algorithm: e.algorithm, parts: [...whole], encoding: e.encoding } satisfies HashTask)) as string;
      else if (whole) {
        const h = createHash(e.algorithm);
        for (const b of whole) h.update(b);
        actual = h.digest(e.encoding);
      } else actual = (this.hashes[i] ?? createHash(e.algorithm)).digest(e.encoding);
      if (actual !== e.value) throw new HttpError(400, `upload: the body does not match its ${e.header} header`);
    }));
  }
}

export async function closeHashPool(): Promise<void> {
  await pool?.destroy();
  pool = undefined;
}
