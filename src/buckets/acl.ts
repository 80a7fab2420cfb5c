// Who may do what with a bucket (spec backrunner.md §6.1, §6.3, with DESIGN §4 fixes: an empty
// ACL allows nothing; signatures compare in constant time; the reason of a refusal stays in the
// log and the client only learns 403).

import { AclFlags, BucketFlags, type BucketMeta } from './metadata.js';
import { requestDateProblem, sign, signatureMatches, type SignedRequest } from './signature.js';

export type Access = 'read' | 'write';

export interface Caller {
  /** `*` when the request carries no (parsable) Authorization header. */
  user: string;
  signature: string | undefined;
}

/**
 * `Authorization: riftv1 <user>:<128 hex>`. The scheme word is not checked (the original does not);
 * anything that is not two words, the second `user:signature`, is the anonymous user `*`.
 */
export function parseAuthorization(header: string | undefined): Caller {
  if (!header) return { user: '*', signature: undefined };
  const words = header.split(' ');
  if (words.length !== 2) return { user: '*', signature: undefined };
  const parts = words[1]!.split(':');
  if (parts.length !== 2) return { user: '*', signature: undefined };
  return { user: parts[0]!, signature: parts[1]! };
}

export interface AclDecision {
  allowed: boolean;
  /** For the log only (never tokens or signatures). */
  reason: string;
  /** A signature was checked under strict rules: an upload must also prove its body (X-Ell-Content-SHA256). */
  strict: boolean;
}

export interface StrictSignatures {
  /** `proxy.strict-signatures`: every bucket; otherwise buckets with BucketFlags.STRICT_SIGNATURES. */
  always: boolean;
  /** How far X-Ell-Date may be from now, in seconds. */
  skewSeconds: number;
}

const LAX: StrictSignatures = { always: false, skewSeconds: 0 };

/** Whether signed requests to `bucket` follow the strict rules. */
export function isStrict(bucket: BucketMeta, policy: StrictSignatures): boolean {
  return policy.always || (bucket.flags & BucketFlags.STRICT_SIGNATURES) !== 0n;
}

export function checkAccess(bucket: BucketMeta, caller: Caller, access: Access, request: SignedRequest, policy: StrictSignatures = LAX): AclDecision {
  const refuse = (reason: string): AclDecision => ({ allowed: false, reason, strict: false });
  if (bucket.acl.size === 0) return refuse(`bucket ${bucket.name} has an empty ACL`);
  const entry = bucket.acl.get(caller.user);
  if (!entry) return refuse(`user ${caller.user} is not in the ACL of ${bucket.name}`);
  if (access === 'write' && (entry.flags & AclFlags.WRITE) === 0n) {
    return refuse(`user ${caller.user} may not write to ${bucket.name} (acl flags 0x${entry.flags.toString(16)})`);
  }
  if (entry.flags & AclFlags.NO_TOKEN) return { allowed: true, reason: 'no signature needed', strict: false };
  if (!caller.signature || !signatureMatches(caller.signature, sign(entry.token, request))) {
    return refuse(`signature of user ${caller.user} does not match`);
  }
  if (!isStrict(bucket, policy)) return { allowed: true, reason: 'signature matches', strict: false };
  const problem = requestDateProblem(request.headers, policy.skewSeconds);
  if (problem) return refuse(`user ${caller.user}: ${problem}`);
  return { allowed: true, reason: 'signature matches, date within the window', strict: true };
}
