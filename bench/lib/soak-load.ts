// The soak's traffic: clients that GET (whole and ranged), upload named and automatic objects from
// 4 KiB to 8 MiB, overwrite, look up and delete, over keep-alive connections, and check every answer
// against what they know: a GET returns the last acknowledged version byte for byte, a deleted key
// answers 404. A key is used by one client at a time, so what is expected is always known.

import http from 'node:http';
import { authFor, request, type Answer } from './rig.js';

export type Op = 'get' | 'range' | 'upload' | 'overwrite' | 'auto' | 'lookup' | 'delete' | 'get-deleted';

export interface Outcome {
  op: Op;
  /** performance.now() at the start and the end. */
  start: number;
  end: number;
  /** HTTP status, 0 when the connection failed. */
  status: number;
  /** Why the answer is wrong (undefined: it is what was expected). */
  wrong: string | undefined;
}

/** Mostly small, now and then large: about 130 KiB on average, so the disk keeps up for hours. */
const SIZES: [number, number][] = [[4096, 45], [16384, 20], [65536, 17], [262144, 10], [1048576, 7], [8388608, 1]];
const WEIGHTS: [Op, number][] = [['get', 35], ['range', 15], ['upload', 12], ['overwrite', 5], ['auto', 5], ['lookup', 10], ['delete', 10], ['get-deleted', 8]];
const BUCKETS = ['b1', 'b2', 'b3'];
/** Live objects kept around; beyond, new uploads make room by deleting. */
const LIVE_CAP = 300;
/**
 * Key names are drawn from a fixed set, reused after a delete: the storage's index then has a
 * steady size, so a process that keeps growing leaks (an ever-new key space would grow the index
 * by design: every removal is remembered for tombstone-ttl).
 */
const KEY_SPACE = 1500;

interface Known {
  bucket: string;
  key: string;
  version: number;
  size: number;
}

/** The bytes of one version of one object: cheap to make again for checking (a native fill). */
export function bodyOf(k: { key: string; version: number; size: number }): Buffer {
  return Buffer.alloc(k.size, `${k.key}#${k.version};`);
}

function weighted<T>(items: readonly [T, number][], r: number): T {
  const total = items.reduce((a, [, w]) => a + w, 0);
  let x = r * total;
  for (const [item, w] of items) if ((x -= w) < 0) return item;
  return items[items.length - 1]![0];
}

export class SoakLoad {
  private readonly live = new Map<string, Known>();
  private readonly deleted: Known[] = [];
  private readonly busy = new Set<string>();
  private readonly agent = new http.Agent({ keepAlive: true, maxSockets: 64 });
  private seq = 0;
  private stopping = false;
  readonly outcomes: Outcome[] = [];

  constructor(private readonly port: number) {}

  /** Some objects to read from the first second on. */
  async preload(n: number): Promise<void> {
    for (let i = 0; i < n; i++) await this.upload(this.fresh());
  }

  /** Runs `clients` loops until `stop`. */
  run(clients: number): Promise<void> {
    return Promise.all(Array.from({ length: clients }, () => this.loop())).then(() => undefined);
  }

  stop(): void {
    this.stopping = true;
  }

  close(): void {
    this.agent.destroy();
  }

  private async loop(): Promise<void> {
    while (!this.stopping) await this.step(weighted(WEIGHTS, Math.random()));
  }

  /** A key name nobody uses now (neither live nor in use), for a new upload; its bucket stays its own. */
  private fresh(): Known {
    for (;;) {
      const n = this.seq++ % KEY_SPACE;
      const key = `soak/${n}`;
      if (this.live.has(key) || this.busy.has(key)) continue;
      // Its deletion is no longer checked: the name is about to hold something again.
      for (let i = this.deleted.length - 1; i >= 0; i--) if (this.deleted[i]!.key === key) this.deleted.splice(i, 1);
      const version = (this.versions.get(key) ?? 0) + 1;
      this.versions.set(key, version);
      return { bucket: BUCKETS[n % 3]!, key, version, size: weighted(SIZES, Math.random()) };
    }
  }

  /** The last version number given to each key (a re-upload after a delete is a new version). */
  private readonly versions = new Map<string, number>();

  /** A live object no other client is using (from a random place on), taken for this one. */
  private take(): Known | undefined {
    const start = Math.floor(Math.random() * this.live.size);
    let i = 0;
    let first: Known | undefined;
    let pick: Known | undefined;
    for (const k of this.live.values()) {
      if (!this.busy.has(k.key)) {
        if (i >= start) {
          pick = k;
          break;
        }
        first ??= k;
      }
      i++;
    }
    pick ??= first;
    if (pick) this.busy.add(pick.key);
    return pick;
  }

  private async step(op: Op): Promise<void> {
    if ((op === 'upload' || op === 'auto') && this.live.size >= LIVE_CAP) op = 'delete';
    if (op === 'upload' || op === 'auto') {
      const k = this.fresh();
      this.busy.add(k.key);
      try {
        await this.record(op, () => (op === 'auto' ? this.autoUpload(k) : this.upload(k)), k);
      } finally {
        this.busy.delete(k.key);
      }
      return;
    }
    if (op === 'get-deleted') {
      const k = this.deleted.length > 0 ? this.deleted[Math.floor(Math.random() * this.deleted.length)] : undefined;
      if (!k || this.busy.has(k.key)) return;
      this.busy.add(k.key);
      try {
        await this.record(op, async () => {
          const a = await request(this.port, 'GET', `/get/${k.bucket}/${k.key}`, undefined, this.agent);
          return [a, a.status === 404 ? undefined : `a deleted key answered ${a.status}`];
        });
      } finally {
        this.busy.delete(k.key);
      }
      return;
    }
    const k = this.take();
    if (!k) return;
    try {
      await this.record(op, () => this.onKnown(op, k), k);
    } finally {
      this.busy.delete(k.key);
    }
  }

  private async onKnown(op: Op, k: Known): Promise<[Answer, string | undefined]> {
    const target = `/${k.bucket}/${k.key}`;
    switch (op) {
      case 'get': {
        const a = await request(this.port, 'GET', `/get${target}`, undefined, this.agent);
        return [a, a.status !== 200 ? `GET answered ${a.status}` : a.body.equals(bodyOf(k)) ? undefined : `GET returned ${a.body.length} bytes that are not version ${k.version}`];
      }
      case 'range': {
        const from = Math.floor(Math.random() * k.size);
        const to = Math.min(k.size - 1, from + Math.floor(Math.random() * 65536));
        const a = await request(this.port, 'GET', `/get${target}`, undefined, this.agent, { Range: `bytes=${from}-${to}` });
        return [a, a.status !== 206 ? `ranged GET answered ${a.status}` : a.body.equals(bodyOf(k).subarray(from, to + 1)) ? undefined : 'ranged GET returned other bytes'];
      }
      case 'lookup': {
        const a = await request(this.port, 'GET', `/lookup${target}`, undefined, this.agent);
        return [a, a.status === 200 ? undefined : `lookup answered ${a.status}`];
      }
      case 'overwrite': {
        const version = (this.versions.get(k.key) ?? k.version) + 1;
        this.versions.set(k.key, version);
        const next = { ...k, version, size: weighted(SIZES, Math.random()) };
        return this.upload(next);
      }
      case 'delete': {
        const a = await request(this.port, 'POST', `/delete${target}`, undefined, this.agent, { Authorization: authFor('POST', `/delete${target}`) });
        if (a.status === 200) {
          this.live.delete(k.key);
          this.deleted.push(k);
          if (this.deleted.length > 1000) this.deleted.shift();
        }
        return [a, a.status === 200 ? undefined : `delete answered ${a.status}`];
      }
      default:
        throw new Error(`no such operation ${op}`);
    }
  }

  private async upload(k: Known): Promise<[Answer, string | undefined]> {
    const target = `/upload/${k.bucket}/${k.key}`;
    const a = await request(this.port, 'POST', target, bodyOf(k), this.agent, { Authorization: authFor('POST', target) });
    if (a.status === 200) this.live.set(k.key, k);
    return [a, a.status === 200 ? undefined : `upload answered ${a.status}`];
  }

  private async autoUpload(k: Known): Promise<[Answer, string | undefined]> {
    const target = `/nobucket_upload/${k.key}`;
    const a = await request(this.port, 'POST', target, bodyOf(k), this.agent, { Authorization: authFor('POST', target) });
    if (a.status !== 200) return [a, `automatic upload answered ${a.status}`];
    const bucket = (JSON.parse(a.body.toString()) as { bucket?: string }).bucket;
    if (!bucket) return [a, 'automatic upload did not say which bucket'];
    this.live.set(k.key, { ...k, bucket });
    return [a, undefined];
  }

  private async record(op: Op, f: () => Promise<[Answer, string | undefined]>, k?: Known): Promise<void> {
    const start = performance.now();
    const [a, wrong] = await f();
    // A change whose answer was lost (its worker killed) may or may not have been made: the key's
    // state is no longer known, so it is not checked again.
    if (a.status === 0 && k && (op === 'overwrite' || op === 'delete' || op === 'upload' || op === 'auto')) {
      this.live.delete(k.key);
      this.forgotten++;
    }
    this.outcomes.push({ op, start, end: start + a.ms, status: a.status, wrong });
  }

  /** Keys dropped from checking because a change to them got no answer. */
  forgotten = 0;
}
