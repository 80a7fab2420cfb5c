// `dnet_time`: tsec u64 + tnsec u64 (spec §1). "Empty" is both fields set to all ones.

import { readU64, writeU64 } from './codec-error.js';

export interface DnetTime {
  /** Unix seconds; -1 together with nsec -1 means "empty" (all ones on the wire). */
  sec: number;
  nsec: number;
}

export const EMPTY_TIME: DnetTime = Object.freeze({ sec: -1, nsec: -1 });
export const TIME_SIZE = 16;

export function isEmptyTime(t: DnetTime): boolean {
  return t.sec === -1 && t.nsec === -1;
}

export function decodeTime(buf: Buffer, offset: number): DnetTime {
  if (buf.readBigUInt64LE(offset) === 0xffff_ffff_ffff_ffffn && buf.readBigUInt64LE(offset + 8) === 0xffff_ffff_ffff_ffffn) {
    return EMPTY_TIME;
  }
  return { sec: readU64(buf, offset, 'dnet_time.tsec'), nsec: readU64(buf, offset + 8, 'dnet_time.tnsec') };
}

export function encodeTime(t: DnetTime, buf: Buffer, offset: number): void {
  if (isEmptyTime(t)) {
    buf.fill(0xff, offset, offset + TIME_SIZE);
    return;
  }
  writeU64(buf, offset, t.sec);
  writeU64(buf, offset + 8, t.nsec);
}

/** Now, with microsecond resolution as the C client fills it. */
export function timeNow(): DnetTime {
  const ms = performance.timeOrigin + performance.now();
  const sec = Math.floor(ms / 1000);
  return { sec, nsec: Math.min(999_999, Math.floor((ms - sec * 1000) * 1000)) * 1000 };
}

export function timeToMillis(t: DnetTime): number {
  return isEmptyTime(t) ? 0 : t.sec * 1000 + Math.floor(t.nsec / 1e6);
}

/** Neither empty nor zero: a time a sender actually set (real clients send zeros where they set none). */
export function isSetTime(t: DnetTime): boolean {
  return !isEmptyTime(t) && (t.sec !== 0 || t.nsec !== 0);
}

/** Orders two times: negative when `a` is earlier, 0 when equal, positive when later. */
export function compareTime(a: DnetTime, b: DnetTime): number {
  return a.sec !== b.sec ? a.sec - b.sec : a.nsec - b.nsec;
}
