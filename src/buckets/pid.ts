// The per-backend PID controller of the original (spec backrunner.md §12.5): its "pain" is the
// write time a backend costs per byte, in microseconds, and a failed write pushes it past anything
// a healthy backend can reach. Kp 1, Ki 0, Kd 0.3, and "faster than before → halve the pain".
//
// Ours (DESIGN §4.14): the time fed is storage time only, and a backend nobody writes to — one
// that failed and left automatic selection — sees its pain decay with a half-life back to the
// speed it last wrote at, so it is tried again by itself once it is repaired instead of waiting for
// named uploads. What the decay removes is only the excess over that speed: a backend that is
// merely slow keeps its measured pain while traffic pauses.

export interface PidState {
  /** The last error fed (µs per byte). */
  error: number;
  integralError: number;
  /** When the last error was fed (ms since the epoch). */
  errorTime: number;
  /** The controller's output: µs per byte a write to this backend is expected to cost. */
  pain: number;
  /** When the pain last decayed (ms); not part of the original's state. */
  decayedAt: number;
  /** µs per byte of the last successful write: where the pain decays to (ours). */
  floor: number;
}

export const PID_GAINS = { kp: 1, ki: 0, kd: 0.3 } as const;

/** What a failed write feeds (spec §12.1 WRITE_ERROR_PAIN): ×L it is past PAIN_HARD for any real upload. */
export const WRITE_ERROR_PAIN = 2.5e13;

/**
 * Half-life of the pain above a backend's last write speed while it gets no writes. From a write
 * error (~3e13 µs/B) to the pain of a healthy backend takes ~45 half-lives, so a repaired backend
 * is back in automatic selection well within a minute; a backend that still fails is tried about
 * that often.
 */
export const PAIN_HALF_LIFE_MS = 1000;

export function newPid(now: number): PidState {
  return { error: 0, integralError: 0, errorTime: now, pain: 0, decayedAt: now, floor: 0 };
}

/** Feeds one measured error `e` (µs per byte, or WRITE_ERROR_PAIN) at time `now` (ms). */
export function feedPid(s: PidState, e: number, now: number): PidState {
  const dt = (now - s.errorTime) / 1000;
  if (dt <= 0) return s;
  const integral = s.integralError + e * dt;
  const derivative = (e - s.error) / dt;
  let u = PID_GAINS.kp * e + PID_GAINS.ki * integral + PID_GAINS.kd * derivative;
  if (u <= 0) u = s.pain / 2 + 1; // faster than before: decay the pain (the original's rule)
  return { error: e, integralError: integral, errorTime: now, pain: u, decayedAt: now, floor: e < WRITE_ERROR_PAIN ? e : s.floor };
}

/**
 * Lets the pain (and the error the derivative compares with) fall back towards the backend's last
 * write speed while no write is measured.
 */
export function decayPid(s: PidState, now: number, halfLifeMs = PAIN_HALF_LIFE_MS): PidState {
  const dt = now - s.decayedAt;
  if (dt <= 0) return s;
  const f = 2 ** (-dt / halfLifeMs);
  const toward = (v: number): number => (v > s.floor ? s.floor + (v - s.floor) * f : v);
  return { ...s, pain: toward(s.pain), error: toward(s.error), decayedAt: now };
}
