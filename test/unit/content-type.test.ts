// Content types of /get/ replies: the suffix map, the extension table, and sniffing of the first
// bytes in Go's http.DetectContentType order.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { byExtension, bySuffix, sniff } from '../../src/proxy/http/content-type.js';

const bytes = (...parts: (string | number[])[]): Buffer =>
  Buffer.concat(parts.map((p) => (typeof p === 'string' ? Buffer.from(p, 'latin1') : Buffer.from(p))));

test('sniff: magic numbers', () => {
  const cases: [Buffer, string][] = [
    [bytes('%PDF-1.7\n'), 'application/pdf'],
    [bytes('GIF87a', [1, 0]), 'image/gif'],
    [bytes('GIF89a', [1, 0]), 'image/gif'],
    [bytes([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, 0]), 'image/png'],
    [bytes([0xff, 0xd8, 0xff, 0xe0]), 'image/jpeg'],
    [bytes('BM', [0, 0, 0]), 'image/bmp'],
    [bytes('RIFF', [0, 0, 0, 0], 'WEBPVP8 '), 'image/webp'],
    [bytes('RIFF', [0, 0, 0, 0], 'WAVEfmt '), 'audio/wave'],
    [bytes('RIFF', [0, 0, 0, 0], 'AVI LIST'), 'video/avi'],
    [bytes([0, 0, 0, 0x20], 'ftypisom'), 'video/mp4'],
    [bytes([0x1a, 0x45, 0xdf, 0xa3, 0x01]), 'video/webm'],
    [bytes('OggS', [0]), 'application/ogg'],
    [bytes('ID3', [3, 0]), 'audio/mpeg'],
    [bytes([0x50, 0x4b, 0x03, 0x04, 0x14]), 'application/zip'],
    [bytes([0x1f, 0x8b, 0x08, 0]), 'application/x-gzip'],
    [bytes([0x00, 0x00, 0x01, 0x00, 0x01]), 'image/x-icon'],
  ];
  for (const [head, type] of cases) assert.equal(sniff(head), type, head.toString('hex'));
});

test('sniff: a signature longer than the data does not match', () => {
  assert.equal(sniff(bytes('RIFF')), 'text/plain; charset=utf-8');
  assert.equal(sniff(bytes([0x89, 0x50])), 'text/plain; charset=utf-8'); // high bytes are not "binary" in Go either
  assert.equal(sniff(bytes('%PD')), 'text/plain; charset=utf-8');
});

test('sniff: markup after leading whitespace, case-insensitive, only with a terminator', () => {
  assert.equal(sniff(bytes('<?xml version="1.0"?><a/>')), 'text/xml; charset=utf-8');
  assert.equal(sniff(bytes(' \n\t<!DOCTYPE HTML><html>')), 'text/html; charset=utf-8');
  assert.equal(sniff(bytes('<p>hello</p>')), 'text/html; charset=utf-8');
  assert.equal(sniff(bytes('<BODY onload=x>')), 'text/html; charset=utf-8');
  assert.equal(sniff(bytes('<pre>not in the list')), 'text/plain; charset=utf-8');
  assert.equal(sniff(bytes('x<html>')), 'text/plain; charset=utf-8');
});

test('sniff: binary bytes make octet-stream, text stays text, only the first 512 bytes count', () => {
  assert.equal(sniff(Buffer.alloc(4096, 0x61)), 'text/plain; charset=utf-8');
  assert.equal(sniff(bytes('abc', [0x00], 'def')), 'application/octet-stream');
  assert.equal(sniff(bytes('abc', [0x1b], 'def')), 'text/plain; charset=utf-8'); // ESC is allowed, as in Go
  assert.equal(sniff(Buffer.concat([Buffer.alloc(512, 0x61), Buffer.from([0])])), 'text/plain; charset=utf-8');
  assert.equal(sniff(Buffer.alloc(0)), 'text/plain; charset=utf-8');
});

test('bySuffix: the longest configured suffix wins; byExtension: case-insensitive table', () => {
  const map = { '.mp4': 'video/mp4', '_hd.mp4': 'video/x-hd', '.txt': 'text/x-custom' };
  assert.equal(bySuffix('clip_hd.mp4', map), 'video/x-hd');
  assert.equal(bySuffix('clip.mp4', map), 'video/mp4');
  assert.equal(bySuffix('clip.mkv', map), undefined);
  assert.equal(byExtension('a/b/Photo.JPG'), 'image/jpeg');
  assert.equal(byExtension('noext'), undefined);
});
