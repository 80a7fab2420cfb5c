// The ceiling for any request/response protocol on this machine: a TCP server that reads each
// request (u32 request length, u32 response length, then filler) and answers with that many bytes
// of a preallocated buffer. No decoding, no storage: only the kernel and the event loop.

import net from 'node:net';

const RESPONSE = Buffer.alloc(8 * 1024 * 1024, 0x5a);

const server = net.createServer((socket) => {
  socket.setNoDelay(true);
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
      // Drop the request bytes.
      let drop = need;
      while (drop > 0) {
        const c = pending[0]!;
        if (c.length <= drop) {
          drop -= c.length;
          pending.shift();
        } else {
          pending[0] = c.subarray(drop);
          drop = 0;
        }
      }
      buffered -= need;
      need = 0;
      socket.write(RESPONSE.subarray(0, respond));
    }
  });
  socket.on('error', () => undefined);
});

server.listen(0, '127.0.0.1', () => {
  process.send?.({ port: (server.address() as net.AddressInfo).port });
});
process.on('disconnect', () => process.exit(0));
