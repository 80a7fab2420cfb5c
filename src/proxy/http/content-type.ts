// Content-Type of /get/ replies (spec backrunner.md §3.3 step 6, §3.13): the configured key suffix
// map (longest match wins), then the extension table, then sniffing the first bytes.

import path from 'node:path';

const EXTENSIONS: Record<string, string> = {
  '.html': 'text/html; charset=utf-8', '.htm': 'text/html; charset=utf-8', '.css': 'text/css; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8', '.mjs': 'text/javascript; charset=utf-8', '.json': 'application/json',
  '.xml': 'text/xml; charset=utf-8', '.txt': 'text/plain; charset=utf-8', '.csv': 'text/csv; charset=utf-8',
  '.svg': 'image/svg+xml', '.png': 'image/png', '.jpg': 'image/jpeg', '.jpeg': 'image/jpeg', '.gif': 'image/gif',
  '.webp': 'image/webp', '.avif': 'image/avif', '.ico': 'image/x-icon', '.bmp': 'image/bmp', '.tif': 'image/tiff',
  '.tiff': 'image/tiff', '.pdf': 'application/pdf', '.zip': 'application/zip', '.gz': 'application/gzip',
  '.tar': 'application/x-tar', '.wasm': 'application/wasm', '.mp4': 'video/mp4', '.m4v': 'video/mp4',
  '.m4a': 'audio/mp4', '.mov': 'video/quicktime', '.webm': 'video/webm', '.mkv': 'video/x-matroska',
  '.avi': 'video/x-msvideo', '.flv': 'video/x-flv', '.ts': 'video/mp2t', '.m3u8': 'application/vnd.apple.mpegurl',
  '.mpd': 'application/dash+xml', '.mp3': 'audio/mpeg', '.ogg': 'audio/ogg', '.oga': 'audio/ogg', '.ogv': 'video/ogg',
  '.opus': 'audio/opus', '.wav': 'audio/wav', '.flac': 'audio/flac', '.aac': 'audio/aac', '.woff': 'font/woff',
  '.woff2': 'font/woff2', '.ttf': 'font/ttf', '.otf': 'font/otf',
};

/** The value of the longest configured suffix that `key` ends with. */
export function bySuffix(key: string, suffixes: Readonly<Record<string, string>>): string | undefined {
  let best: string | undefined;
  let bestLen = -1;
  for (const [suffix, type] of Object.entries(suffixes)) {
    if (suffix.length > bestLen && key.endsWith(suffix)) {
      best = type;
      bestLen = suffix.length;
    }
  }
  return best;
}

/** A Content-Type among the configured reply headers (`proxy.headers`), which then applies to every object. */
export function configuredContentType(headers: Readonly<Record<string, string>>): string | undefined {
  for (const [k, v] of Object.entries(headers)) if (k.toLowerCase() === 'content-type') return v;
  return undefined;
}

export function byExtension(key: string): string | undefined {
  return EXTENSIONS[path.extname(key).toLowerCase()];
}

/** Magic numbers: bytes at an offset, compared in place (no slices, no strings). */
type Magic = readonly [offset: number, bytes: readonly number[]];

const ascii = (text: string): number[] => [...text].map((c) => c.charCodeAt(0));

const SIGNATURES: readonly [readonly Magic[], string][] = [
  [[[0, ascii('%PDF-')]], 'application/pdf'],
  [[[0, ascii('GIF87a')]], 'image/gif'],
  [[[0, ascii('GIF89a')]], 'image/gif'],
  [[[0, [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]]], 'image/png'],
  [[[0, [0xff, 0xd8, 0xff]]], 'image/jpeg'],
  [[[0, ascii('BM')]], 'image/bmp'],
  [[[0, ascii('RIFF')], [8, ascii('WEBP')]], 'image/webp'],
  [[[0, ascii('RIFF')], [8, ascii('WAVE')]], 'audio/wave'],
  [[[0, ascii('RIFF')], [8, ascii('AVI ')]], 'video/avi'],
  [[[4, ascii('ftyp')]], 'video/mp4'],
  [[[0, [0x1a, 0x45, 0xdf, 0xa3]]], 'video/webm'],
  [[[0, ascii('OggS')]], 'application/ogg'],
  [[[0, ascii('ID3')]], 'audio/mpeg'],
  [[[0, [0x50, 0x4b, 0x03, 0x04]]], 'application/zip'],
  [[[0, [0x1f, 0x8b, 0x08]]], 'application/x-gzip'],
  [[[0, [0x00, 0x00, 0x01, 0x00]]], 'image/x-icon'],
];

const MARKUP: readonly [RegExp, string][] = [
  [/^\s*<\?xml/, 'text/xml; charset=utf-8'],
  [/^\s*<(!doctype html|html|head|script|iframe|h1|div|font|table|a|style|title|b|body|br|p|!--)[\s>]/i, 'text/html; charset=utf-8'],
];

function matches(b: Buffer, magics: readonly Magic[]): boolean {
  for (const [at, bytes] of magics) {
    if (b.length < at + bytes.length) return false;
    for (let i = 0; i < bytes.length; i++) if (b[at + i] !== bytes[i]) return false;
  }
  return true;
}

/** WHATWG-style sniffing of the first 512 bytes, as Go's http.DetectContentType. */
export function sniff(head: Buffer): string {
  const b = head.length > 512 ? head.subarray(0, 512) : head;
  for (const [magics, type] of SIGNATURES) if (matches(b, magics)) return type;
  // Markup starts with '<' after optional whitespace: only then is the text worth decoding.
  let i = 0;
  while (i < b.length && (b[i] === 0x20 || (b[i]! >= 0x09 && b[i]! <= 0x0d))) i++;
  if (b[i] === 0x3c) {
    const text = b.toString('latin1');
    for (const [re, type] of MARKUP) if (re.test(text)) return type;
  }
  for (let j = 0; j < b.length; j++) if (BINARY[b[j]!] === 1) return 'application/octet-stream';
  return 'text/plain; charset=utf-8';
}

/** Bytes that make data binary for Go's sniffer (control characters other than text whitespace and ESC). */
const BINARY = new Uint8Array(256);
for (let c = 0; c < 0x20; c++) if (c <= 0x08 || c === 0x0b || (c >= 0x0e && c <= 0x1a) || c >= 0x1c) BINARY[c] = 1;
