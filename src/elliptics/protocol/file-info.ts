// LOOKUP and WRITE reply payload: `dnet_addr` (32) + `dnet_file_info` (112, NOT packed) + path (spec §6.5).
//
// dnet_file_info: 0 flen i32 (path length including its NUL)  4 checksum[64]  68 padding[4]
//                 72 record_flags u64  80 size u64  88 offset u64  96 mtime dnet_time

import { ADDR_SIZE, FILE_INFO_SIZE, ID_SIZE } from './constants.js';
import { ProtocolError, readU64, requireBytes, writeU64 } from './codec-error.js';
import { type DnetAddr, decodeAddr, encodeAddr } from './addr.js';
import { type DnetTime, decodeTime, encodeTime } from './time.js';

export interface FileInfo {
  /** SHA-512 of the data when the CHECKSUM cflag asked for it, else zeros. */
  checksum: Buffer;
  recordFlags: number;
  /** Object size, without the 48-byte extended header. */
  size: number;
  /** Offset of the user data inside the blob file. */
  offset: number;
  mtime: DnetTime;
  /** Absolute path of the blob file holding the data ("" for cache-only records). */
  path: string;
}

export interface FileInfoReply {
  /** The answering node's first address. */
  addr: DnetAddr;
  info: FileInfo;
}

const ZERO_CSUM = Buffer.alloc(ID_SIZE);

export function fileInfoReplySize(path: string): number {
  return ADDR_SIZE + FILE_INFO_SIZE + (path === '' ? 1 : Buffer.byteLength(path) + 1);
}

export function encodeFileInfoReply(r: FileInfoReply): Buffer {
  const pathBytes = Buffer.from(r.info.path);
  const flen = r.info.path === '' ? 0 : pathBytes.length + 1;
  const buf = Buffer.alloc(ADDR_SIZE + FILE_INFO_SIZE + Math.max(flen, 1));
  encodeAddr(r.addr, buf, 0);
  const at = ADDR_SIZE;
  buf.writeInt32LE(flen, at);
  (r.info.checksum.length === ID_SIZE ? r.info.checksum : ZERO_CSUM).copy(buf, at + 4);
  writeU64(buf, at + 72, r.info.recordFlags);
  writeU64(buf, at + 80, r.info.size);
  writeU64(buf, at + 88, r.info.offset);
  encodeTime(r.info.mtime, buf, at + 96);
  pathBytes.copy(buf, at + FILE_INFO_SIZE);
  return buf;
}

export function decodeFileInfoReply(buf: Buffer): FileInfoReply {
  requireBytes(buf, 0, ADDR_SIZE + FILE_INFO_SIZE, 'file info reply');
  const addr = decodeAddr(buf, 0);
  const at = ADDR_SIZE;
  const flen = buf.readInt32LE(at);
  if (flen < 0 || flen > buf.length - at - FILE_INFO_SIZE) {
    throw new ProtocolError(`dnet_file_info: flen ${flen} does not fit in ${buf.length} bytes`);
  }
  const pathStart = at + FILE_INFO_SIZE;
  let pathEnd = pathStart + flen;
  if (flen > 0 && buf[pathEnd - 1] === 0) pathEnd--;
  return {
    addr,
    info: {
      checksum: Buffer.from(buf.subarray(at + 4, at + 4 + ID_SIZE)),
      recordFlags: readU64(buf, at + 72, 'file_info.record_flags'),
      size: readU64(buf, at + 80, 'file_info.size'),
      offset: readU64(buf, at + 88, 'file_info.offset'),
      mtime: decodeTime(buf, at + 96),
      path: buf.toString('utf8', pathStart, pathEnd),
    },
  };
}
