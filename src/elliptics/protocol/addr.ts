// `dnet_addr` (32 bytes): a raw Linux sockaddr zero-padded to 28 bytes, addr_len u16, family u16
// (spec §4). Inside the sockaddr the family is little-endian but the port and IP are big-endian.

import { isIPv4, isIPv6 } from 'node:net';
import { ADDR_SIZE } from './constants.js';
import { ProtocolError, requireBytes } from './codec-error.js';

export const AF_INET = 2;
export const AF_INET6 = 10;
const SOCKADDR_SIZE = 28;

export interface DnetAddr {
  /** Numeric host: dotted IPv4 or IPv6 text. */
  host: string;
  port: number;
  family: typeof AF_INET | typeof AF_INET6;
  /** The exact 32 wire bytes; equality is byte-wise over them (spec §4.1). */
  bytes: Buffer;
}

/** Builds the wire form of a numeric IPv4/IPv6 address. */
export function makeAddr(host: string, port: number): DnetAddr {
  if (!Number.isInteger(port) || port < 0 || port > 65535) throw new RangeError(`port out of range: ${port}`);
  const bytes = Buffer.alloc(ADDR_SIZE);
  if (isIPv4(host)) {
    bytes.writeUInt16LE(AF_INET, 0);
    bytes.writeUInt16BE(port, 2);
    const parts = host.split('.').map(Number);
    for (let i = 0; i < 4; i++) bytes[4 + i] = parts[i]!;
    bytes.writeUInt16LE(16, 28);
    bytes.writeUInt16LE(AF_INET, 30);
    return { host, port, family: AF_INET, bytes };
  }
  if (isIPv6(host)) {
    bytes.writeUInt16LE(AF_INET6, 0);
    bytes.writeUInt16BE(port, 2);
    ipv6ToBytes(host).copy(bytes, 8);
    bytes.writeUInt16LE(SOCKADDR_SIZE, 28);
    bytes.writeUInt16LE(AF_INET6, 30);
    return { host: bytesToIpv6(bytes.subarray(8, 24)), port, family: AF_INET6, bytes };
  }
  throw new RangeError(`not a numeric IP address: ${host}`);
}

export function decodeAddr(buf: Buffer, offset = 0): DnetAddr {
  requireBytes(buf, offset, ADDR_SIZE, 'dnet_addr');
  const bytes = Buffer.from(buf.subarray(offset, offset + ADDR_SIZE));
  const addrLen = bytes.readUInt16LE(28);
  const family = bytes.readUInt16LE(30);
  if (family === AF_INET && addrLen === 16) {
    const host = `${bytes[4]}.${bytes[5]}.${bytes[6]}.${bytes[7]}`;
    return { host, port: bytes.readUInt16BE(2), family: AF_INET, bytes };
  }
  if (family === AF_INET6 && addrLen === SOCKADDR_SIZE) {
    return { host: bytesToIpv6(bytes.subarray(8, 24)), port: bytes.readUInt16BE(2), family: AF_INET6, bytes };
  }
  if (bytes.every((b) => b === 0)) throw new ProtocolError('dnet_addr: empty address');
  throw new ProtocolError(`dnet_addr: unsupported family ${family} / addr_len ${addrLen}`);
}

export function encodeAddr(a: DnetAddr, buf: Buffer, offset: number): void {
  a.bytes.copy(buf, offset, 0, ADDR_SIZE);
}

/** Equality of two addresses as the C library defines it: family, length and the sockaddr bytes. */
export function addrEquals(a: DnetAddr, b: DnetAddr): boolean {
  return a.bytes.equals(b.bytes);
}

/** `127.0.0.1:1025:2`, the textual form of configs and of backrunner's JSON replies. */
export function formatAddr(a: DnetAddr): string {
  return `${a.host}:${a.port}:${a.family}`;
}

export interface Endpoint {
  host: string;
  port: number;
  /** Present when the text carried an explicit Elliptics family (`host:port:2`). */
  family?: typeof AF_INET | typeof AF_INET6;
}

/**
 * Parses an endpoint as operators write it: Elliptics form `host:port:family` (read from the right,
 * so IPv6 literals work: `::1:1025:10`), or `host:port` / `[v6]:port`.
 */
export function parseEndpoint(text: string, opts: { allowPortZero?: boolean } = {}): Endpoint {
  const s = text.trim();
  const zero = opts.allowPortZero ?? false;
  const bracket = /^\[([^\]]+)\]:(\d+)(?::(\d+))?$/.exec(s);
  if (bracket) return withFamily(bracket[1]!, bracket[2]!, bracket[3], text, zero);
  const fields = s.split(':');
  if (fields.length === 2) return withFamily(fields[0]!, fields[1]!, undefined, text, zero);
  if (fields.length >= 3) {
    const family = fields[fields.length - 1]!;
    const port = fields[fields.length - 2]!;
    return withFamily(fields.slice(0, -2).join(':'), port, family, text, zero);
  }
  throw new RangeError(`"${text}" is not host:port or host:port:family`);
}

function withFamily(host: string, portText: string, familyText: string | undefined, original: string, allowZero: boolean): Endpoint {
  if (host === '') throw new RangeError(`"${original}": empty host`);
  if (!/^\d{1,5}$/.test(portText) || Number(portText) < (allowZero ? 0 : 1) || Number(portText) > 65535) {
    throw new RangeError(`"${original}": port must be ${allowZero ? 0 : 1}..65535`);
  }
  const port = Number(portText);
  if (familyText === undefined) return { host, port };
  if (familyText !== '2' && familyText !== '10') throw new RangeError(`"${original}": family must be 2 (IPv4) or 10 (IPv6)`);
  return { host, port, family: familyText === '2' ? AF_INET : AF_INET6 };
}

export function formatEndpoint(e: Endpoint): string {
  const host = e.host.includes(':') ? `[${e.host}]` : e.host;
  return `${host}:${e.port}`;
}

function ipv6ToBytes(text: string): Buffer {
  const out = Buffer.alloc(16);
  let s = text;
  const zone = s.indexOf('%');
  if (zone >= 0) s = s.slice(0, zone);
  // An embedded IPv4 tail ("::ffff:1.2.3.4") becomes two hex groups.
  const v4 = /(\d+\.\d+\.\d+\.\d+)$/.exec(s);
  if (v4) {
    const p = v4[1]!.split('.').map(Number);
    s = s.slice(0, v4.index) + ((p[0]! << 8) | p[1]!).toString(16) + ':' + ((p[2]! << 8) | p[3]!).toString(16);
  }
  const [head, tail] = s.includes('::') ? s.split('::') : [s, undefined];
  const headGroups = head ? head.split(':') : [];
  const tailGroups = tail ? tail.split(':') : [];
  const groups = [...headGroups, ...Array<string>(8 - headGroups.length - tailGroups.length).fill('0'), ...tailGroups];
  groups.forEach((g, i) => out.writeUInt16BE(parseInt(g, 16), i * 2));
  return out;
}

function bytesToIpv6(b: Buffer): string {
  const groups: string[] = [];
  for (let i = 0; i < 16; i += 2) groups.push(b.readUInt16BE(i).toString(16));
  // Compress the longest run of zero groups, as inet_ntop does.
  let best = -1;
  let bestLen = 0;
  for (let i = 0; i < 8; ) {
    if (groups[i] !== '0') { i++; continue; }
    let j = i;
    while (j < 8 && groups[j] === '0') j++;
    if (j - i > bestLen && j - i > 1) { best = i; bestLen = j - i; }
    i = j;
  }
  if (best < 0) return groups.join(':');
  return `${groups.slice(0, best).join(':')}::${groups.slice(best + bestLen).join(':')}`;
}
