// Every fuzz target, with its share of a run's budget.

import type { Target } from '../target.js';
import { bucketMetaTarget } from './bucket-meta.js';
import { configTarget } from './config.js';
import { ipcTarget } from './ipc.js';

export const TARGETS: (Target & { weight: number })[] = [
  { ...configTarget, weight: 1 },
  { ...bucketMetaTarget, weight: 1 },
  { ...ipcTarget, weight: 1 },
];
