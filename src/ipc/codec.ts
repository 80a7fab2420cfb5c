// The encoding of every structured message between the proxy's processes: one version byte, then
// msgpackr. A worker started from newer code than its primary (a rolling upgrade, a respawn after
// `npm ci`) would otherwise read fields that moved or changed meaning; with the byte, either side
// finds out at the first message and says so instead of misreading it.

import { Packr } from 'msgpackr';
import { IpcShapeError, type Schema } from './schema.js';

/** Bump whenever a message shape in src/ipc changes incompatibly. */
export const IPC_VERSION = 4;

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

/** A message of the right version that is not what it should be (damaged, or not a message at all). */
export class IpcMessageError extends Error {
  constructor(
    readonly what: string,
    problem: string,
  ) {
    super(`${what} could not be read: ${problem}`);
    this.name = 'IpcMessageError';
  }
}

export function encodeMessage(value: unknown): Buffer {
  const body = packr.pack(value);
  const out = Buffer.allocUnsafe(body.length + 1);
  out[0] = IPC_VERSION;
  body.copy(out, 1);
  return out;
}

/**
 * Decodes what encodeMessage made and checks it against its shape: IpcVersionError when the other
 * side runs another version, IpcMessageError when the bytes are not a message of that shape.
 */
export function decodeMessage<T>(bytes: Uint8Array, what: string, shape: Schema<T>): T {
  if (bytes.length === 0) throw new IpcVersionError(what, 0);
  if (bytes[0] !== IPC_VERSION) throw new IpcVersionError(what, bytes[0]!);
  let value: unknown;
  try {
    value = packr.unpack(bytes.subarray(1));
  } catch (err) {
    throw new IpcMessageError(what, `not msgpack (${(err as Error).message})`);
  }
  try {
    return shape(value, '');
  } catch (err) {
    if (err instanceof IpcShapeError) throw new IpcMessageError(what, err.message);
    throw err;
  }
}

/** Whether `err` is a message that could not be read (to log and skip, not to crash on). */
export function isIpcError(err: unknown): err is IpcVersionError | IpcMessageError {
  return err instanceof IpcVersionError || err instanceof IpcMessageError;
}
