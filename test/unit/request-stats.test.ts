// Worker request counters: what a worker reports, and how the primary folds reports together.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { foldReport, LATENCY_BUCKETS, RequestStats, statusClass } from '../../src/proxy/request-stats.js';
import type { HandlerCounters, RecentError } from '../../src/proxy/snapshot.js';

test('record: counters per handler and status class, cumulative latency buckets', () => {
  const s = new RequestStats();
  s.record('get', 200, 100, 0.003);
  s.record('get', 206, 50, 0.2);
  s.record('get', 404, 10, 20);
  s.record('upload', 200, 7, 0.0005);
  const r = s.drain();
  const get = r.handlers.get!;
  assert.deepEqual(get['200'], { requests: 2, bytes: 150 });
  assert.deepEqual(get['400'], { requests: 1, bytes: 10 });
  assert.equal(get['latency:200']!.requests, 2);
  assert.ok(Math.abs(get['latency:200']!.bytes - 0.203) < 1e-9);
  // 0.003 s falls in every bucket from 0.005 up; 0.2 s from 0.25 up.
  const le = (b: number): number => get[`le:200:${b}`]!.requests;
  assert.equal(le(0.001), 0);
  assert.equal(le(0.005), 1);
  assert.equal(le(0.1), 1);
  assert.equal(le(0.25), 2);
  assert.equal(le(10), 2);
  // 20 s is above every bound: only the count (+Inf) has it.
  for (const b of LATENCY_BUCKETS) assert.equal(get[`le:400:${b}`]!.requests, 0);
  assert.equal(get['latency:400']!.requests, 1);
  assert.equal(r.handlers.upload!['le:200:0.001']!.requests, 1);
});

test('drain starts a new period', () => {
  const s = new RequestStats();
  s.record('get', 200, 1, 0.01);
  s.drain();
  s.record('get', 200, 5, 0.01);
  assert.deepEqual(s.drain().handlers.get!['200'], { requests: 1, bytes: 5 });
  assert.deepEqual(s.drain().handlers, {});
});

test('foldReport sums reports cell by cell and keeps the 128 latest errors in time order', () => {
  const totals: Record<string, HandlerCounters> = {};
  const errors: RecentError[] = [];
  const err = (time: number): RecentError => ({ time, method: 'GET', remote: 'r', url: '/u', error: 'e', status: 404 });
  for (let w = 0; w < 2; w++) {
    const s = new RequestStats();
    s.record('get', 200, 10, 0.002);
    for (let i = 0; i < 100; i++) s.error(err(w * 1000 + i));
    foldReport(totals, errors, s.drain());
  }
  assert.deepEqual(totals.get!['200'], { requests: 2, bytes: 20 });
  assert.equal(totals.get!['le:200:0.005']!.requests, 2);
  assert.equal(errors.length, 128);
  assert.equal(errors[0]!.time, 72);
  assert.equal(errors[127]!.time, 1099);
});

test('statusClass', () => {
  assert.equal(statusClass(200), '200');
  assert.equal(statusClass(499), '400');
  assert.equal(statusClass(999), '999');
});
