// Socket reads into large slabs instead of fresh 64 KiB chunks: each read syscall can fill the rest
// of the slab, so a 1 MiB reply arrives in a couple of reads instead of sixteen, and the chunks
// handed on are views of the slab (no copy). Used through net.connect's `onread` option.
//
// A sink may also offer a buffer of its own for the next read (a large frame's pooled buffer):
// the bytes then land there directly, with no slab and no copy.

import net, { type OnReadOpts } from 'node:net';

const SLAB = 1024 * 1024;
/** Below this much room the next read gets a fresh slab. */
const MIN_ROOM = 64 * 1024;

export interface ReadSink {
  /** Bytes read into the slab (a view of it). */
  push(chunk: Buffer): void;
  /** Where the next read should go instead of the slab, if anywhere. */
  directTarget?(): Buffer | undefined;
  /** `n` bytes were read into the buffer `directTarget` returned. */
  pushDirect?(n: number): void;
  /** At most this many bytes for the next read into the slab (a hint; undefined = as many as fit). */
  readCap?(): number | undefined;
}

export function slabReader(sink: ReadSink): OnReadOpts {
  let slab = Buffer.allocUnsafe(SLAB);
  let used = 0;
  let direct = false;
  return {
    buffer: () => {
      const target = sink.directTarget?.();
      direct = target !== undefined;
      if (target) return target;
      if (slab.length - used < MIN_ROOM) {
        slab = Buffer.allocUnsafe(SLAB);
        used = 0;
      }
      const cap = sink.readCap?.();
      return cap === undefined ? slab.subarray(used) : slab.subarray(used, used + cap);
    },
    callback: (bytes: number, buf: Uint8Array) => {
      if (direct) {
        sink.pushDirect!(bytes);
        return true;
      }
      const view = buf as Buffer;
      used += bytes;
      sink.push(view.subarray(0, bytes));
      return true;
    },
  };
}

/**
 * An accepted connection made to read through `onread`, which net.createServer does not offer: the
 * server accepts with `pauseOnConnect` (so nothing was read yet), and a new Socket takes over the
 * handle and the server's count of its connections, exactly as net.connect's `onread` would set it
 * up. The accepted object is dropped unused. Relies on two fields of node:net (`_handle`, `_server`)
 * as Node 20 has them (package.json pins it); without them it throws rather than read another way.
 */
export function readAcceptedWith(accepted: net.Socket, onread: OnReadOpts): net.Socket {
  const inner = accepted as unknown as { _handle: object | null; _server: net.Server | null; server: net.Server | null };
  const handle = inner._handle;
  if (!handle || !('_server' in inner) || !accepted.isPaused()) {
    throw new Error(`node:net of Node ${process.version} does not let an accepted socket be re-made around its handle (Node 20 is required)`);
  }
  inner._handle = null;
  const socket = new net.Socket({ handle, onread, readable: true, writable: true } as net.SocketConstructorOpts);
  const server = inner._server;
  inner._server = inner.server = null;
  Object.assign(socket, { server, _server: server });
  return socket;
}
