// What a forked storage node and its parent (the proxy's primary, a test, a benchmark) say to each
// other over IPC.

/** Node → parent. */
export type NodeToParent = { type: 'ready'; address: string; port: number } | { type: 'fatal'; error: string };

/** Parent → node. */
export type ParentToNode = { type: 'stop' };

/**
 * Set by the proxy's primary for its embedded node: the node stops when the primary says so (or
 * goes away), not on a SIGTERM sent to the whole process group — storage must outlive the
 * workers' draining of requests in flight.
 */
export const MANAGED_NODE_ENV = 'BACKRUNNER_MANAGED_NODE';
