// Positional file I/O on raw descriptors. The callback API of node:fs is used on purpose: it skips
// the FileHandle bookkeeping of fs/promises, which shows up in the per-request cost of small reads.

import fs from 'node:fs';

export function openFile(path: string, flags: string | number, mode = 0o644): Promise<number> {
  return new Promise((resolve, reject) => fs.open(path, flags, mode, (err, fd) => (err ? reject(err) : resolve(fd))));
}

export function closeFile(fd: number): Promise<void> {
  return new Promise((resolve, reject) => fs.close(fd, (err) => (err ? reject(err) : resolve())));
}

/** Reads exactly `length` bytes at `position`; fails with ENODATA if the file ends first. */
export async function preadExact(fd: number, buf: Buffer, offset: number, length: number, position: number): Promise<void> {
  let done = 0;
  while (done < length) {
    const n = await new Promise<number>((resolve, reject) =>
      fs.read(fd, buf, offset + done, length - done, position + done, (err, bytes) => (err ? reject(err) : resolve(bytes))),
    );
    if (n === 0) throw Object.assign(new Error(`short read at ${position + done}`), { code: 'ENODATA' });
    done += n;
  }
}

/** Reads up to `length` bytes at `position`; returns how many were there. */
export async function pread(fd: number, buf: Buffer, offset: number, length: number, position: number): Promise<number> {
  let done = 0;
  while (done < length) {
    const n = await new Promise<number>((resolve, reject) =>
      fs.read(fd, buf, offset + done, length - done, position + done, (err, bytes) => (err ? reject(err) : resolve(bytes))),
    );
    if (n === 0) break;
    done += n;
  }
  return done;
}

/** Writes all buffers contiguously at `position`, resuming after short writes. */
export async function pwriteAll(fd: number, buffers: readonly Buffer[], position: number): Promise<void> {
  let pending = buffers.filter((b) => b.length > 0);
  let at = position;
  while (pending.length > 0) {
    const list = pending;
    const written = await new Promise<number>((resolve, reject) =>
      fs.writev(fd, list, at, (err, bytes) => (err ? reject(err) : resolve(bytes))),
    );
    at += written;
    pending = unwritten(list, written);
  }
}

/** pwriteAll on the calling thread (for small writes: see BlobFile.write). */
export function pwriteAllSync(fd: number, buffers: readonly Buffer[], position: number): void {
  let pending = buffers.filter((b) => b.length > 0);
  let at = position;
  while (pending.length > 0) {
    const written = fs.writevSync(fd, pending, at);
    at += written;
    pending = unwritten(pending, written);
  }
}

/** What a short write of `written` bytes left of `list`. */
function unwritten(list: readonly Buffer[], written: number): Buffer[] {
  let skip = written;
  const rest: Buffer[] = [];
  for (const b of list) {
    if (skip >= b.length) skip -= b.length;
    else {
      rest.push(skip > 0 ? b.subarray(skip) : b);
      skip = 0;
    }
  }
  return rest;
}

export function fdatasync(fd: number): Promise<void> {
  return new Promise((resolve, reject) => fs.fdatasync(fd, (err) => (err ? reject(err) : resolve())));
}

export function ftruncate(fd: number, length: number): Promise<void> {
  return new Promise((resolve, reject) => fs.ftruncate(fd, length, (err) => (err ? reject(err) : resolve())));
}

export function fileSize(fd: number): Promise<number> {
  return new Promise((resolve, reject) => fs.fstat(fd, (err, st) => (err ? reject(err) : resolve(st.size))));
}

/** Makes a rename or an unlink in `dir` durable (where the filesystem supports it). */
export async function syncDir(dir: string): Promise<void> {
  const fd = await openFile(dir, fs.constants.O_RDONLY | fs.constants.O_DIRECTORY);
  try {
    await fdatasync(fd).catch(() => undefined);
  } finally {
    await closeFile(fd);
  }
}
