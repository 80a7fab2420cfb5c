// A backend's directory besides its blobs: the lock that keeps two processes out of one directory,
// the ring points it announces (`ids`), and the marker of a clean stop (`clean`).

import { randomBytes } from 'node:crypto';
import fs from 'node:fs/promises';
import path from 'node:path';
import { Errno, ID_SIZE } from '../../elliptics/protocol/constants.js';
import { syncDir } from './file-io.js';
import { StorageError } from './storage-error.js';

export async function lockDir(dir: string): Promise<void> {
  const lock = path.join(dir, 'lock');
  const other = Number((await fs.readFile(lock, 'utf8').catch(() => '')).trim());
  if (other && other !== process.pid && isAlive(other)) {
    throw new StorageError(Errno.EBUSY, `backend directory ${dir} is in use by process ${other}`);
  }
  await fs.writeFile(lock, `${process.pid}\n`);
}

/** The ring points of the backend; one random 64-byte id made (durably) on its first start. */
export async function loadIds(dir: string): Promise<Buffer[]> {
  const file = path.join(dir, 'ids');
  const existing = await fs.readFile(file).catch(() => undefined);
  if (existing && existing.length > 0 && existing.length % ID_SIZE === 0) {
    const ids: Buffer[] = [];
    for (let at = 0; at < existing.length; at += ID_SIZE) ids.push(Buffer.from(existing.subarray(at, at + ID_SIZE)));
    return ids;
  }
  const id = randomBytes(ID_SIZE);
  const tmp = `${file}.tmp`;
  const fh = await fs.open(tmp, 'w');
  await fh.writeFile(id);
  await fh.sync();
  await fh.close();
  await fs.rename(tmp, file);
  await syncDir(dir);
  return [id];
}

/** True when the previous run stopped cleanly (the marker is consumed: a crash from now on leaves none). */
export function takeCleanMarker(dir: string): Promise<boolean> {
  return fs.rm(path.join(dir, 'clean')).then(() => true, () => false);
}

/** A clean stop: the marker for the next start, and the lock released. */
export async function leaveCleanly(dir: string): Promise<void> {
  await fs.writeFile(path.join(dir, 'clean'), `${process.pid}\n`);
  await fs.rm(path.join(dir, 'lock'), { force: true });
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}
