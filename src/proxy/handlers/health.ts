// GET /health/ (DESIGN §4.15), for load balancers: 200 only while every bucket of the bucket list
// can be read (at least one group whose backends are all on nodes that answer) and written under
// proxy.write-quorum; else 503 with a short JSON reason. It reads only what the worker already
// holds (the snapshot's statistics, its client's node states), so it is cheap to ask every second.

import type { BucketMeta } from '../../buckets/metadata.js';
import { freeSpaceRatio } from '../../buckets/selection.js';
import { quorumNeeds } from '../../config/proxy-config.js';
import type { BackendStats } from '../../elliptics/stats.js';
import type { Request } from '../request.js';
import type { WorkerContext } from '../worker-context.js';

interface GroupHealth {
  readable: boolean;
  writable: boolean;
  why: string;
}

/** Full: not room for one more MiB (the disk, or blob-size-limit). Reads go on; writes fail with -ENOSPC. */
export function isFull(st: BackendStats): boolean {
  return st.limit > 0 && st.total > 0 && freeSpaceRatio(st, FULL_MARGIN) <= 0;
}

const FULL_MARGIN = 1024 * 1024;

function groupHealth(ctx: WorkerContext, group: number): GroupHealth {
  const points = ctx.cluster.routes.pointsOf(group);
  if (points.length === 0) return { readable: false, writable: false, why: `group ${group} has no route (no node serves it)` };
  const haveStats = ctx.snapshot.backends.length > 0;
  let writable = true;
  let why = '';
  for (const owner of new Set(points.map((p) => `${p.node}/${p.backendId}`))) {
    const [node, id] = [owner.slice(0, owner.lastIndexOf('/')), Number(owner.slice(owner.lastIndexOf('/') + 1))];
    const state = ctx.cluster.node(node)?.state ?? 'down';
    if (state !== 'up') return { readable: false, writable: false, why: `group ${group}: node ${node} is ${state}` };
    const st = ctx.backendStats(group, node, id);
    if (haveStats && !st) return { readable: false, writable: false, why: `group ${group}: backend ${owner} reports no statistics (disabled?)` };
    if (st?.readOnly) [writable, why] = [false, `group ${group}: backend ${owner} is read-only`];
    else if (st && st.error !== 0) [writable, why] = [false, `group ${group}: backend ${owner} reports error ${st.error}`];
    else if (st && isFull(st)) [writable, why] = [false, `group ${group}: backend ${owner} is full (${st.avail} bytes free, ${st.used} used of ${st.limit})`];
  }
  return { readable: true, writable, why };
}

/** Why `bucket` cannot serve now, or undefined. */
function bucketProblem(ctx: WorkerContext, bucket: BucketMeta, groups: Map<number, GroupHealth>): string | undefined {
  if (bucket.groups.length === 0) return `bucket ${bucket.name} has no groups`;
  const hs = bucket.groups.map((g) => groups.get(g) ?? (groups.set(g, groupHealth(ctx, g)), groups.get(g)!));
  if (!hs.some((h) => h.readable)) return `bucket ${bucket.name} cannot be read: ${hs.map((h) => h.why).join('; ')}`;
  const need = quorumNeeds(ctx.config.writeQuorum, bucket.groups.length);
  const can = hs.filter((h) => h.writable).length;
  if (can < need) return `bucket ${bucket.name} cannot be written under write-quorum "${ctx.config.writeQuorum}" (${can} of ${need} groups needed): ${hs.filter((h) => !h.writable).map((h) => h.why).join('; ')}`;
  return undefined;
}

export async function health(req: Request): Promise<void> {
  const ctx = req.ctx;
  const groups = new Map<number, GroupHealth>();
  const buckets = ctx.writableBuckets();
  const problems = buckets.map((b) => bucketProblem(ctx, b, groups)).filter((p): p is string => p !== undefined);
  const headers: [string, string][] = [['Content-Type', 'application/json'], ['Cache-Control', 'no-store']];
  if (problems.length === 0) {
    req.ex.end(200, headers, JSON.stringify({ status: 'ok', buckets: buckets.length }));
    return;
  }
  req.ex.end(503, headers, JSON.stringify({ status: 'unavailable', reason: problems[0], problems: problems.slice(0, 20) }));
}
