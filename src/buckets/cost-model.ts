// What a write to a backend costs, as automatic bucket selection predicts it (DESIGN §4.19): storage
// time ≈ fixed + perByte × size, a least-squares fit of the backend's measured writes with a time
// decay (half-life COST_HALF_LIFE_MS). The original fed its PID the time per byte of whatever sizes
// a backend happened to receive, so one slow 17-byte write made a backend look 10^4 times slower
// for a 1 MiB upload than its peers, for good. Separating the fixed latency from the throughput
// predicts this upload's time at its size, whatever sizes were measured.
//
// The fit is anchored by a prior: the fleet's typical model (every backend's writes pooled), as
// PRIOR_WEIGHT pseudo-writes at a small and a large size. A backend with plenty of recent writes is
// judged by them; one written to with a single size gets the other coefficient from the fleet; one
// not measured for a while drifts back towards the fleet — never towards its own last, possibly
// unlucky, figure.

/** Decayed sums over writes (x = bytes, y = storage µs) for the fit. */
export interface CostSums {
  /** Σ weight (effective number of writes). */
  n: number;
  x: number;
  xx: number;
  y: number;
  xy: number;
}

/** A backend's predicted write time: `fixed + perByte × size` µs. */
export interface CostModel {
  /** µs every write costs (round trips, fsync policy, queueing). */
  fixed: number;
  /** µs per byte (1 / throughput). */
  perByte: number;
  /** Effective writes behind the fit (0: the prior alone). */
  weight: number;
}

/** What writes were measured over one period: counts and sums, as workers report them. */
export interface MeasuredWrites {
  writes: number;
  bytes: number;
  /** Σ size². */
  sizeSq: number;
  micros: number;
  /** Σ size × µs. */
  sizeMicros: number;
}

export const COST_HALF_LIFE_MS = 5_000;
/** Pseudo-writes of the prior in every fit. */
export const PRIOR_WEIGHT = 2;
/** Before anything was measured anywhere: 1 ms and 200 MB/s. */
export const DEFAULT_COST: CostModel = { fixed: 1000, perByte: 0.005, weight: 0 };
/** The sizes the prior's pseudo-writes sit at. */
const PRIOR_SIZES = [4096, 1024 * 1024] as const;

export function emptySums(): CostSums {
  return { n: 0, x: 0, xx: 0, y: 0, xy: 0 };
}

/** The sums `elapsedMs` later: every past write weighs 2^(−elapsed / half-life) as much. */
export function decaySums(s: CostSums, elapsedMs: number, halfLifeMs = COST_HALF_LIFE_MS): CostSums {
  if (elapsedMs <= 0) return s;
  const f = 2 ** (-elapsedMs / halfLifeMs);
  return { n: s.n * f, x: s.x * f, xx: s.xx * f, y: s.y * f, xy: s.xy * f };
}

export function addWrites(s: CostSums, w: MeasuredWrites): CostSums {
  return { n: s.n + w.writes, x: s.x + w.bytes, xx: s.xx + w.sizeSq, y: s.y + w.micros, xy: s.xy + w.sizeMicros };
}

export function addSums(a: CostSums, b: CostSums): CostSums {
  return { n: a.n + b.n, x: a.x + b.x, xx: a.xx + b.xx, y: a.y + b.y, xy: a.xy + b.xy };
}

/** The least-squares fit of `s` plus the prior's pseudo-writes; both coefficients ≥ 0. */
export function fitCost(s: CostSums, prior: CostModel = DEFAULT_COST, priorWeight = PRIOR_WEIGHT): CostModel {
  let { n, x, xx, y, xy } = s;
  const w = priorWeight / PRIOR_SIZES.length;
  for (const size of PRIOR_SIZES) {
    const t = predictCost(prior, size);
    n += w;
    x += w * size;
    xx += w * size * size;
    y += w * t;
    xy += w * size * t;
  }
  const det = n * xx - x * x;
  let perByte = det > 0 ? (n * xy - x * y) / det : 0;
  let fixed = (y - perByte * x) / n;
  if (perByte < 0) {
    perByte = 0;
    fixed = y / n;
  } else if (fixed < 0) {
    fixed = 0;
    perByte = xx > 0 ? xy / xx : 0;
  }
  return { fixed, perByte, weight: s.n };
}

/** µs a write of `size` bytes is expected to take. */
export function predictCost(m: Pick<CostModel, 'fixed' | 'perByte'>, size: number): number {
  return m.fixed + m.perByte * size;
}
