// piscina worker thread: digests of request bodies too big to hash on a worker's event loop.

import { digest } from '../src/util/hash-task.js';

export default digest;
