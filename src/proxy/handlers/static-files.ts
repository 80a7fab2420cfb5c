// GET|HEAD /<anything else>: a file under `proxy.root` (spec backrunner.md §3.13, DESIGN §4.9):
// resolved with realpath and refused outside the root, dotfiles refused, streamed with Range,
// Last-Modified and ETag instead of being read whole.

import fs from 'node:fs/promises';
import path from 'node:path';
import { HttpError } from '../errors.js';
import { byExtension, configuredContentType } from '../http/content-type.js';
import { serveContent } from '../http/serve-content.js';
import type { Request } from '../request.js';

const PIECE = 256 * 1024;

export async function staticFile(req: Request): Promise<void> {
  const root = req.ctx.config.root;
  if (!root) throw new HttpError(503, 'common: root option is not configured, reading files is being denied');
  // Lexically rooted: `..` cannot climb above `/`.
  const object = path.posix.normalize(`/${req.path}`);
  const notFound = new HttpError(404, `common: could not read file '${object}'`);
  if (object.split('/').some((seg) => seg.startsWith('.'))) throw notFound;
  let file: string;
  let realRoot: string;
  try {
    realRoot = await fs.realpath(root);
    file = await fs.realpath(path.join(root, object));
  } catch {
    throw notFound;
  }
  // Symlinks may not lead outside the root.
  if (file !== realRoot && !file.startsWith(`${realRoot}${path.sep}`)) throw notFound;
  let handle: fs.FileHandle;
  try {
    handle = await fs.open(file, 'r');
  } catch {
    throw notFound;
  }
  try {
    const st = await handle.stat();
    if (!st.isFile()) throw notFound;
    await serveContent(req, {
      size: st.size,
      validators: { mtime: st.mtimeMs, etag: `"${st.size.toString(16)}-${Math.floor(st.mtimeMs).toString(16)}-${st.ino.toString(16)}"` },
      contentType: configuredContentType(req.ctx.config.headers) ?? byExtension(file),
      open: async (start, length) => readPieces(handle, start, length),
    }, req.ex.header('range') ?? '');
  } finally {
    await handle.close();
  }
}

/** The file's bytes in pieces read into one buffer: serveContent sends each before asking for the next. */
async function* readPieces(handle: fs.FileHandle, start: number, length: number): AsyncGenerator<Buffer> {
  let at = start;
  const end = start + length;
  const buf = Buffer.allocUnsafe(Math.min(PIECE, length));
  while (at < end) {
    const { bytesRead } = await handle.read(buf, 0, Math.min(buf.length, end - at), at);
    if (bytesRead === 0) throw new Error('file shrank while it was being sent');
    at += bytesRead;
    yield buf.subarray(0, bytesRead);
  }
}
