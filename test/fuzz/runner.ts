// Runs one fuzz target for a budget of seconds: makes seeded cases, runs them (in batches where the
// target can), checks the target is still whole after each batch, and collects findings — at most
// a few per distinct problem, each with the input that replays it.

import { Rng } from './random.js';
import type { Finding, Target } from './target.js';

export interface TargetResult {
  target: string;
  cases: number;
  seconds: number;
  findings: Finding[];
  /** Why it did not run, when it did not. */
  skipped?: string;
}

const BATCH = 256;
const PER_PROBLEM = 3;

/** The generator of case `n` of a run with `seed`: any case replays alone. */
export function caseRng(seed: number, n: number): Rng {
  return new Rng((Math.imul(seed, 0x9e3779b1) + Math.imul(n, 0x85ebca6b)) >>> 0);
}

export async function runTarget(target: Target, seed: number, seconds: number): Promise<TargetResult> {
  const skipped = target.unavailable?.();
  if (skipped) return { target: target.name, cases: 0, seconds: 0, findings: [], skipped };
  const harness = await target.start();
  // The budget is for cases: starting a harness (a proxy, nginx) can take seconds on a loaded machine.
  const started = performance.now();
  const findings: Finding[] = [];
  const seen = new Map<string, number>();
  const report = (n: number, input: Buffer, problem: string): void => {
    const key = problem.split('\n')[0]!.replace(/\d+/g, '#').slice(0, 160);
    const count = seen.get(key) ?? 0;
    seen.set(key, count + 1);
    if (count < PER_PROBLEM) findings.push({ target: target.name, seed, case: n, problem, input });
  };
  let made = 0;
  let cases = 0;
  const until = started + seconds * 1000;
  try {
    while (performance.now() < until) {
      const first = made;
      const inputs = Array.from({ length: harness.batchSize ?? BATCH }, () => harness.make(caseRng(seed, made++)));
      if (harness.batch) {
        cases += await harness.batch(inputs, (input, problem) => report(first + Math.max(0, inputs.indexOf(input)), input, problem));
      } else {
        for (const [i, input] of inputs.entries()) {
          const problem = await harness.check(input);
          cases++;
          if (problem) report(first + i, input, problem);
          if (performance.now() >= until) break;
        }
      }
      const broken = await harness.alive?.();
      if (broken) {
        report(first, Buffer.concat(inputs), `after cases ${first}–${made - 1}: ${broken}`);
        break;
      }
    }
  } finally {
    await harness.close();
  }
  return { target: target.name, cases, seconds: (performance.now() - started) / 1000, findings };
}
