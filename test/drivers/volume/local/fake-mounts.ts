// test/drivers/volume/local/fake-mounts.ts — an in-memory mount table behind the Kernel facade,
// for unit tests of the driver's bookkeeping (the real kernel is exercised in integration/volume).

import type { Kernel, MountApi } from '../../../../core/kernel/index.js';
import { mountApi } from '../../../../core/kernel/index.js';
import { KernelError } from '../../../../core/kernel/kernel-error.js';
import { isMountPoint, mountsUnder, type MountInfo } from '../../../../core/kernel/mount.js';

export interface FakeMounts {
  kernel: Kernel;
  table: MountInfo[];
  calls: string[];
  /** Make the next mountWithOptions fail with this errno name. */
  failNextMount?: string;
}

export function createFakeMounts(filesystems = ['tmpfs', 'ext4', 'xfs', 'nfs', 'cifs', 'proc']): FakeMounts {
  const fake: FakeMounts = { table: [], calls: [], kernel: undefined as unknown as Kernel };
  let id = 100;
  const mounts: MountApi = {
    ...mountApi,
    mount: () => { throw new Error('fake: raw mount not expected'); },
    unmount: () => { throw new Error('fake: raw unmount not expected'); },
    mountWithOptions(type, device, target, o = '') {
      fake.calls.push(`mount ${type} ${device} ${target} ${o}`);
      if (fake.failNextMount) {
        const errno = fake.failNextMount === 'EINVAL' ? 22 : 19;
        fake.failNextMount = undefined;
        throw new KernelError(`mount ${type}`, target, errno);
      }
      fake.table.push({
        mountId: id++, parentId: 1, major: 0, minor: id, root: '/', mountPoint: target, mountOptions: ['rw'],
        optional: [], fsType: type, source: device, superOptions: o ? o.split(',') : [],
      });
    },
    unmountIfMounted(target) {
      fake.calls.push(`unmount ${target}`);
      for (let i = fake.table.length - 1; i >= 0; i--) {
        if (fake.table[i]!.mountPoint === target) {
          fake.table.splice(i, 1);
          return true;
        }
      }
      return false;
    },
    readMountInfo: () => fake.table.map((m) => ({ ...m })),
    isMountPoint: (p, table = fake.table) => isMountPoint(p, table),
    mountsUnder: (p, table = fake.table) => mountsUnder(p, table),
    supportedFilesystems: () => new Set(filesystems),
  };
  // The volume driver touches only ctx.kernel.mounts; other members would throw if used.
  fake.kernel = { mounts } as unknown as Kernel;
  return fake;
}
