// A delay line for TCP: listens on host:port, and relays each connection to target:port with every
// chunk held back `delayMs` in each direction, order kept, the sender paused while a lot waits.
// Used where the kernel has no sch_netem (see netns.ts): the proxy's connections to a node are
// steered through it by a DNAT rule, so the proxy sees a node 2 × delayMs further away.
//
//   node delay-line.js <listen-host> <port> <target-host> <delay-ms>

import net from 'node:net';

const HIGH = 4 * 1024 * 1024;
const LOW = 1024 * 1024;

function pipeDelayed(from: net.Socket, to: net.Socket, delayMs: number): void {
  const queue: { at: number; data: Buffer }[] = [];
  let queued = 0;
  let timer: NodeJS.Timeout | undefined;
  let ended = false;
  const flush = (): void => {
    timer = undefined;
    const now = Date.now();
    while (queue.length > 0 && queue[0]!.at <= now) {
      const { data } = queue.shift()!;
      queued -= data.length;
      to.write(data);
    }
    if (queued < LOW && from.isPaused()) from.resume();
    if (queue.length > 0) timer = setTimeout(flush, queue[0]!.at - now);
    else if (ended) to.end();
  };
  from.on('data', (data: Buffer) => {
    queue.push({ at: Date.now() + delayMs, data });
    queued += data.length;
    if (queued > HIGH) from.pause();
    timer ??= setTimeout(flush, delayMs);
  });
  from.on('end', () => {
    ended = true;
    if (queue.length === 0) to.end();
  });
}

// `node --test dist/test/` runs every file below it, this one included: without its arguments it
// has nothing to relay and leaves at once.
const args = process.argv.slice(2);
if (args.length === 4) {
  const [host, portText, target, delayText] = args;
  const port = Number(portText);
  const delayMs = Number(delayText);
  const server = net.createServer((client) => {
    const upstream = net.connect(port, target!);
    const close = (): void => {
      client.destroy();
      upstream.destroy();
    };
    client.on('error', close);
    upstream.on('error', close);
    client.on('close', close);
    upstream.on('close', close);
    pipeDelayed(client, upstream, delayMs);
    pipeDelayed(upstream, client, delayMs);
  });
  server.listen(port, host, () => process.send?.('ready'));
}
