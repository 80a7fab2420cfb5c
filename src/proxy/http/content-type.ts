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

export function byExtension(key: string): string | undefined {
  return EXTENSIONS[path.extname(key).toLowerCase()];
}

const SIGNATURES: [RegExp | ((b: Buffer) => boolean), string][] = [
  [(b) => b.subarray(0, 5).toString('latin1') === '%PDF-', 'application/pdf'],
  [(b) => b.subarray(0, 6).toString('latin1') === 'GIF87a' || b.subarray(0, 6).toString('latin1') === 'GIF89a', 'image/gif'],
  [(b) => b.subarray(0, 8).equals(Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a])), 'image/png'],
  [(b) => b[0] === 0xff && b[1] === 0xd8 && b[2] === 0xff, 'image/jpeg'],
  [(b) => b.subarray(0, 2).toString('latin1') === 'BM', 'image/bmp'],
  [(b) => b.subarray(0, 4).toString('latin1') === 'RIFF' && b.subarray(8, 12).toString('latin1') === 'WEBP', 'image/webp'],
  [(b) => b.subarray(0, 4).toString('latin1') === 'RIFF' && b.subarray(8, 12).toString('latin1') === 'WAVE', 'audio/wave'],
  [(b) => b.subarray(0, 4).toString('latin1') === 'RIFF' && b.subarray(8, 12).toString('latin1') === 'AVI ', 'video/avi'],
  [(b) => b.subarray(4, 8).toString('latin1') === 'ftyp', 'video/mp4'],
  [(b) => b.subarray(0, 4).equals(Buffer.from([0x1a, 0x45, 0xdf, 0xa3])), 'video/webm'],
  [(b) => b.subarray(0, 4).toString('latin1') === 'OggS', 'application/ogg'],
  [(b) => b.subarray(0, 3).toString('latin1') === 'ID3', 'audio/mpeg'],
  [(b) => b.subarray(0, 4).equals(Buffer.from([0x50, 0x4b, 0x03, 0x04])), 'application/zip'],
  [(b) => b[0] === 0x1f && b[1] === 0x8b && b[2] === 0x08, 'application/x-gzip'],
  [(b) => b.subarray(0, 4).equals(Buffer.from([0x00, 0x00, 0x01, 0x00])), 'image/x-icon'],
  [/^\s*<\?xml/, 'text/xml; charset=utf-8'],
  [/^\s*<(!doctype html|html|head|script|iframe|h1|div|font|table|a|style|title|b|body|br|p|!--)[\s>]/i, 'text/html; charset=utf-8'],
];

/** WHATWG-style sniffing of the first 512 bytes, as Go's http.DetectContentType. */
export function sniff(head: Buffer): string {
  const b = head.subarray(0, 512);
  const text = b.toString('latin1');
  for (const [test, type] of SIGNATURES) {
    if (typeof test === 'function' ? test(b) : test.test(text)) return type;
  }
  for (const byte of b) {
    if (byte <= 0x08 || byte === 0x0b || (byte >= 0x0e && byte <= 0x1a) || (byte >= 0x1c && byte <= 0x1f)) return 'application/octet-stream';
  }
  return 'text/plain; charset=utf-8';
}
