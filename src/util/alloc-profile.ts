// Development aid: with BACKRUNNER_ALLOC_PROFILE=<dir>, a process samples every allocation site —
// objects already collected included, unlike --heap-prof — and writes <dir>/alloc-<pid>.heapprofile
// when it exits. With BACKRUNNER_ALLOC_PROFILE_PROMOTED=1 it samples only objects that outlived a
// scavenge (promoted to the old generation: the ones that make full collections frequent).
// It costs nothing when the variable is unset.

import inspector from 'node:inspector';
import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';

export function startAllocationProfile(): void {
  const dir = process.env.BACKRUNNER_ALLOC_PROFILE;
  if (!dir) return;
  const session = new inspector.Session();
  session.connect();
  session.post('HeapProfiler.enable');
  session.post('HeapProfiler.startSampling', { samplingInterval: 4096, includeObjectsCollectedByMajorGC: true, includeObjectsCollectedByMinorGC: process.env.BACKRUNNER_ALLOC_PROFILE_PROMOTED !== '1' } as object);
  process.once('exit', () => {
    session.post('HeapProfiler.stopSampling', (err, r) => {
      if (err) return;
      mkdirSync(dir, { recursive: true });
      writeFileSync(path.join(dir, `alloc-${process.pid}.heapprofile`), JSON.stringify((r as { profile: unknown }).profile));
    });
  });
}
