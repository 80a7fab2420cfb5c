// The versioned encoding of the messages between the proxy's processes.

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { decodeMessage, encodeMessage, IPC_VERSION, IpcVersionError } from '../../src/ipc/codec.js';
import { decodeLive, emptyLive, encodeLive } from '../../src/ipc/live.js';
import { decodeReport, encodeReport } from '../../src/ipc/report.js';

test('a message round-trips with the version byte in front', () => {
  const bytes = encodeMessage({ a: 1, b: ['x', 2.5], c: { d: true } });
  assert.equal(bytes[0], IPC_VERSION);
  assert.deepEqual(decodeMessage(bytes, 'test'), { a: 1, b: ['x', 2.5], c: { d: true } });
  const live = { ...emptyLive(), seq: 7, time: 123 };
  assert.deepEqual(decodeLive(encodeLive(live)), live);
});

test('another version is detected and named, not misread', () => {
  const bytes = encodeMessage({ seq: 1 });
  bytes[0] = IPC_VERSION + 1;
  assert.throws(() => decodeLive(bytes), (e: unknown) => e instanceof IpcVersionError && e.got === IPC_VERSION + 1 && /live view/.test(e.message) && e.message.includes(`version ${IPC_VERSION + 1}`) && e.message.includes(`version ${IPC_VERSION}`));
  // A payload of the old, unversioned encoding (plain msgpack, first byte a map marker) is refused too.
  const report = { worker: 0, pid: 1, requests: {}, writes: {}, choices: {}, errors: [], rss: 0, heapUsed: 0, loopLagMs: 0, inFlight: 0, shed: 0, pools: [], readRepairs: 0, readRepairFailures: 0 };
  const unversioned = encodeReport(report).subarray(1);
  assert.throws(() => decodeReport(unversioned), IpcVersionError);
  assert.throws(() => decodeReport(new Uint8Array(0)), IpcVersionError);
});
