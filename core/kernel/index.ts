// core/kernel/index.ts — the kernel facade handed to drivers through DriverContext. Each member
// is owned by one module of core/kernel (mounts: mount.ts; links/netns/firewall/sysctl as they
// land). Drivers see only these domain-level operations, never netlink attributes or nft syntax.

import {
  bindMount,
  isMountPoint,
  mount,
  mountOverlay,
  mountTmpfs,
  mountWithOptions,
  mountsUnder,
  parseMountOptions,
  readMountInfo,
  setPropagation,
  supportedFilesystems,
  unmount,
  unmountIfMounted,
} from './mount.js';
import type { Firewall } from './firewall/firewall.js';

export const mountApi = {
  mount,
  unmount,
  unmountIfMounted,
  mountOverlay,
  bindMount,
  mountTmpfs,
  setPropagation,
  parseMountOptions,
  readMountInfo,
  isMountPoint,
  mountsUnder,
  mountWithOptions,
  supportedFilesystems,
};
export type MountApi = typeof mountApi;

export interface Kernel {
  mounts: MountApi;
  /** Chosen once by createFirewall() (firewall/select.ts); absent when tsd runs without one. */
  firewall?: Firewall;
}

export function createKernel(opts: { firewall?: Firewall } = {}): Kernel {
  return { mounts: mountApi, ...(opts.firewall ? { firewall: opts.firewall } : {}) };
}
