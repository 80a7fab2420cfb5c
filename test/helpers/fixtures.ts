// Paths of the checked-in fixtures (the compiled tests live in dist/test/, the bytes in test/fixtures/).
import { readFileSync, existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import path from 'node:path';

export const FIXTURES = fileURLToPath(new URL('../../../test/fixtures/', import.meta.url));

export function fixture(...parts: string[]): Buffer {
  return readFileSync(path.join(FIXTURES, ...parts));
}

export function hasFixture(...parts: string[]): boolean {
  return existsSync(path.join(FIXTURES, ...parts));
}

export interface ManifestMessage {
  dir: 'c2s' | 's2c';
  offset: number;
  cmd: number;
  status: number;
  group: number;
  backend: number;
  trans: string;
  flags: number;
  trace: string;
  size: number;
}

export type CaptureManifest = Record<string, Record<string, { server: string; messages: ManifestMessage[] }>>;

export function captureManifest(): CaptureManifest {
  return JSON.parse(fixture('captures', 'manifest.json').toString('utf8')) as CaptureManifest;
}
