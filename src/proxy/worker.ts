// An HTTP worker: its own pooled Elliptics client and uWebSockets.js app(s) listening on the shared
// ports (SO_REUSEPORT), the latest snapshot from the primary, counters reported back once a second.

import type { us_listen_socket } from '@trufflesuite/uws-js-unofficial';
import { loadBackrunnerConfig, logOptions } from '../config/backrunner-config.js';
import { Cluster } from '../elliptics/cluster.js';
import { createLogger, reopenLogs } from '../util/logger.js';
import { startIdleReclaim } from '../util/buffer-pool.js';
import { setPrimaryChannel } from './handlers/control.js';
import { loadUws } from '../util/uws.js';
import { activeRequests, handleRequest, sweepIdle } from './router.js';
import { decodeLive } from '../ipc/live.js';
import { IPC_VERSION, isIpcError } from '../ipc/codec.js';
import type { PrimaryMessage, WorkerMessage } from '../ipc/messages.js';
import { encodeReport } from '../ipc/report.js';
import { decodeSnapshot, type Snapshot } from '../ipc/snapshot.js';
import { WorkerContext } from './worker-context.js';

function send(m: WorkerMessage): void {
  process.send?.(m);
}

/**
 * Asks the primary for its snapshot once listening for it (a message sent earlier could be lost).
 * A snapshot of another IPC version (a primary of another build) stops the worker with the reason.
 */
function firstSnapshot(): Promise<Snapshot> {
  return new Promise((resolve, reject) => {
    const on = (m: PrimaryMessage): void => {
      if (m.type !== 'snapshot') return;
      process.off('message', on);
      try {
        resolve(decodeSnapshot(m.data));
      } catch (err) {
        reject(err as Error);
      }
    };
    process.on('message', on);
    send({ type: 'hello', pid: process.pid, version: IPC_VERSION });
  });
}

export async function runWorker(configFile: string): Promise<void> {
  const config = loadBackrunnerConfig(configFile);
  const e = config.elliptics;
  const log = createLogger('worker', logOptions(e));
  const uws = loadUws();
  startIdleReclaim();
  const snapshot = await firstSnapshot();
  const cluster = await Cluster.connect({
    remotes: snapshot.remotes,
    protocolVersion: e.protocolVersion,
    poolSize: e.poolSize,
    maxPendingPerNode: e.maxPendingPerNode,
    timeoutMs: e.waitTimeoutMs,
    checkIntervalMs: e.checkIntervalMs,
    maxFrame: e.maxFrame,
    log,
    onNodeSuspect: (node, why) => send({ type: 'node-suspect', node, why }),
    localSockets: snapshot.localNode?.socket ? new Map([[snapshot.localNode.endpoint, snapshot.localNode.socket]]) : undefined,
  });
  const ctx = new WorkerContext(snapshot, cluster, e.metadataGroups, log, Number(process.env.BACKRUNNER_WORKER_INDEX ?? 0), send);
  setPrimaryChannel(send);
  let lastProblem = '';
  process.on('message', (m: PrimaryMessage) => {
    try {
      if (m.type === 'live') ctx.setLive(decodeLive(m.data));
      else if (m.type === 'snapshot') ctx.setSnapshot(decodeSnapshot(m.data));
    } catch (err) {
      // Kept on the last view it could read; each problem said once, not once a second.
      if (!isIpcError(err)) throw err;
      if (err.message !== lastProblem) log.error({ err: err.message }, 'message from the primary ignored');
      lastProblem = err.message;
      return;
    }
    if (m.type === 'drain') void drain('primary asked');
    else if (m.type === 'reopen-logs') reopenLogs();
    else if (m.type === 'node-suspect') cluster.suspectReported(m.node, m.why);
    else if (m.type === 'stale') ctx.stale.apply(m);
    else if (m.type === 'hints-ack') ctx.hints.ack(m);
  });

  const cfg = ctx.config;
  const sockets: us_listen_socket[] = [];
  const listen = (app: ReturnType<typeof uws.App>, host: string, port: number, secure: boolean): Promise<void> =>
    new Promise((resolve, reject) => {
      app.any('/*', (res, req) => handleRequest(ctx, res, req, secure));
      app.listen(host, port, (s) => {
        if (!s) return reject(new Error(`cannot listen on ${host}:${port} (proxy.${secure ? 'https_address' : 'address'}): address in use or not available`));
        sockets.push(s);
        resolve();
      });
    });
  await listen(uws.App(), cfg.address.host, cfg.address.port, false);
  if (cfg.httpsAddress) {
    await listen(uws.SSLApp({ cert_file_name: cfg.certFile, key_file_name: cfg.keyFile }), cfg.httpsAddress.host, cfg.httpsAddress.port, true);
  }

  const report = (): void => {
    const pools = cluster.nodes().map((p) => ({ node: p.address ?? p.endpoint, connections: p.connections, inFlight: p.inFlight, state: p.state }));
    send({ type: 'report', data: encodeReport(ctx.stats.drain({ inFlight: activeRequests(), shed: ctx.admission.refused, localReads: ctx.localFiles?.served ?? 0, localMisses: ctx.localFiles?.missed ?? 0, pools })) });
  };
  const reporter = setInterval(report, 1000);
  const sweeper = setInterval(() => sweepIdle(ctx.config.idleTimeout, log), 1000);
  let draining = false;
  const drain = async (why: string): Promise<void> => {
    if (draining) return;
    draining = true;
    log.info({ why, inFlight: activeRequests() }, 'draining: no new connections, finishing requests in flight');
    for (const s of sockets) uws.us_listen_socket_close(s);
    const deadline = Date.now() + ctx.config.shutdownTimeout * 1000;
    while (activeRequests() > 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
    clearInterval(reporter);
    clearInterval(sweeper);
    report();
    cluster.close();
    process.exit(0);
  };
  process.on('SIGTERM', () => void drain('SIGTERM'));
  process.on('SIGINT', () => undefined); // Ctrl-C reaches the whole process group: the primary decides
  process.on('SIGUSR1', () => reopenLogs()); // logrotate signalling the whole group (the primary forwards it too)
  process.once('disconnect', () => void drain('primary went away'));
  send({ type: 'ready', pid: process.pid });
}
