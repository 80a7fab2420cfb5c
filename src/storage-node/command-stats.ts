// Per-command counters in the shape a real node reports under "commands" in MONITOR_STAT:
// successes, failures, bytes and time (µs), split by source (outside clients / internal) as Elliptics does.

import { commandName } from '../elliptics/protocol/constants.js';

export interface Counter {
  successes: number;
  failures: number;
  size: number;
  time: number;
}

function counter(): Counter {
  return { successes: 0, failures: 0, size: 0, time: 0 };
}

export class CommandStats {
  private readonly byCommand = new Map<number, Counter>();

  record(cmd: number, ok: boolean, size: number, micros: number): void {
    let c = this.byCommand.get(cmd);
    if (!c) this.byCommand.set(cmd, (c = counter()));
    if (ok) c.successes++;
    else c.failures++;
    c.size += size;
    c.time += micros;
  }

  /** `{"WRITE": {"cache": {...}, "disk": {"outside": C, "internal": C}}, ...}` (per backend). */
  backendJson(): Record<string, unknown> {
    const out: Record<string, unknown> = {};
    for (const [cmd, c] of this.byCommand) {
      out[commandName(cmd)] = { cache: { outside: counter(), internal: counter() }, disk: { outside: { ...c }, internal: counter() } };
    }
    return out;
  }

  /** Node-level section: the backend shape plus a `total` per command. */
  nodeJson(): Record<string, unknown> {
    const out: Record<string, unknown> = {};
    for (const [cmd, c] of this.byCommand) {
      out[commandName(cmd)] = {
        cache: { outside: counter(), internal: counter() },
        disk: { outside: { ...c }, internal: counter() },
        total: { storage: { successes: c.successes, failures: c.failures }, proxy: { successes: 0, failures: 0 } },
      };
    }
    return out;
  }

  /** `{"LOOKUP": {"successes": n, "failures": n}}` (per client). */
  clientJson(): Record<string, unknown> {
    const out: Record<string, unknown> = {};
    for (const [cmd, c] of this.byCommand) out[commandName(cmd)] = { successes: c.successes, failures: c.failures };
    return out;
  }
}
