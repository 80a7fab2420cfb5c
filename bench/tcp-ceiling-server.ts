// The ceiling for any request/response protocol on this machine: a TCP server that reads each
// request (u32 request length, u32 response length, then filler) and answers with that many bytes
// of a preallocated buffer. No decoding, no storage: only the kernel and the event loop.
//
// With a file path as its argument it is the ceiling of a storage server instead: each request's
// bytes are also appended to that file (in the thread pool, one write at a time with contiguous
// ones together: the node's WriteLane) and the answer goes out once they are in the page cache,
// in request order. What this costs on a machine (the copy into fresh page-cache pages) bounds
// any node's writes there.

import fs from 'node:fs';
import net from 'node:net';
import { WriteLane } from '../src/storage-node/engine/write-lane.js';

const RESPONSE = Buffer.alloc(8 * 1024 * 1024, 0x5a);

const file = process.argv[2];
const fd = file ? fs.openSync(file, 'w') : -1;
const lane = new WriteLane(fd);
let appendAt = 0;

/** Appends the request's bytes; resolves once they are written. */
function append(parts: Buffer[], length: number): Promise<void> {
  const at = appendAt;
  appendAt += length;
  return lane.write(parts, at, length);
}

const server = net.createServer((socket) => {
  socket.setNoDelay(true);
  let answered: Promise<void> = Promise.resolve();
  let pending: Buffer[] = [];
  let buffered = 0;
  let need = 0; // bytes of the current request still to arrive (0: waiting for a prefix)
  let respond = 0;
  socket.on('data', (chunk: Buffer) => {
    pending.push(chunk);
    buffered += chunk.length;
    for (;;) {
      if (need === 0) {
        if (buffered < 8) return;
        const head = pending.length === 1 ? pending[0]! : Buffer.concat(pending);
        pending = [head];
        need = head.readUInt32LE(0);
        respond = head.readUInt32LE(4);
      }
      if (buffered < need) return;
      // Take the request bytes off the queue (kept only when they are to be stored).
      const parts: Buffer[] = [];
      let drop = need;
      while (drop > 0) {
        const c = pending[0]!;
        if (c.length <= drop) {
          drop -= c.length;
          if (fd >= 0) parts.push(c);
          pending.shift();
        } else {
          if (fd >= 0) parts.push(c.subarray(0, drop));
          pending[0] = c.subarray(drop);
          drop = 0;
        }
      }
      buffered -= need;
      const answer = RESPONSE.subarray(0, respond);
      if (fd < 0) socket.write(answer);
      else {
        const stored = append(parts, need);
        answered = Promise.all([answered, stored]).then(() => void socket.write(answer));
      }
      need = 0;
    }
  });
  socket.on('error', () => undefined);
});

server.listen(0, '127.0.0.1', () => {
  process.send?.({ port: (server.address() as net.AddressInfo).port });
});
process.on('disconnect', () => process.exit(0));
