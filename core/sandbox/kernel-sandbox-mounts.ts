// core/sandbox/kernel-sandbox-mounts.ts — SandboxMounts on the kernel layer: volumes bound into a
// sandbox's root (core/kernel/mount-in-root.ts), errors prefixed with the mount they concern.

import { withContext } from '../errors.js';
import { isMountPoint } from '../kernel/mount.js';
import { bindMountInRoot, unmountInRoot } from '../kernel/mount-in-root.js';
import type { SandboxMounts } from '../service/hooks.js';

export function createKernelSandboxMounts(): SandboxMounts {
  return {
    async bindInRoot(source, root, target, readonly) {
      try {
        return bindMountInRoot(source, root, target, { readonly });
      } catch (e) {
        throw withContext(`mount ${source} at ${target}`, e);
      }
    },
    async unmount(hostPath) {
      unmountInRoot(hostPath);
    },
    async isMountPoint(hostPath) {
      return isMountPoint(hostPath);
    },
  };
}
