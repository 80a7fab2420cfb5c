// GET /stat/[names], /ping/[names] (public, no secrets) and /proxy_stat/ (admin only), in the
// original's JSON shapes (spec backrunner.md §4.5, §15.1).

import os from 'node:os';
import { formatEndpoint } from '../../elliptics/protocol/addr.js';
import { backendKey, type BackendStats } from '../../elliptics/stats.js';
import type { BackendLive, RepairStats } from '../../ipc/live.js';
import { isFull } from './health.js';
import { goJson, goTimeString } from '../replies.js';
import type { Request } from '../request.js';
import { bucketSummaries } from '../selection-view.js';
import { STATUS_PAGE } from '../http/status-page.js';
import { requireAdmin } from './control.js';

function rfc3339(sec: number): string {
  return new Date(sec * 1000).toISOString().replace(/\.\d{3}Z$/, 'Z');
}

function rfcMillis(ms: number): string {
  return new Date(ms).toISOString().replace(/\.\d{3}Z$/, 'Z');
}

function goTimeMs(ms: number): string {
  return ms > 0 ? goTimeString(Math.floor(ms / 1000), (ms % 1000) * 1e6) : '0001-01-01 00:00:00 +0000 UTC';
}

/** Share of the 2^64 ring each backend of a group owns, from the first 8 bytes of its points. */
function ringShares(points: readonly { node: string; backendId: number; id: Buffer }[]): Map<string, number> {
  const shares = new Map<string, number>();
  if (points.length === 0) return shares;
  const sorted = points.map((p) => ({ key: `${p.node}/${p.backendId}`, at: p.id.readBigUInt64BE(0) })).sort((a, b) => (a.at < b.at ? -1 : a.at > b.at ? 1 : 0));
  const ring = 2 ** 64;
  sorted.forEach((p, i) => {
    const next = i + 1 < sorted.length ? Number(sorted[i + 1]!.at) : ring;
    let span = next - Number(p.at);
    if (i === sorted.length - 1) span += Number(sorted[0]!.at); // the wrap belongs to the last point
    shares.set(p.key, (shares.get(p.key) ?? 0) + span / ring);
  });
  return shares;
}

function backendStat(st: BackendStats | undefined, share: number, live: BackendLive | undefined): Record<string, unknown> {
  const commands: Record<string, unknown> = {};
  for (const [name, c] of Object.entries(st?.commands ?? {})) {
    const r = live?.commands[name];
    commands[name] = { RequestsSuccess: c.requestsSuccess, RequestsFailures: c.requestsFailures, Bytes: c.bytes, RPSFailures: r?.rpsFailures ?? 0, RPSSuccess: r?.rpsSuccess ?? 0, BPS: r?.bps ?? 0 };
  }
  const pid = live?.pid;
  return {
    error: { code: st?.error ?? 0 },
    Percentage: share,
    DefragState: st?.defragState ?? 0,
    DefragStateStr: (st?.defragState ?? 0) === 0 ? 'not-started' : 'in-progress',
    DefragStartTime: rfc3339(st?.defragStartTime ?? 0),
    DefragCompletionTime: rfc3339(st?.defragCompletionTime ?? 0),
    DefragCompletionStatus: st?.defragCompletionStatus ?? 0,
    RO: st?.readOnly ?? false,
    Delay: st?.delay ?? 0,
    VFS: {
      Total: st?.total ?? 0,
      Avail: st?.avail ?? 0,
      TotalSizeLimit: st?.limit ?? 0,
      BackendRemovedSize: st?.removedSize ?? 0,
      BackendUsedSize: st?.used ?? 0,
      RecordsTotal: st?.recordsTotal ?? 0,
      RecordsRemoved: st?.recordsRemoved ?? 0,
      RecordsCorrupted: st?.recordsCorrupted ?? 0,
    },
    PID: { Error: pid?.error ?? 0, IntegralError: pid?.integralError ?? 0, ErrorTime: rfcMillis(pid?.errorTime ?? 0), Pain: pid?.pain ?? 0 },
    Commands: commands,
  };
}

export async function stat(req: Request): Promise<void> {
  const names = (req.params[0] ?? '').split('/')[0]!.split(',');
  const all = names.length === 0 || names[0] === '';
  const snap = req.ctx.snapshot;
  const buckets: Record<string, unknown> = {};
  for (const b of req.ctx.knownBuckets()) {
    if (!all && !names.includes(b.name)) continue;
    const group: Record<string, unknown> = {};
    for (const g of b.groups) {
      const withStats = snap.backends.filter((s) => s.group === g);
      const routed = snap.routes.find(([rg]) => rg === g)?.[1] ?? [];
      if (withStats.length === 0 && routed.length === 0) continue;
      const shares = ringShares(req.ctx.cluster.routes.pointsOf(g));
      // Backends with statistics and those only known from the routes, once each.
      const backends = new Map<string, { address: string; backendId: number; st: BackendStats | undefined }>();
      for (const [address, backendId] of routed) backends.set(`${address}/${backendId}`, { address, backendId, st: undefined });
      for (const st of withStats) backends.set(`${st.address}/${st.backendId}`, { address: st.address, backendId: st.backendId, st });
      group[String(g)] = {
        Backends: [...backends].map(([k, b]) => ({ Address: b.address, Backend: b.backendId, Stat: backendStat(b.st, shares.get(k) ?? 0, req.ctx.live.backends[backendKey(b.address, b.backendId)]) })),
      };
    }
    buckets[b.name] = { Group: group, Meta: { groups: b.groups, flags: Number(b.flags), 'max-size': b.maxSize, 'max-key-num': b.maxKeyNum } };
  }
  req.ex.end(200, [['Content-Type', 'application/json']], goJson({ Buckets: buckets, StatTime: goTimeMs(snap.statTime), Status: status(req, all ? undefined : names) }));
}

/**
 * Ours, beside the original's keys (the /status/ page reads it): bucket selection, each backend's
 * recent writes, recent errors (no URLs: keys are not everyone's business), node states.
 */
function status(req: Request, names: string[] | undefined): Record<string, unknown> {
  const { live, snapshot: snap } = req.ctx;
  const summaries = bucketSummaries(req.ctx).filter((s) => !names || names.includes(s.bucket));
  const backends: Record<string, unknown> = {};
  for (const [key, b] of Object.entries(live.backends)) {
    const st = snap.backends.find((s) => backendKey(s.address, s.backendId) === key);
    backends[key] = {
      Group: st?.group ?? null,
      Pain: b.pid.pain,
      // The cost model selection uses (DESIGN §4.19): µs per write + µs per byte, the writes behind it.
      Cost: { FixedMicros: b.cost.fixed, MicrosPerByte: b.cost.perByte, Writes: b.cost.weight, FailurePerByte: b.failure },
      Writes: b.totals.writes,
      Errors: b.totals.errors,
      Used: st?.used ?? null,
      Limit: st?.limit ?? null,
      Avail: st?.avail ?? null,
      ReadOnly: st?.readOnly ?? null,
      Full: st ? isFull(st) : null,
      Corrupted: st?.recordsCorrupted ?? null,
      LastError: b.lastError ? { Time: b.lastError.time, Text: b.lastError.text } : null,
      History: b.history.map((h) => ({ Time: h.time, Writes: h.writes, Errors: h.errors, MeanMs: h.writes > 0 ? h.micros / h.writes / 1000 : null })),
    };
  }
  return {
    Time: live.time,
    Selection: summaries.map((s) => ({
      Bucket: s.bucket, Groups: s.groups, Pain: Number.isFinite(s.pain) ? s.pain : null, Weight: s.weight, Share: s.share, Chosen: s.chosen, Rejected: s.rejected ?? null,
      CostSmallMs: Number.isFinite(s.costSmall) ? s.costSmall / 1000 : null, CostLargeMs: Number.isFinite(s.costLarge) ? s.costLarge / 1000 : null,
    })),
    Fleet: { FixedMicros: live.fleet.fixed, MicrosPerByte: live.fleet.perByte },
    Backends: backends,
    Errors: live.errors.slice(-20).map((e) => ({ Time: e.time, Method: e.method, Handler: e.handler, Status: e.status, Error: e.error })),
    Nodes: live.workers.flatMap((w) => w.pools.map((p) => ({ Worker: w.index, Node: p.node, State: p.state, Connections: p.connections, InFlight: p.inFlight }))),
    Workers: live.workers.map((w) => ({ Worker: w.index, InFlight: w.inFlight, Shed: w.shed, LocalReads: w.localReads, LocalMisses: w.localMisses })),
    Repairs: repairsOf(live.repairs),
  };
}

/** Hinted handoff and read-repair, as /stat/ and /status/ show them. */
function repairsOf(r: RepairStats): Record<string, unknown> {
  return {
    PendingHints: r.pendingHints,
    JournalBytes: r.journalBytes,
    Overflowed: r.overflowed,
    Delivered: r.delivered,
    DeliveryFailures: r.deliveryFailures,
    Dropped: r.dropped,
    CopiedBytes: r.copiedBytes,
    LastError: r.lastError || null,
    ReadRepairs: r.readRepairs,
    ReadRepairFailures: r.readRepairFailures,
  };
}

export async function proxyStat(req: Request): Promise<void> {
  requireAdmin(req);
  const snap = req.ctx.snapshot;
  const cfg = snap.proxy;
  const now = Date.now();
  const handlers: Record<string, unknown> = {};
  for (const name of ['nobucket_upload', 'upload', 'get', 'lookup', 'redirect', 'delete', 'bulk_delete', 'ping', 'stat', 'proxy_stat', 'update_local_config', '/', 'exit', 'profile']) {
    // Rates over the last seconds (spec §15.2: an estimator, not lifetime totals); quiet classes left out.
    const rs: Record<string, unknown> = {};
    for (const [cls, r] of Object.entries(req.ctx.live.rates[name] ?? {})) {
      if (r.rps > 0.1) rs[cls] = { BPS: r.bps, RPS: r.rps };
    }
    handlers[name] = { RS: rs };
  }
  const t = (ms: number) => Math.floor(ms / 1000);
  req.ex.end(200, [['Content-Type', 'application/json']], goJson({
    BucketCtlStat: {
      StartTime: t(snap.startTime), StartTimeString: goTimeMs(snap.startTime),
      StatTime: t(snap.statTime), StatTimeString: goTimeMs(snap.statTime),
      ConfigTime: t(snap.configTime), ConfigTimeString: goTimeMs(snap.configTime),
      CurrentTime: t(now), CurrentTimeString: goTimeMs(now),
      BucketNum: snap.buckets.filter((b) => b.writable).length,
      Hostname: os.hostname(),
      ConfigUpdateInterval: cfg.bucketUpdateInterval,
      StatUpdateInterval: cfg.bucketStatUpdateInterval,
      BuildDate: '', LastCommit: '', EllipticsGoLastCommit: '',
      ProxyConfig: { proxy: { ...publicProxyConfig(cfg) } },
    },
    handlers,
    errors: req.ctx.live.errors.map((e) => ({
      Tsec: Math.floor(e.time / 1000), Tnsec: (e.time % 1000) * 1e6, Time: goTimeMs(e.time), Method: e.method, RemoteAddr: e.remote, URL: e.url, Error: e.error, Status: e.status,
    })),
  }));
}

/** The proxy config with its secrets blanked (the redirect token, the admin token). */
function publicProxyConfig(cfg: Request['ctx']['config']): Record<string, unknown> {
  return {
    address: formatEndpoint(cfg.address),
    https_address: cfg.httpsAddress ? formatEndpoint(cfg.httpsAddress) : '',
    cert_file: cfg.certFile, key_file: cfg.keyFile,
    'idle-timeout': cfg.idleTimeout,
    'free-space-ratio-soft': cfg.freeSpaceRatioSoft, 'free-space-ratio-hard': cfg.freeSpaceRatioHard,
    'bucket-update-interval': cfg.bucketUpdateInterval, 'bucket-stat-update-interval': cfg.bucketStatUpdateInterval,
    'redirect-port': cfg.redirectPort, 'redirect-token': '', 'redirect-signature-timeout': cfg.redirectSignatureTimeout, 'redirect-root': cfg.redirectRoot,
    headers: cfg.headers, root: cfg.root, 'content-types': cfg.contentTypes,
    'reader-io-flags': cfg.readerIoFlags, 'writer-io-flags': cfg.writerIoFlags,
    'disable-config-update-for-seconds': cfg.disableConfigUpdateForSeconds,
    workers: cfg.workers, 'write-quorum': cfg.writeQuorum, admin: cfg.admin ? { user: cfg.admin.user, token: '' } : null,
  };
}

/** GET /status/: the self-contained status page over /stat/ (public, like /stat/). */
export async function statusPage(req: Request): Promise<void> {
  req.ex.end(200, [['Content-Type', 'text/html; charset=utf-8'], ['Cache-Control', 'no-cache']], STATUS_PAGE);
}
