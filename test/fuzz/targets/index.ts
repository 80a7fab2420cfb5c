// Every fuzz target, with its share of a run's budget.

import type { Target } from '../target.js';
import { bucketMetaTarget } from './bucket-meta.js';
import { clientRepliesTarget } from './client-replies.js';
import { configTarget } from './config.js';
import { httpDirectTarget, httpNginxTarget } from './http.js';
import { ipcTarget } from './ipc.js';
import { nodeFramesTarget } from './node-frames.js';

export const TARGETS: (Target & { weight: number })[] = [
  { ...configTarget, weight: 1 },
  { ...bucketMetaTarget, weight: 1 },
  { ...ipcTarget, weight: 1 },
  { ...nodeFramesTarget, weight: 3 },
  { ...clientRepliesTarget, weight: 2 },
  { ...httpDirectTarget, weight: 2 },
  { ...httpNginxTarget, weight: 2 },
];
