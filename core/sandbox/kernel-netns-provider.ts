// core/sandbox/kernel-netns-provider.ts — NetnsProvider on the kernel layer: sandboxes' network
// namespaces pinned at a path tsd chooses, created in-process (core/kernel/netns-at.ts), with
// IPv6 off by default for new interfaces (SandboxNetworking turns it on for IPv6 endpoints).

import { withContext } from '../errors.js';
import { createNetnsAt, isNetnsAt, netnsIdentityAt, pinNetnsOfPid, removeNetnsAt } from '../kernel/netns-at.js';
import type { NetnsProvider } from '../service/hooks.js';

export function createKernelNetnsProvider(): NetnsProvider {
  return {
    async create(path) {
      try {
        (await createNetnsAt(path, { ipv6DisabledByDefault: true })).close();
      } catch (e) {
        throw withContext(`create netns ${path}`, e);
      }
    },
    async pinPid(pid, path) {
      try {
        pinNetnsOfPid(pid, path);
      } catch (e) {
        throw withContext(`pin netns of pid ${pid} at ${path}`, e);
      }
    },
    async remove(path) {
      removeNetnsAt(path);
    },
    async isNetns(path) {
      return isNetnsAt(path);
    },
    async identity(path) {
      return netnsIdentityAt(path);
    },
  };
}
