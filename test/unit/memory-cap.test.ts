// bench's --page-cache-cap on this machine's real cgroups: a process put in the cap writes far more
// than the cap to a file, and the cgroup never holds more than the cap — the kernel reclaims the
// file's pages within it, which is what makes a capped bench write into recycled pages.

import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { MemoryCap } from '../../bench/lib/memory-cap.js';

const MIB = 1024 * 1024;

function capOrReason(): MemoryCap | string {
  if (process.getuid?.() !== 0) return 'needs root to create a cgroup';
  try {
    return MemoryCap.create(`backrunner-test-${process.pid}`, 64);
  } catch (err) {
    return (err as Error).message;
  }
}

describe('MemoryCap', () => {
  it('keeps what a process in it writes to a file within the cap, and names the cgroup in /proc', async (t) => {
    const cap = capOrReason();
    if (typeof cap === 'string') return t.skip(cap);
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'memory-cap-'));
    try {
      // The child waits for a line on stdin, so that it is in the cap before it writes a byte.
      const child = spawn('sh', ['-c', `read go; dd if=/dev/zero of=${dir}/f bs=1M count=256 status=none; cat /proc/self/cgroup`], { stdio: ['pipe', 'pipe', 'inherit'] });
      let out = '';
      child.stdout.on('data', (c: Buffer) => (out += c));
      cap.add(child.pid!);
      child.stdin.end('go\n');
      const code = await new Promise<number | null>((resolve) => child.once('exit', resolve));
      assert.equal(code, 0);
      assert.equal(fs.statSync(path.join(dir, 'f')).size, 256 * MIB);
      assert.match(out, new RegExp(`backrunner-test-${process.pid}`));
      const peak = cap.peakBytes();
      assert.ok(peak > 16 * MIB, `the cgroup was charged for the file's pages (peak ${peak} bytes)`);
      assert.ok(peak <= 64 * MIB, `peak ${peak} bytes within the 64 MiB cap`);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
      cap.remove();
    }
  });

  it('refuses a cap too small to hold a node', () => {
    process.argv.push('--page-cache-cap', '16');
    try {
      assert.throws(() => MemoryCap.fromArgs('bench/x'), /at least 64/);
    } finally {
      process.argv.splice(-2, 2);
    }
  });
});
