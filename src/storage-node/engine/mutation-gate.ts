// A backend's mutations (writes, removes) pass through this gate. Maintenance that must see the
// index and the files at rest — swapping in a compacted blob, capturing an index snapshot — closes
// it: new mutations wait, the ones in flight finish, the maintenance step runs (milliseconds), and
// the gate reopens. Reads never wait here.

export class MutationGate {
  private inFlight = 0;
  private closed: Promise<void> | undefined;
  private reopen: (() => void) | undefined;
  private drained: (() => void) | undefined;

  /** Runs one mutation, after any exclusive step that holds the gate. */
  async run<T>(fn: () => Promise<T>): Promise<T> {
    while (this.closed) await this.closed;
    this.inFlight++;
    try {
      return await fn();
    } finally {
      if (--this.inFlight === 0) this.drained?.();
    }
  }

  /** Runs `fn` while no mutation is in flight and none can start. */
  async exclusive<T>(fn: () => Promise<T>): Promise<T> {
    while (this.closed) await this.closed;
    this.closed = new Promise<void>((resolve) => (this.reopen = resolve));
    try {
      if (this.inFlight > 0) await new Promise<void>((resolve) => (this.drained = resolve));
      this.drained = undefined;
      return await fn();
    } finally {
      const reopen = this.reopen!;
      this.closed = undefined;
      this.reopen = undefined;
      reopen();
    }
  }

  get mutationsInFlight(): number {
    return this.inFlight;
  }
}
