// One persistent HTTP/1.1 connection, driven the way connection pools and load balancers use one:
// request after request on the same socket. Replies are framed strictly by the rules of RFC 9112
// (no body after HEAD, 204 and 304; Content-Length or chunked otherwise), so a reply that carries a
// stray body, a wrong length or nothing at all shows up as a failure of the next exchange.

import net from 'node:net';

export interface RawReply {
  status: number;
  /** Lower-case name → value (the last one of repeated headers). */
  headers: Record<string, string>;
  /** Header names in the order received, lower-case (to catch duplicates). */
  names: string[];
  body: Buffer;
}

export interface KeepAliveRequest {
  method?: string;
  target: string;
  headers?: Record<string, string>;
  body?: Buffer | string;
}

export class KeepAliveClient {
  private buf = Buffer.alloc(0);
  private waiter: (() => void) | undefined;
  private closed = false;

  private constructor(private readonly socket: net.Socket) {
    socket.on('data', (c: Buffer) => {
      this.buf = Buffer.concat([this.buf, c]);
      this.wake();
    });
    socket.on('close', () => {
      this.closed = true;
      this.wake();
    });
    socket.on('error', () => undefined);
  }

  static connect(port: number, host = '127.0.0.1'): Promise<KeepAliveClient> {
    return new Promise((resolve, reject) => {
      const s = net.connect(port, host, () => resolve(new KeepAliveClient(s)));
      s.once('error', reject);
    });
  }

  get isClosed(): boolean {
    return this.closed;
  }

  /** Bytes received that no reply has claimed (a HEAD body, say). */
  get leftover(): Buffer {
    return this.buf;
  }

  private wake(): void {
    const w = this.waiter;
    this.waiter = undefined;
    w?.();
  }

  private async need(n: number, deadline: number): Promise<void> {
    while (this.buf.length < n) {
      if (this.closed) throw new Error(`connection closed after ${this.buf.length} of ${n} bytes`);
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`no complete reply within the deadline (${this.buf.length} bytes buffered)`);
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, left);
        this.waiter = () => {
          clearTimeout(t);
          resolve();
        };
      });
    }
  }

  private take(n: number): Buffer {
    const out = this.buf.subarray(0, n);
    this.buf = this.buf.subarray(n);
    return out;
  }

  private async line(deadline: number): Promise<string> {
    for (;;) {
      const at = this.buf.indexOf('\r\n');
      if (at >= 0) return this.take(at + 2).toString('latin1').slice(0, -2);
      await this.need(this.buf.length + 1, deadline);
    }
  }

  /** Sends one request and reads exactly its reply. */
  async request(r: KeepAliveRequest, timeoutMs = 10_000): Promise<RawReply> {
    if (this.buf.length > 0) throw new Error(`unexpected bytes before the request: ${JSON.stringify(this.buf.toString('latin1').slice(0, 80))}`);
    const method = r.method ?? 'GET';
    const body = r.body === undefined ? undefined : Buffer.from(r.body);
    const lines = [`${method} ${r.target} HTTP/1.1`, 'Host: backrunner.test'];
    for (const [k, v] of Object.entries(r.headers ?? {})) lines.push(`${k}: ${v}`);
    if (body) lines.push(`Content-Length: ${body.length}`);
    this.socket.write(`${lines.join('\r\n')}\r\n\r\n`);
    if (body) this.socket.write(body);
    return this.readReply(method, Date.now() + timeoutMs);
  }

  private async readReply(method: string, deadline: number): Promise<RawReply> {
    const statusLine = await this.line(deadline);
    const m = /^HTTP\/1\.[01] (\d{3})/.exec(statusLine);
    if (!m) throw new Error(`bad status line ${JSON.stringify(statusLine)}`);
    const status = Number(m[1]);
    const headers: Record<string, string> = {};
    const names: string[] = [];
    for (let l = await this.line(deadline); l !== ''; l = await this.line(deadline)) {
      const colon = l.indexOf(':');
      const name = l.slice(0, colon).trim().toLowerCase();
      names.push(name);
      headers[name] = l.slice(colon + 1).trim();
    }
    let body = Buffer.alloc(0);
    const bodyless = method === 'HEAD' || status === 204 || status === 304 || (status >= 100 && status < 200);
    if (!bodyless) {
      if (headers['transfer-encoding']?.toLowerCase().includes('chunked')) {
        const parts: Buffer[] = [];
        for (;;) {
          const size = parseInt(await this.line(deadline), 16);
          if (size === 0) {
            await this.line(deadline);
            break;
          }
          await this.need(size + 2, deadline);
          parts.push(Buffer.from(this.take(size)));
          this.take(2);
        }
        body = Buffer.concat(parts);
      } else if (headers['content-length'] !== undefined) {
        const n = Number(headers['content-length']);
        if (!Number.isSafeInteger(n) || n < 0) throw new Error(`bad Content-Length ${headers['content-length']}`);
        await this.need(n, deadline);
        body = Buffer.from(this.take(n));
      } else {
        throw new Error(`reply ${status} to ${method} has neither Content-Length nor chunked encoding`);
      }
    }
    return { status, headers, names, body };
  }

  /** Waits `ms` and reports whether anything arrived that no request asked for. */
  async quietFor(ms: number): Promise<Buffer> {
    await new Promise((r) => setTimeout(r, ms));
    return this.buf;
  }

  close(): void {
    this.socket.destroy();
  }
}
