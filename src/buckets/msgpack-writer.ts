// The few msgpack forms a bucket record needs, written exactly as the Go original (vmihailenco/
// msgpack v2) writes them: the most compact integer form, unsigned types as uint8..uint64, strings
// as str. msgpackr reads them back; it is not used for writing because it encodes integers above
// 2^32 as float64 or int64, which would change the stored bytes and break Go readers.

export class MsgpackWriter {
  private readonly parts: Buffer[] = [];

  private byte(b: number): void {
    this.parts.push(Buffer.from([b]));
  }

  private head(code: number, size: number, value: number | bigint): void {
    const b = Buffer.alloc(1 + size);
    b[0] = code;
    if (size === 1) b.writeUInt8(Number(value), 1);
    else if (size === 2) b.writeUInt16BE(Number(value), 1);
    else if (size === 4) b.writeUInt32BE(Number(value), 1);
    else b.writeBigUInt64BE(BigInt(value), 1);
    this.parts.push(b);
  }

  array(length: number): this {
    if (length < 16) this.byte(0x90 | length);
    else if (length < 0x10000) this.head(0xdc, 2, length);
    else this.head(0xdd, 4, length);
    return this;
  }

  map(length: number): this {
    if (length < 16) this.byte(0x80 | length);
    else if (length < 0x10000) this.head(0xde, 2, length);
    else this.head(0xdf, 4, length);
    return this;
  }

  str(s: string): this {
    const bytes = Buffer.from(s, 'utf8');
    const n = bytes.length;
    if (n < 32) this.byte(0xa0 | n);
    else if (n < 0x100) this.head(0xd9, 1, n);
    else if (n < 0x10000) this.head(0xda, 2, n);
    else this.head(0xdb, 4, n);
    this.parts.push(bytes);
    return this;
  }

  /** An unsigned integer in its smallest form (positive fixint, uint8, uint16, uint32, uint64). */
  uint(v: number | bigint): this {
    const n = BigInt(v);
    if (n < 0n || n > 0xffff_ffff_ffff_ffffn) throw new RangeError(`not a uint64: ${v}`);
    if (n < 0x80n) this.byte(Number(n));
    else if (n <= 0xffn) this.head(0xcc, 1, n);
    else if (n <= 0xffffn) this.head(0xcd, 2, n);
    else if (n <= 0xffff_ffffn) this.head(0xce, 4, n);
    else this.head(0xcf, 8, n);
    return this;
  }

  /** A signed integer as Go writes one: non-negative values take the unsigned forms. */
  int(v: number): this {
    if (!Number.isSafeInteger(v)) throw new RangeError(`not an integer: ${v}`);
    if (v >= 0) return this.uint(v);
    if (v >= -32) this.byte(0x100 + v);
    else if (v >= -0x80) this.parts.push(Buffer.from([0xd0, v & 0xff]));
    else if (v >= -0x8000) {
      const b = Buffer.alloc(3);
      b[0] = 0xd1;
      b.writeInt16BE(v, 1);
      this.parts.push(b);
    } else if (v >= -0x8000_0000) {
      const b = Buffer.alloc(5);
      b[0] = 0xd2;
      b.writeInt32BE(v, 1);
      this.parts.push(b);
    } else {
      const b = Buffer.alloc(9);
      b[0] = 0xd3;
      b.writeBigInt64BE(BigInt(v), 1);
      this.parts.push(b);
    }
    return this;
  }

  bytes(): Buffer {
    return Buffer.concat(this.parts);
  }
}
