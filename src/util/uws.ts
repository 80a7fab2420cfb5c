// Loads uWebSockets.js from its native binary, and only from it.
//
// The npm package's own entry point quietly falls back to a pure-JS server (many times slower)
// when the binary does not load. A proxy that silently runs on the fallback is worse than one
// that does not start, so the binary is required directly and a failure stops the process.

import { createRequire } from 'node:module';
import path from 'node:path';
import type * as Uws from '@trufflesuite/uws-js-unofficial';

export type UwsModule = typeof Uws;

const PACKAGE = '@trufflesuite/uws-js-unofficial';
const require = createRequire(import.meta.url);

export class UwsUnavailableError extends Error {
  constructor(
    readonly binary: string,
    cause: unknown,
  ) {
    super(
      `uWebSockets.js native binary did not load: ${binary}\n  ${(cause as Error).message}\n` +
        `Backrunner refuses to run on the package's slow pure-JS fallback. It needs Node.js ${process.version} ` +
        `(ABI ${process.versions.modules}) on ${process.platform}/${process.arch} with a glibc that the v20.30 binaries load on; ` +
        `reinstall with \`npm ci\` or use Node 20.`,
    );
    this.name = 'UwsUnavailableError';
  }
}

/** The binary built for this Node.js ABI and platform (`BACKRUNNER_UWS_BINARY` names another build). */
export function uwsBinaryPath(): string {
  if (process.env.BACKRUNNER_UWS_BINARY) return path.resolve(process.env.BACKRUNNER_UWS_BINARY);
  const pkgDir = path.dirname(require.resolve(`${PACKAGE}/package.json`));
  return path.join(pkgDir, 'binaries', `uws_${process.platform}_${process.arch}_${process.versions.modules}.node`);
}

let loaded: UwsModule | undefined;

/** The native uWebSockets.js module; throws UwsUnavailableError instead of falling back. */
export function loadUws(): UwsModule {
  if (loaded) return loaded;
  const binary = uwsBinaryPath();
  try {
    loaded = require(binary) as UwsModule;
  } catch (err) {
    throw new UwsUnavailableError(binary, err);
  }
  // Drops the `uWebSockets: 20` header from every reply: v20.30's switch for it is this call (the
  // addon compares the argument's character sum with the one of "silent").
  loaded._cfg('silent');
  return loaded;
}

/** True when `mod` is the native addon (the fallback is plain JS and has no native handles). */
export function isNativeUws(mod: UwsModule): boolean {
  const cached = require.cache[uwsBinaryPath()];
  return cached !== undefined && cached.exports === mod;
}
