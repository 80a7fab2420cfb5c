// The encoding of every structured message between the proxy's processes: one version byte, then
// msgpackr. A worker started from newer code than its primary (a rolling upgrade, a respawn after
// `npm ci`) would otherwise read fields that moved or changed meaning; with the byte, either side
// finds out at the first message and says so instead of misreading it.

import { Packr } from 'msgpackr';

/** Bump whenever a message shape in src/ipc changes incompatibly. */
export const IPC_VERSION = 2;

const packr = new Packr({ useRecords: false, mapsAsObjects: true, moreTypes: false });

export class IpcVersionError extends Error {
  constructor(
    readonly what: string,
    readonly got: number,
  ) {
    super(`${what} is in IPC version ${got}, this process speaks version ${IPC_VERSION}: the primary and its workers run different builds of Backrunner (restart the whole proxy after an upgrade)`);
    this.name = 'IpcVersionError';
  }
}

export function encodeMessage(value: unknown): Buffer {
  const body = packr.pack(value);
  const out = Buffer.allocUnsafe(body.length + 1);
  out[0] = IPC_VERSION;
  body.copy(out, 1);
  return out;
}

/** Decodes what encodeMessage made; IpcVersionError when the other side runs another version. */
export function decodeMessage<T>(bytes: Uint8Array, what: string): T {
  if (bytes.length === 0) throw new IpcVersionError(what, 0);
  if (bytes[0] !== IPC_VERSION) throw new IpcVersionError(what, bytes[0]!);
  return packr.unpack(bytes.subarray(1)) as T;
}
