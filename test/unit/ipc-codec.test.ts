// The versioned encoding of the messages between the proxy's processes.

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { decodeMessage, encodeMessage, IPC_VERSION, IpcMessageError, IpcVersionError } from '../../src/ipc/codec.js';
import { decodeLive, emptyLive, encodeLive } from '../../src/ipc/live.js';
import { decodeReport, encodeReport } from '../../src/ipc/report.js';

test('a message round-trips with the version byte in front', () => {
  const bytes = encodeMessage({ a: 1, b: ['x', 2.5], c: { d: true } });
  assert.equal(bytes[0], IPC_VERSION);
  assert.deepEqual(decodeMessage(bytes, 'test', (v) => v), { a: 1, b: ['x', 2.5], c: { d: true } });
  const live = { ...emptyLive(), seq: 7, time: 123 };
  assert.deepEqual(decodeLive(encodeLive(live)), live);
});

test('another version is detected and named, not misread', () => {
  const bytes = encodeMessage({ seq: 1 });
  bytes[0] = IPC_VERSION + 1;
  assert.throws(() => decodeLive(bytes), (e: unknown) => e instanceof IpcVersionError && e.got === IPC_VERSION + 1 && /live view/.test(e.message) && e.message.includes(`version ${IPC_VERSION + 1}`) && e.message.includes(`version ${IPC_VERSION}`));
  // A payload of the old, unversioned encoding (plain msgpack, first byte a map marker) is refused too.
  const report = { worker: 0, pid: 1, requests: {}, writes: {}, choices: {}, errors: [], rss: 0, heapUsed: 0, loopLagMs: 0, inFlight: 0, shed: 0, localReads: 0, localMisses: 0, pools: [], readRepairs: 0, readRepairFailures: 0 };
  const unversioned = encodeReport(report).subarray(1);
  assert.throws(() => decodeReport(unversioned), IpcVersionError);
  assert.throws(() => decodeReport(new Uint8Array(0)), IpcVersionError);
});

test('a message of the right version but the wrong shape is refused, naming the field', () => {
  const live = { ...emptyLive(), seq: 'seven' };
  assert.throws(() => decodeLive(encodeMessage(live)), (e: unknown) => e instanceof IpcMessageError && /live view.*seq: must be an integer/.test(e.message));
  const report = { worker: 0, pid: 1, requests: { get: { '200': { requests: 1, bytesIn: 0, bytesOut: 0, size: 0, latency: { le: [1], count: 1, sum: 0 } } } }, writes: {}, choices: {}, errors: [], rss: 0, heapUsed: 0, loopLagMs: 0, inFlight: 0, shed: 0, localReads: 0, localMisses: 0, pools: [], readRepairs: 0, readRepairFailures: 0 };
  assert.throws(() => decodeReport(encodeMessage(report)), (e: unknown) => e instanceof IpcMessageError && e.message.includes('requests.get.200.latency.le: must have'));
  // Not msgpack at all after the version byte.
  assert.throws(() => decodeReport(Buffer.from([IPC_VERSION, 0xc1])), IpcMessageError);
});
