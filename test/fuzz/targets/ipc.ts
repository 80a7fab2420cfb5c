// The msgpack messages between the primary and its workers — the snapshot and the live view a
// worker receives, the report the primary receives — mutated as bytes and as values, then handed
// to the code that receives them: each is refused with an IPC error (the receiver logs it and keeps
// its last view) or taken without anything throwing, and the primary's next live view still reads.

import { Packr } from 'msgpackr';
import { parseProxyConfigText } from '../../../src/config/proxy-config.js';
import type { Cluster } from '../../../src/elliptics/cluster.js';
import { encodeMessage, isIpcError } from '../../../src/ipc/codec.js';
import { decodeLive, emptyLive, encodeLive, type LiveView } from '../../../src/ipc/live.js';
import { decodeReport, encodeReport, newHistogram, type WorkerReport } from '../../../src/ipc/report.js';
import { decodeSnapshot, encodeSnapshot, toSnapshotBucket, type Snapshot } from '../../../src/ipc/snapshot.js';
import { StatsFold } from '../../../src/primary/stats-fold.js';
import { WorkerContext } from '../../../src/proxy/worker-context.js';
import { createLogger } from '../../../src/util/logger.js';
import { mutate } from '../mutate.js';
import type { Rng } from '../random.js';
import type { Harness, Target } from '../target.js';

const packr = new Packr({ useRecords: false, mapsAsObjects: true, moreTypes: false });
const EDGES: readonly unknown[] = [null, undefined, true, -1, 0, 1.5, NaN, Infinity, -Infinity, 2 ** 60, '', 'x', '12', [], [1, 'a'], {}, { a: 1 }, new Uint8Array(2)];

function sampleSnapshot(): Snapshot {
  const proxy = parseProxyConfigText(JSON.stringify({ proxy: { address: '127.0.0.1:9090', admin: { user: 'admin', token: 'sixteen characters' }, headers: { 'X-A': 'b' } } }), '/tmp/fuzz.json');
  const backend = {
    address: '127.0.0.1:1025:2', backendId: 1, group: 1, readOnly: false, delay: 0, defragState: 0, defragStartTime: 0, defragCompletionTime: 0,
    defragCompletionStatus: 0, error: 0, total: 1e12, avail: 5e11, limit: 1e12, used: 1e9, removedSize: 0, recordsTotal: 10, recordsRemoved: 1, recordsCorrupted: 0,
    commands: { WRITE: { requestsSuccess: 5, requestsFailures: 0, bytes: 100 } },
  };
  return {
    seq: 3,
    proxy,
    remotes: [{ host: '127.0.0.1', port: 1025, family: 2 }],
    buckets: [toSnapshotBucket({ version: 1, name: 'b1', acl: new Map([['*', { version: 2, user: '*', token: '', flags: 1n }]]), groups: [1, 2], flags: 0n, maxSize: 0, maxKeyNum: 0 }, true)],
    backends: [backend, { ...backend, backendId: 2, group: 2 }],
    routes: [[1, [['127.0.0.1:1025:2', 1]]], [2, [['127.0.0.1:1025:2', 2]]]],
    localNode: { endpoint: '127.0.0.1:1025', dir: '/tmp/embedded' },
    startTime: 1, configTime: 2, statTime: 3,
  };
}

function sampleReport(): WorkerReport {
  const latency = newHistogram();
  latency.le[2] = 3;
  latency.count = 3;
  latency.sum = 0.02;
  return {
    worker: 0, pid: 123, requests: { get: { '200': { requests: 3, bytesIn: 0, bytesOut: 300, size: 300, latency } } },
    writes: { '127.0.0.1:1025:2/1': { writes: 2, errors: 1, bytes: 2000, micros: 900, latency, lastError: 'x', cost: { writes: 1, bytes: 1000, sizeSq: 1e6, micros: 400, sizeMicros: 4e5 } } },
    choices: { b1: 2 }, errors: [{ time: 1, method: 'GET', remote: '', url: '/get/b1/k', handler: 'get', error: 'e', status: 404 }],
    rss: 1e8, heapUsed: 1e7, loopLagMs: 1, inFlight: 2, shed: 0, localReads: 0, localMisses: 0, pools: [{ node: 'n', connections: 2, inFlight: 0, state: 'up' }], readRepairs: 0, readRepairFailures: 0,
  };
}

function sampleLive(): LiveView {
  const fold = new StatsFold();
  fold.addReport(sampleReport());
  fold.tick();
  return fold.view([]);
}

/** A leaf somewhere in the value replaced by an edge value. */
function mutateValue(rng: Rng, v: unknown): unknown {
  if (typeof v !== 'object' || v === null || v instanceof Uint8Array) return rng.pick(EDGES);
  const keys = Object.keys(v);
  if (keys.length === 0 || rng.chance(0.15)) return rng.pick(EDGES);
  const k = rng.pick(keys);
  (v as Record<string, unknown>)[k] = mutateValue(rng, (v as Record<string, unknown>)[k]);
  return v;
}

const KINDS = ['snapshot', 'live', 'report'] as const;

export const ipcTarget: Target = {
  name: 'ipc',
  description: 'snapshots, live views and reports (mutated msgpack) → refused and logged, or taken whole',
  async start(): Promise<Harness> {
    const samples = [encodeSnapshot(sampleSnapshot()), encodeLive(sampleLive()), encodeReport(sampleReport())];
    const log = createLogger('fuzz', { level: 'silent' });
    // The worker's context never reaches storage here: only the snapshot is applied to it.
    const ctx = new WorkerContext(sampleSnapshot(), {} as Cluster, [1], log);
    const fold = new StatsFold();
    return {
      make(rng) {
        const kind = rng.int(KINDS.length);
        const sample = samples[kind]!;
        const bytes = rng.chance(0.5) ? mutate(rng, sample.subarray(1), samples.map((s) => s.subarray(1))) : encodeMessage(mutateValue(rng, packr.unpack(sample.subarray(1)))).subarray(1);
        return Buffer.concat([Buffer.from([kind]), sample.subarray(0, 1), bytes]);
      },
      async check(input) {
        const kind = KINDS[input[0]! % KINDS.length]!;
        const message = input.subarray(1);
        try {
          if (kind === 'snapshot') {
            ctx.setSnapshot(decodeSnapshot(message));
            ctx.knownBuckets();
            ctx.writableBuckets();
          } else if (kind === 'live') {
            ctx.setLive(decodeLive(message));
          } else {
            fold.addReport(decodeReport(message));
            fold.tick();
            // What the primary broadcasts next must still be readable by its workers.
            decodeLive(encodeLive(fold.view([])));
          }
        } catch (err) {
          if (isIpcError(err)) return undefined;
          return `${kind}: ${(err as Error).name}: ${(err as Error).message}`;
        }
        return undefined;
      },
      async close() {
        ctx.setLive(emptyLive());
      },
    };
  },
};
