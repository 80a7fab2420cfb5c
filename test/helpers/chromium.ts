// Debian's chromium, headless, as a test peer for pages the proxy serves: the DOM after the page's
// scripts ran (--dump-dom), or a screenshot. `chromiumPath` is undefined when it is not installed.

import { execFile } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';

export const chromiumPath = ['/usr/bin/chromium', '/usr/bin/chromium-browser'].find((p) => existsSync(p));

/** Flags for a headless run on a machine without a network: no background traffic, a fresh profile. */
function flags(profile: string): string[] {
  return ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking',
    '--disable-component-update', '--disable-sync', `--user-data-dir=${profile}`, '--virtual-time-budget=8000'];
}

function run(args: string[]): Promise<string> {
  const profile = mkdtempSync(path.join(os.tmpdir(), 'chromium-'));
  return new Promise<string>((resolve, reject) => {
    execFile(chromiumPath!, [...flags(profile), ...args], { maxBuffer: 64 * 1024 * 1024, timeout: 60_000 }, (err, stdout) => {
      rmSync(profile, { recursive: true, force: true });
      if (err) reject(err);
      else resolve(stdout);
    });
  });
}

/** The DOM of `url` once its scripts ran. */
export function dumpDom(url: string): Promise<string> {
  return run(['--dump-dom', url]);
}

/** A PNG screenshot of `url` at `file`. */
export async function screenshot(url: string, file: string, size = '1280,1100'): Promise<void> {
  await run([`--screenshot=${file}`, `--window-size=${size}`, url]);
}
