// Load shedding (DESIGN §4.21): what one worker takes on at once is bounded, so that far more
// requests than the storage can take cost a quick 503 each instead of memory and waiting. Three
// budgets, each from the proxy config:
//   - requests in flight on the storage routes (`max-requests-in-flight`);
//   - upload bodies, charged what a body can hold in memory (`max-upload-bytes-in-flight`): the
//     body queue pauses the socket above BODY_HIGH, so an upload never holds more than its
//     announced length or UPLOAD_CHARGE_MAX;
//   - object reads, charged two read chunks (the one being sent, the one read ahead) until the
//     first read tells the size (`max-read-bytes-in-flight`).
// A refused request gets 503 with Retry-After; nothing of it reached storage.

import type { ProxyConfig } from '../config/proxy-config.js';

/** Most an upload body holds in memory: the body queue's high mark and one block in the write. */
export const UPLOAD_CHARGE_MAX = 5 * 1024 * 1024;
export type AdmissionLimits = Pick<ProxyConfig, 'maxRequestsInFlight' | 'maxUploadBytesInFlight' | 'maxReadBytesInFlight'>;

/** One charge against a byte budget; `resize` and `release` are idempotent with respect to it. */
export class Charge {
  constructor(
    private readonly budget: ByteBudget,
    public bytes: number,
  ) {}

  /** Shrinks (never grows) what is held, once the real need is known. */
  shrink(bytes: number): void {
    if (bytes >= this.bytes) return;
    this.budget.used -= this.bytes - bytes;
    this.bytes = bytes;
  }

  release(): void {
    this.budget.used -= this.bytes;
    this.bytes = 0;
  }
}

export class ByteBudget {
  used = 0;
  /** Requests refused for want of room. */
  refused = 0;

  constructor(private readonly limit: () => number) {}

  /** A charge of `bytes`, or undefined when it does not fit (one charge always fits an empty budget). */
  take(bytes: number): Charge | undefined {
    if (this.used > 0 && this.used + bytes > this.limit()) {
      this.refused++;
      return undefined;
    }
    this.used += bytes;
    return new Charge(this, bytes);
  }
}

export class Admission {
  requests = 0;
  /** Requests refused because `max-requests-in-flight` were in flight. */
  refusedRequests = 0;
  readonly uploads: ByteBudget;
  readonly reads: ByteBudget;

  constructor(private readonly limits: () => AdmissionLimits) {
    this.uploads = new ByteBudget(() => this.limits().maxUploadBytesInFlight);
    this.reads = new ByteBudget(() => this.limits().maxReadBytesInFlight);
  }

  /** Takes a request slot, or false when the worker is full. */
  enter(): boolean {
    if (this.requests >= this.limits().maxRequestsInFlight) {
      this.refusedRequests++;
      return false;
    }
    this.requests++;
    return true;
  }

  leave(): void {
    this.requests--;
  }

  get refused(): number {
    return this.refusedRequests + this.uploads.refused + this.reads.refused;
  }
}

/** What an upload body with this Content-Length (undefined: chunked) can hold in memory. */
export function uploadCharge(announced: number | undefined): number {
  return announced === undefined || !Number.isFinite(announced) ? UPLOAD_CHARGE_MAX : Math.min(Math.max(announced, 0), UPLOAD_CHARGE_MAX);
}
