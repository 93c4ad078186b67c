// test/core/sandbox/kernel-process-exit-watch.test.ts — with pidfd_open the daemon gets a watch;
// without it (ENOSYS) none, and one warning says the sweep alone removes PID-adopted sandboxes.
import assert from 'node:assert/strict';
import { createMemoryLogger } from '../../../core/log.js';
import { createKernelProcessExitWatch } from '../../../core/sandbox/kernel-process-exit-watch.js';

describe('kernel process exit watch', () => {
  it('no pidfd_open: no watch, and the log says once that the sweep takes over', () => {
    const log = createMemoryLogger('debug');
    assert.equal(createKernelProcessExitWatch(log, () => false), undefined);
    const warns = log.lines.filter((l) => l.level === 'warn');
    assert.equal(warns.length, 1);
    assert.match(String(warns[0]!.msg), /pidfd_open is not available \(ENOSYS\).*background sweep only/);
  });

  it('with pidfd_open: a watch, nothing logged', async () => {
    const log = createMemoryLogger('debug');
    const w = createKernelProcessExitWatch(log, () => true);
    assert.ok(w);
    await w.close();
    assert.deepEqual(log.lines, []);
  });
});
