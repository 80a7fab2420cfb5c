// Control endpoints (DESIGN §4.2): /update_local_config/, /exit/, /profile/<name> — and
// /proxy_stat/ — need a request signed by `proxy.admin`; without an admin configured they are 403.

import v8 from 'node:v8';
import { requestDateProblem, sign, signatureMatches } from '../../buckets/signature.js';
import { parseProxyConfigText } from '../../config/proxy-config.js';
import { ConfigError } from '../../config/reader.js';
import { HttpError } from '../errors.js';
import type { Request } from '../request.js';
import type { ControlRequest } from '../../ipc/messages.js';

let sendToPrimary: (m: ControlRequest) => void = () => undefined;

export function setPrimaryChannel(send: (m: ControlRequest) => void): void {
  sendToPrimary = send;
}

export function requireAdmin(req: Request): void {
  const cfg = req.ctx.config;
  const admin = cfg.admin;
  const signed = admin !== undefined && req.caller.user === admin.user && req.caller.signature !== undefined &&
    signatureMatches(req.caller.signature, sign(admin.token, req.signed));
  const why = !admin ? 'proxy.admin is not configured'
    : !signed ? 'not signed by proxy.admin'
    : cfg.strictSignatures ? requestDateProblem(req.signed.headers, cfg.signatureSkew) : undefined;
  if (why) req.forbid(`control request refused: ${why}`);
}

export async function updateLocalConfig(req: Request): Promise<void> {
  requireAdmin(req);
  const body = await req.smallBody('conf');
  try {
    // Validate here so a bad document is refused with 400 instead of reaching the primary.
    parseProxyConfigText(body.toString('utf8'), 'update_local_config');
  } catch (err) {
    throw new HttpError(400, `conf: could not parse config: ${err instanceof ConfigError || err instanceof SyntaxError ? err.message : String(err)}`);
  }
  sendToPrimary({ type: 'update-config', config: body.toString('utf8') });
  req.ex.end(200, []);
}

export async function exit(req: Request): Promise<void> {
  requireAdmin(req);
  req.ex.end(200, [['Content-Type', 'text/plain; charset=utf-8']], 'exiting\n');
  sendToPrimary({ type: 'exit' });
}

export async function profile(req: Request): Promise<void> {
  requireAdmin(req);
  const name = req.params[0];
  const body =
    name === 'heap' ? JSON.stringify({ heap: v8.getHeapStatistics(), spaces: v8.getHeapSpaceStatistics(), memory: process.memoryUsage() }, null, 2)
    : name === 'goroutine' ? JSON.stringify({ activeResources: process.getActiveResourcesInfo(), inFlight: req.ctx.inFlight }, null, 2)
    : '';
  req.ex.end(200, [['Content-Type', 'application/json']], body);
}
