// core/kernel/index.ts — the kernel facade handed to drivers through DriverContext. Each member
// is owned by one module of core/kernel (mounts: mount.ts; links/netns/firewall/sysctl as they
// land). Drivers see only these domain-level operations, never netlink attributes or nft syntax.

import {
  bindMount,
  isMountPoint,
  mount,
  mountOverlay,
  mountOverlayFrom,
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
import { copyTree, getXattr, listXattrs, mknod, readXattrs, removeXattr, setXattr, splitDev } from './files.js';
import type { Firewall } from './firewall/firewall.js';
import { linksIn, type Links } from './netlink/index.js';
import * as netnsModule from './netns.js';
import { sysctlApi, type SysctlApi } from './sysctl.js';

export const mountApi = {
  mount,
  unmount,
  unmountIfMounted,
  mountOverlay,
  mountOverlayFrom,
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

export const filesApi = { mknod, setXattr, getXattr, listXattrs, readXattrs, removeXattr, copyTree, splitDev };
export type FilesApi = typeof filesApi;

export const netnsApi = {
  create: netnsModule.createNetns,
  open: netnsModule.openNetns,
  delete: netnsModule.deleteNetns,
  exists: netnsModule.netnsExists,
  list: netnsModule.listNetns,
  host: netnsModule.hostNetns,
  release: netnsModule.releaseNetns,
  withNetns: netnsModule.withNetns,
  bindSocket: netnsModule.bindSocketInNetns,
  boundPort: netnsModule.boundPort,
};
export type NetnsApi = typeof netnsApi;
export type { Netns } from './netns.js';
export type { Links } from './netlink/index.js';

export interface Kernel {
  mounts: MountApi;
  /** Device nodes, xattrs, tree copies (graph drivers). */
  files: FilesApi;
  /** Links, addresses, routes, neighbours, FDB of the daemon's own netns (netlink/index.ts). */
  links: Links;
  /** The same operations inside another netns (socket cached per netns). */
  linksIn(ns: netnsModule.Netns): Links;
  /** Named namespaces (ip netns compatible), sync windows, sockets bound inside (netns.ts). */
  netns: NetnsApi;
  /** /proc/sys per netns (sysctl.ts). */
  sysctl: SysctlApi;
  /** Chosen once by createFirewall() (firewall/select.ts); absent when tsd runs without one. */
  firewall?: Firewall;
}

export function createKernel(opts: { firewall?: Firewall } = {}): Kernel {
  return {
    mounts: mountApi,
    files: filesApi,
    links: linksIn(),
    linksIn,
    netns: netnsApi,
    sysctl: sysctlApi,
    ...(opts.firewall ? { firewall: opts.firewall } : {}),
  };
}
