// The Elliptics wire codec: every structure a client or a node puts on the wire.
export * from './constants.js';
export * from './codec-error.js';
export * from './time.js';
export * from './header.js';
export * from './io-attr.js';
export * from './addr.js';
export * from './containers.js';
export * from './file-info.js';
export * from './monitor-stat.js';
export * from './backend.js';
export * from './node-status.js';
export * from './auth.js';
export * from './key.js';
export * from './frame.js';
export * from './iterator.js';
export * from './location.js';
export * from './also-groups.js';
