// The messages between the primary and its HTTP workers (cluster IPC, advanced serialization).
// Small control messages travel as plain objects; the bulky ones carry bytes made by codec.ts
// (a version byte, then msgpackr): the snapshot when config, buckets or storage statistics change,
// the live view about once a second (live.ts), and each worker's report about once a second
// (report.ts). A worker says which IPC version it speaks in its hello.

import type { HintsAck, HintsMessage, StaleReplicas } from './hints.js';

/** Primary → worker. */
export type PrimaryMessage =
  | { type: 'snapshot'; data: Uint8Array }
  | { type: 'live'; data: Uint8Array }
  | { type: 'drain' }
  | { type: 'reopen-logs' }
  | NodeSuspect
  | HintsAck
  | StaleReplicas;

/** A worker found a storage node unresponsive; the primary passes it on to the other workers. */
export interface NodeSuspect {
  type: 'node-suspect';
  node: string;
  why: string;
}

/** What a control endpoint asks of the primary. */
export type ControlRequest = { type: 'update-config'; config: string } | { type: 'exit' };

/** Worker → primary. */
export type WorkerMessage =
  /** The first message of a worker: it waits for a snapshot. `version`: the IPC version it speaks. */
  | { type: 'hello'; pid: number; version: number }
  | { type: 'ready'; pid: number }
  | { type: 'report'; data: Uint8Array }
  | { type: 'fatal'; error: string }
  | NodeSuspect
  | HintsMessage
  | ControlRequest;
