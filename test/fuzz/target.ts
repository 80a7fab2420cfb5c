// What every fuzz target provides: a way to make a case from a seeded generator, a way to run one
// case, and its own setup. A case that crashes, hangs or answers wrongly is a finding; its input is
// kept so that it replays alone (test/fuzz/regressions/).

import type { Rng } from './random.js';

export interface Finding {
  target: string;
  /** The run's seed and the case's number in it. */
  seed: number;
  case: number;
  /** What went wrong: a crash, a hang, an unexpected error type, wrong data, a 500. */
  problem: string;
  /** The input that did it (bytes as sent). */
  input: Buffer;
}

/** A running target: cases go through `check`, which says what was wrong with one (undefined: nothing). */
export interface Harness {
  /** One input for this target, made from `rng`. */
  make(rng: Rng): Buffer;
  /** Runs one case; resolves with a problem, or undefined when the target handled it properly. */
  check(input: Buffer): Promise<string | undefined>;
  /**
   * Runs many cases at once where the target can (pipelined frames, parallel connections); the
   * default runs them one by one. Returns the number of cases that reached the target.
   */
  batch?(inputs: readonly Buffer[], report: (input: Buffer, problem: string) => void): Promise<number>;
  /** Cases per batch (default 256). */
  batchSize?: number;
  /** Checks that the target is still whole after a batch (the process alive, a valid request served). */
  alive?(): Promise<string | undefined>;
  close(): Promise<void>;
}

export interface Target {
  name: string;
  /** What it feeds to what, for the run's table. */
  description: string;
  /** Why it cannot run on this machine (undefined: it can). */
  unavailable?(): string | undefined;
  start(): Promise<Harness>;
}
