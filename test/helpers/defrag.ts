// Helpers of the defragmentation tests: deterministic bodies per (key, version), BACKEND_CONTROL
// and BACKEND_STATUS as `dnet_ioclient -d` sends them, MONITOR_STAT of one backend, bytes on disk.

import fs from 'node:fs';
import path from 'node:path';
import type { Packet } from '../../src/elliptics/connection.js';
import { backendControlRequest, backendStatusOf, backendStatusRequest, monitorStatOf, monitorStatRequest } from '../../src/elliptics/requests.js';
import { DefragState } from '../../src/storage-node/engine/defrag.js';
import { BackendCommand, DefragLevel } from '../../src/elliptics/protocol/index.js';
import { RawClient } from './raw-client.js';

export const statusOf = (e: unknown): number | undefined => (e as { status?: number }).status;

/** Deterministic bytes for (key, version): a copy that moved to the wrong key or version is caught. */
export function bodyFor(key: string, version: number, size: number): Buffer {
  const seed = Buffer.from(`${key}#${version}#`);
  const out = Buffer.allocUnsafe(size);
  for (let i = 0; i < size; i++) out[i] = seed[i % seed.length]! ^ ((i * 31) & 0xff);
  return out;
}

export function control(c: RawClient, backendId: number, command: number, defragLevel = 0): Promise<Packet[]> {
  return c.send(backendControlRequest({ backendId, command, defragLevel, delay: 0, ids: [] }));
}

export async function defragStateOf(c: RawClient, backendId: number): Promise<number> {
  const list = backendStatusOf(await c.send(backendStatusRequest()), 'BACKEND_STATUS');
  return list.find((b) => b.backendId === backendId)!.defragState;
}

/** Polls BACKEND_STATUS (as `dnet_ioclient -d status` does) until the backend is no longer defragmenting. */
export async function untilDefragDone(c: RawClient, backendId: number, timeoutMs = 120_000): Promise<void> {
  const until = Date.now() + timeoutMs;
  while ((await defragStateOf(c, backendId)) !== DefragState.NOT_STARTED) {
    if (Date.now() > until) throw new Error(`backend ${backendId} still defragmenting after ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** A full defragmentation of each of `backends` of the node on `port`, one after the other, to the end. */
export async function defragAll(port: number, backends: readonly number[]): Promise<void> {
  const c = await RawClient.connect(port);
  try {
    for (const backend of backends) {
      await control(c, backend, BackendCommand.START_DEFRAG, DefragLevel.FULL);
      await untilDefragDone(c, backend);
    }
  } finally {
    c.close();
  }
}

export async function backendJson(c: RawClient, backendId: number): Promise<Record<string, any>> {
  const doc = monitorStatOf(await c.send(monitorStatRequest(0xffn)), 'MONITOR_STAT') as { backends: Record<string, Record<string, any>> };
  return doc.backends[String(backendId)]!;
}

export function diskBytes(dir: string): number {
  return fs.readdirSync(dir).filter((n) => /^data-0\.\d+$/.test(n)).reduce((n, f) => n + fs.statSync(path.join(dir, f)).size, 0);
}
