// HTTP requests to the proxy — directly, and through the nginx of the README's recipe — made from
// requests clients really send (GET with ranges, HEAD, conditional GETs, signed uploads with a
// length or chunked, bulk deletes, lookups, deletes, OPTIONS, the status endpoints) with mutated
// request lines, headers, bodies and chunked encodings. The proxy (primary, two uWS workers, two
// storage nodes) must never lose a worker, never answer 500 (a handler that failed unexpectedly),
// and after every batch still serve a stored object byte for byte and take an upload.

import net from 'node:net';
import path from 'node:path';
import { authorization, startProxy, type TestProxy } from '../../helpers/proxy.js';
import { startTestCluster, type TestCluster } from '../../helpers/cluster.js';
import { nginxAvailable, readmeNginxBlock, startNginx, type Nginx } from '../../helpers/nginx.js';
import { freePort } from '../../helpers/proxy.js';
import { mutate } from '../mutate.js';
import type { Rng } from '../random.js';
import type { Harness, Target } from '../target.js';

const writer = { user: 'writer', token: 'writer token' };
const KNOWN = Buffer.from('a stored object the fuzzer reads back after every batch\n'.repeat(50));
const PARALLEL = 96;
const SENTINEL = 'sentinel-8f3a91c2';
/** A case that got no answer and no close within this is left waiting for bytes (uWS closes it later). */
const QUIET_MS = 250;

function signed(method: string, target: string, extra: string[], body: Buffer | string): Buffer {
  const head = [`${method} ${target} HTTP/1.1`, 'Host: fuzz', `Authorization: ${authorization(method, target, writer.user, writer.token)}`, ...extra];
  return Buffer.concat([Buffer.from(`${head.join('\r\n')}\r\n\r\n`, 'latin1'), Buffer.from(body)]);
}

function plain(method: string, target: string, extra: string[] = []): Buffer {
  return Buffer.from(`${[`${method} ${target} HTTP/1.1`, 'Host: fuzz', ...extra].join('\r\n')}\r\n\r\n`, 'latin1');
}

function corpus(): Buffer[] {
  const body = Buffer.from('fuzz body bytes '.repeat(20));
  const chunked = '10\r\n0123456789abcdef\r\n5\r\nhello\r\n0\r\n\r\n';
  const bulk = JSON.stringify({ keys: ['fuzz/a', 'fuzz/b', 'known'] });
  return [
    plain('GET', '/get/b1/known'),
    plain('GET', '/get/b1/known', ['Range: bytes=0-10,20-30,-5']),
    plain('GET', '/get/b1/known?offset=5&size=20'),
    plain('HEAD', '/get/b1/known'),
    plain('GET', '/get/b1/known', ['If-None-Match: "x"', 'If-Modified-Since: Thu, 01 Jan 2026 00:00:00 GMT', 'If-Range: "y"', 'Range: bytes=3-']),
    plain('GET', '/lookup/b1/known'),
    plain('GET', '/redirect/b1/known'),
    plain('GET', '/stat/b1'),
    plain('GET', '/ping'),
    plain('GET', '/health/'),
    plain('GET', '/metrics'),
    plain('GET', '/status/'),
    plain('GET', '/index.html'),
    plain('OPTIONS', '/get/b1/known', ['Origin: http://x', 'Access-Control-Request-Headers: Range']),
    signed('POST', '/upload/b1/fuzz/one', [`Content-Length: ${body.length}`], body),
    signed('PUT', '/upload/b2/fuzz/two?ioflags=256&cflags=64', [`Content-Length: ${body.length}`, 'Content-Type: text/plain'], body),
    signed('POST', '/upload/b3/fuzz/chunked', ['Transfer-Encoding: chunked'], chunked),
    signed('POST', '/nobucket_upload/fuzz/auto', [`Content-Length: ${body.length}`], body),
    signed('POST', '/bulk_delete/b1', [`Content-Length: ${bulk.length}`, 'Content-Type: application/json'], bulk),
    signed('DELETE', '/delete/b2/fuzz/two', [], ''),
    plain('POST', '/upload/small/x', ['Content-Length: 5000', 'Expect: 100-continue']),
  ];
}

const HEADER_LINES = [
  'Content-Length: -1', 'Content-Length: 99999999999999999999', 'Content-Length: 10, 20', 'Transfer-Encoding: chunked', 'Transfer-Encoding: gzip, chunked',
  'Range: bytes=', 'Range: bytes=-0', 'Range: bytes=5-1', 'Range: bytes=0-0,0-0,0-0,0-0', 'Range: items=1-2', 'If-None-Match: *', 'If-Modified-Since: yesterday',
  'Authorization: riftv1 writer:AAAA', 'Authorization: riftv1 :', 'Authorization: Basic x', 'X-Ell-Date: 0', 'X-Ell-Content-SHA256: zz', 'Expect: 100-continue',
  'Connection: close', 'Host:', ': empty name', 'X'.repeat(5000) + ': long', 'Content-Type: multipart/byteranges; boundary=', 'X-Forwarded-For: ::1',
];

/** Request-aware changes on top of byte mutations: header lines added or repeated, the path or chunk sizes spoiled. */
function structural(rng: Rng, req: Buffer): Buffer {
  const text = req.toString('latin1');
  const split = text.indexOf('\r\n\r\n');
  if (split < 0) return mutate(rng, req);
  const lines = text.slice(0, split).split('\r\n');
  const body = text.slice(split + 4);
  const r = rng.int(5);
  if (r === 0) lines.splice(1 + rng.int(lines.length), 0, rng.pick(HEADER_LINES));
  else if (r === 1) lines.push(lines[rng.int(lines.length)]!);
  else if (r === 2) {
    const [method, target, version] = lines[0]!.split(' ');
    const spoilt = rng.pick([`${target}%`, `${target}%zz`, `${target}/../../x`, `${target}%00`, target!.replace(/\//g, '//'), `${target}?${'a='.repeat(100)}`, `/${'%2F'.repeat(50)}`, '*', `${target}\u00ff`]);
    lines[0] = `${rng.chance(0.2) ? rng.pick(['PATCH', 'get', 'CONNECT', 'G\u0000T']) : method} ${spoilt} ${rng.chance(0.1) ? 'HTTP/1.0' : version}`;
  } else if (r === 3 && /chunked/i.test(text)) {
    return Buffer.from(`${lines.join('\r\n')}\r\n\r\n${body.replace(/^[0-9a-f]+\r\n/im, rng.pick(['ffffffffffffffff\r\n', '-1\r\n', 'zz\r\n', '5;ext=1\r\n', '\r\n']))}`, 'latin1');
  } else lines.splice(1 + rng.int(Math.max(1, lines.length - 1)), 1);
  return Buffer.from(`${lines.join('\r\n')}\r\n\r\n${body}`, 'latin1');
}

interface Answer {
  /** The status of the first response, 0 when none came. */
  status: number;
  text: string;
}

/** Whether `got` holds a whole first response (then the case need not wait for the quiet time). */
function complete(got: string, request: Buffer): boolean {
  const end = got.indexOf('\r\n\r\n');
  if (end < 0) return false;
  const head = got.slice(0, end);
  const status = Number(/^HTTP\/1\.[01] (\d{3})/.exec(head)?.[1] ?? 0);
  if (status === 204 || status === 304 || status < 200 || request.subarray(0, 5).toString('latin1').startsWith('HEAD ')) return true;
  const length = /\r\ncontent-length: *(\d+)/i.exec(head);
  if (length) return got.length - end - 4 >= Number(length[1]);
  return /\r\ntransfer-encoding: *chunked/i.test(head) && got.endsWith('0\r\n\r\n');
}

function exchange(port: number, bytes: Buffer): Promise<Answer> {
  return new Promise((resolve) => {
    const s = net.connect(port, '127.0.0.1');
    let got = '';
    let done = false;
    const finish = (): void => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      s.destroy();
      const m = /^HTTP\/1\.[01] (\d{3})/.exec(got);
      resolve({ status: m ? Number(m[1]) : 0, text: got.slice(0, 400) });
    };
    const timer = setTimeout(finish, QUIET_MS);
    s.on('data', (c: Buffer) => {
      got += c.toString('latin1');
      if (got.length > 64 * 1024 || complete(got, bytes)) finish();
    });
    s.on('error', finish);
    s.on('close', finish);
    s.on('connect', () => s.write(bytes));
  });
}

function httpTarget(name: string, viaNginx: boolean): Target {
  return {
    name,
    description: viaNginx ? 'mutated HTTP requests → nginx (the README block) → the proxy' : 'mutated HTTP requests (lines, headers, bodies, chunked) → the proxy directly',
    unavailable: () => (viaNginx && !nginxAvailable() ? 'nginx is not installed (apt-get install nginx-light)' : undefined),
    async start(): Promise<Harness> {
      const tc: TestCluster = await startTestCluster();
      const proxy: TestProxy = await startProxy(tc, { elliptics: { 'log-level': 'error' }, proxy: { 'idle-timeout': 5 } });
      let nginx: Nginx | undefined;
      let port = proxy.port;
      if (viaNginx) {
        port = await freePort();
        nginx = await startNginx(path.join(tc.root, 'nginx'), readmeNginxBlock(proxy.port, port), port);
      }
      // `known` is what the corpus reads (and may delete); the sentinel, named nowhere else, must stay.
      for (const key of ['known', SENTINEL]) {
        const stored = await proxy.request(`/upload/b1/${key}`, { method: 'POST', body: KNOWN, as: writer });
        if (stored.status !== 200) throw new Error(`could not store ${key}: ${stored.status}`);
      }
      const requests = corpus();
      let checked = 0;
      const outputMark = (): number => proxy.output().length;
      let seen = outputMark();
      const newOutput = (): string => {
        const out = proxy.output();
        const fresh = out.slice(seen);
        seen = out.length;
        return fresh;
      };
      const verdict = (a: Answer): string | undefined => {
        if (a.status === 500) return `500 from the proxy: ${a.text.split('\r\n\r\n')[1]?.slice(0, 200) ?? ''}`;
        return undefined;
      };
      const alive = async (): Promise<string | undefined> => {
        const out = newOutput();
        if (/worker died/.test(out)) return `a worker died: ${out.split('\n').find((l) => /worker died|uncaught|Error/.test(l)) ?? ''}`;
        if (/handler failed unexpectedly/.test(out)) return `a handler failed unexpectedly: ${out.split('\n').find((l) => l.includes('handler failed unexpectedly'))?.slice(0, 400)}`;
        for (let i = 0; i < 4; i++) {
          const r = await proxy.request(`/get/b1/${SENTINEL}`);
          if (r.status !== 200 || !r.body.equals(KNOWN)) return `GET of the stored object answered ${r.status} with ${r.body.length} bytes`;
        }
        const key = `/upload/b2/alive-${checked++}`;
        const up = await proxy.request(key, { method: 'POST', body: 'alive', as: writer });
        if (up.status !== 200) return `an upload after the batch answered ${up.status}: ${up.body.toString().slice(0, 200)}`;
        return undefined;
      };
      return {
        make(rng) {
          const base = rng.pick(requests);
          return rng.chance(0.5) ? structural(rng, base) : mutate(rng, base, requests);
        },
        async check(input) {
          const problem = verdict(await exchange(port, input));
          return problem ?? alive();
        },
        async batch(inputs, report) {
          let next = 0;
          await Promise.all(Array.from({ length: PARALLEL }, async () => {
            while (next < inputs.length) {
              const input = inputs[next++]!;
              const problem = verdict(await exchange(port, input));
              if (problem) report(input, problem);
            }
          }));
          return inputs.length;
        },
        alive,
        async close() {
          await nginx?.stop();
          await proxy.stop();
          await tc.close();
        },
      };
    },
  };
}

export const httpDirectTarget = httpTarget('http', false);
export const httpNginxTarget = httpTarget('http-nginx', true);
