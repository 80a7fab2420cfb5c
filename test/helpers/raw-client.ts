// A thin client for node tests: one handshaken Connection plus the request builders.

import { Connection, type Packet } from '../../src/elliptics/connection.js';
import { keyToId, VERSION_2_26, type ProtocolVersion } from '../../src/elliptics/protocol/index.js';
import {
  fileInfoOf, lookupRequest, readReplyOf, readRequest, removeRequest, writeRequest, type ReadFields, type Request, type WriteFields,
} from '../../src/elliptics/requests.js';

export class RawClient {
  private constructor(readonly conn: Connection) {}

  static async connect(port: number, opts: { version?: ProtocolVersion; timeoutMs?: number; maxFrame?: number; host?: string; socketPath?: string } = {}): Promise<RawClient> {
    const conn = await Connection.open(opts.host ?? '127.0.0.1', port, { maxFrame: opts.maxFrame ?? 200 * 1024 * 1024, timeoutMs: opts.timeoutMs ?? 10_000, socketPath: opts.socketPath });
    await conn.handshake(opts.version ?? VERSION_2_26);
    return new RawClient(conn);
  }

  send(r: Request, timeoutMs?: number): Promise<Packet[]> {
    return this.conn.request(r.header, r.payload, timeoutMs === undefined ? {} : { timeoutMs });
  }

  /** Final status of a request (0 or a negative errno). */
  async status(r: Request): Promise<number> {
    const packets = await this.send(r);
    return packets[packets.length - 1]!.header.status;
  }

  async write(group: number, key: string, data: Buffer, f: WriteFields = {}, ns?: string) {
    return fileInfoOf(await this.send(writeRequest({ id: keyToId(key, ns), group }, data, f)), `write ${key}`);
  }

  async read(group: number, key: string, f: ReadFields = {}, ns?: string) {
    return readReplyOf(await this.send(readRequest({ id: keyToId(key, ns), group }, f)), `read ${key}`);
  }

  async lookup(group: number, key: string, cflags = 0) {
    return fileInfoOf(await this.send({ ...lookupRequest({ id: keyToId(key), group, cflags }) }), `lookup ${key}`);
  }

  remove(group: number, key: string): Promise<number> {
    return this.status(removeRequest({ id: keyToId(key), group }));
  }

  close(): void {
    this.conn.destroy();
  }
}
