// core/sandbox/kernel-process-exit-watch.ts — ProcessExitWatch on the kernel's pidfds
// (core/kernel/pidfd.ts): one epoll thread for every watched process. Where the kernel has no
// pidfd_open (ENOSYS, before Linux 5.3) there is none: PID-adopted sandboxes are then removed by
// the background sweep alone, which is said once in the log.

import type { Logger } from '../log.js';
import { createPidfdWatch, pidfdSupported } from '../kernel/pidfd.js';
import type { ProcessExitWatch } from '../service/hooks.js';

/** `supported`: the probe (the kernel's pidfd_open; replaced in tests). */
export function createKernelProcessExitWatch(log: Logger, supported: () => boolean = pidfdSupported): ProcessExitWatch | undefined {
  if (!supported()) {
    log.warn('pidfd_open is not available (ENOSYS): sandboxes adopted by PID are removed by the background sweep only, not at their process exit');
    return undefined;
  }
  return createPidfdWatch({ onError: (e) => log.error('pidfd watch failed; the background sweep still removes vanished sandboxes', { err: e }) });
}
