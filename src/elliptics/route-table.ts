// The route table (spec §3.3): per group, the ring points of every backend, sorted. A key id
// belongs to the point with the greatest id ≤ key, wrapping to the last point below the first.

import { compareIds } from './protocol/key.js';
import type { BackendIds } from './protocol/containers.js';

export interface Route {
  /** `host:port:family` of the node that owns the key in this group. */
  readonly node: string;
  readonly backendId: number;
}

interface Point extends Route {
  id: Buffer;
}

export class RouteTable {
  private readonly groups = new Map<number, Point[]>();

  /** Replaces everything `node` announced (handshake): its enabled backends and their points. */
  setNode(node: string, backends: readonly BackendIds[]): void {
    this.removeNode(node);
    for (const b of backends) this.addBackend(node, b);
  }

  /** UPDATE_IDS: a backend got new points (enable) or went away (disable: flags 1, group 0). */
  updateBackend(node: string, b: BackendIds): void {
    this.removeBackend(node, b.backendId);
    if (b.ids.length > 0 && b.group > 0) this.addBackend(node, b);
  }

  removeNode(node: string): void {
    for (const [group, points] of this.groups) {
      const kept = points.filter((p) => p.node !== node);
      if (kept.length === 0) this.groups.delete(group);
      else if (kept.length !== points.length) this.groups.set(group, kept);
    }
  }

  removeBackend(node: string, backendId: number): void {
    for (const [group, points] of this.groups) {
      const kept = points.filter((p) => !(p.node === node && p.backendId === backendId));
      if (kept.length === 0) this.groups.delete(group);
      else if (kept.length !== points.length) this.groups.set(group, kept);
    }
  }

  private addBackend(node: string, b: BackendIds): void {
    const points = this.groups.get(b.group) ?? [];
    for (const id of b.ids) {
      // A point already present in the group (from any node) is skipped, as the C client does.
      if (points.some((p) => p.id.equals(id))) continue;
      points.push({ id: Buffer.from(id), node, backendId: b.backendId });
    }
    points.sort((a, b2) => compareIds(a.id, b2.id));
    if (points.length > 0) this.groups.set(b.group, points);
  }

  /** The owner of `id` in `group`, or undefined when the group is unknown (the table's own entry: no copy on the hot path). */
  lookup(group: number, id: Buffer): Route | undefined {
    const points = this.groups.get(group);
    if (!points || points.length === 0) return undefined;
    // Greatest index with point ≤ id.
    let lo = 0;
    let hi = points.length - 1;
    let found = -1;
    while (lo <= hi) {
      const mid = (lo + hi) >> 1;
      if (compareIds(points[mid]!.id, id) <= 0) {
        found = mid;
        lo = mid + 1;
      } else hi = mid - 1;
    }
    return points[found < 0 ? points.length - 1 : found]!;
  }

  groupIds(): number[] {
    return [...this.groups.keys()].sort((a, b) => a - b);
  }

  /** Every (node, backend, point) of a group, e.g. for ring-share statistics. */
  pointsOf(group: number): readonly { node: string; backendId: number; id: Buffer }[] {
    return this.groups.get(group) ?? [];
  }
}
