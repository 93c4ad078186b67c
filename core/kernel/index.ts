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
  mountsUnder,
  parseMountOptions,
  readMountInfo,
  setPropagation,
  unmount,
  unmountIfMounted,
} from './mount.js';
import { copyTree, getXattr, listXattrs, mknod, readXattrs, removeXattr, setXattr, splitDev } from './files.js';

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
};
export type MountApi = typeof mountApi;

export const filesApi = { mknod, setXattr, getXattr, listXattrs, readXattrs, removeXattr, copyTree, splitDev };
export type FilesApi = typeof filesApi;

export interface Kernel {
  mounts: MountApi;
  /** Device nodes, xattrs, tree copies (graph drivers). */
  files: FilesApi;
}

export function createKernel(): Kernel {
  return { mounts: mountApi, files: filesApi };
}
