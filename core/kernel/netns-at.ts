// core/kernel/netns-at.ts — network namespaces pinned at any path (not only /run/netns/NAME):
// what tsd's sandboxes need (<execRoot>/netns/<id>). Create a new one with lo up, pin a running
// process's, check, unpin. All in-process (unshare + bind mount of the nsfs file), no spawned
// `unshare`/`nsenter`: creating a sandbox costs two syscalls and a mount, not two processes.
//
// Kept apart from netns.ts (owned by the netlink work) and built only on its public exports.

import fs from 'node:fs';
import { ConflictError, InvalidArgumentError, NotFoundError } from '../errors.js';
import { KernelError } from './kernel-error.js';
import { check, CLONE_NEWNET, errno, sys } from './libc.js';
import { MNT, MS } from './mount.js';
import { linksIn } from './netlink/index.js';
import { currentNetnsInode, hostNetns, openNetns, releaseNetns, type Netns } from './netns.js';

function claimFile(path: string): void {
  if (!path.startsWith('/')) throw new InvalidArgumentError(`netns path: ${JSON.stringify(path)} must be absolute`);
  try {
    fs.closeSync(fs.openSync(path, fs.constants.O_RDONLY | fs.constants.O_CREAT | fs.constants.O_EXCL, 0o444));
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'EEXIST') throw new ConflictError(`netns ${path}: File exists`);
    throw e;
  }
}

/**
 * Create a new, empty network namespace pinned at `path` (loopback up). Undo: removeNetnsAt.
 * Must be called from the host netns (not inside a withNetns window): the thread unshares, pins
 * its new namespace and setns()es back to the daemon's own.
 */
export interface CreateNetnsAtOptions {
  /**
   * New interfaces in the namespace start with IPv6 disabled (net.ipv6.conf.default.disable_ipv6)
   * until someone enables it per interface. For sandboxes: an IPv4-only endpoint's link-local
   * DAD/RS/MLD would be flooded to every port of its bridge. Set here, in the creation window,
   * because per-netns /proc/sys lookups get slower with every netns that exists (their dentries
   * share one hash chain), so the attach path should not pay one.
   */
  ipv6DisabledByDefault?: boolean;
}

export async function createNetnsAt(path: string, options: CreateNetnsAtOptions = {}): Promise<Netns> {
  const host = hostNetns();
  if (currentNetnsInode() !== host.inode) throw new InvalidArgumentError('createNetnsAt: called inside a withNetns window');
  claimFile(path);
  try {
    check(sys.unshare(CLONE_NEWNET), 'unshare netns', path);
    try {
      check(sys.mount('/proc/thread-self/ns/net', path, 'none', MS.BIND, null), 'bind mount netns', path);
      // /proc/sys/net shows the netns of the thread that opens the file: this thread, now.
      if (options.ipv6DisabledByDefault) fs.writeFileSync('/proc/sys/net/ipv6/conf/default/disable_ipv6', '1');
    } finally {
      if (sys.setns(host.fd, CLONE_NEWNET) === -1) {
        // Stranded in the new netns: every later socket would land there (netns.ts restore()).
        process.emitWarning(`fatal: ${new KernelError('setns (restore)', 'host netns', errno()).message}`);
        process.abort();
      }
    }
    const ns = openNetns({ path });
    // One netlink request through the netns' cached socket; the sandbox's attach reuses it.
    try {
      await linksIn(ns).setLink('lo', { up: true });
    } catch (e) {
      releaseNetns(ns);
      ns.close();
      throw e;
    }
    return ns;
  } catch (e) {
    sys.umount2(path, MNT.DETACH);
    fs.rmSync(path, { force: true });
    throw e;
  }
}

/** Pin the network namespace of process `pid` at `path`. Undo: removeNetnsAt. */
export function pinNetnsOfPid(pid: number, path: string): void {
  if (!Number.isInteger(pid) || pid <= 0) throw new InvalidArgumentError(`pid: ${pid} is not a process id`);
  const src = `/proc/${pid}/ns/net`;
  if (!fs.existsSync(src)) throw new NotFoundError(`pid ${pid}: no such process`);
  claimFile(path);
  try {
    check(sys.mount(src, path, 'none', MS.BIND, null), 'bind mount netns of pid', String(pid));
  } catch (e) {
    fs.rmSync(path, { force: true });
    throw e;
  }
}

/**
 * Release tsd's cached sockets in the namespace at `path`, unpin and delete the file.
 * Idempotent. The namespace dies once nothing else (process, fd, mount) holds it.
 */
export function removeNetnsAt(path: string): void {
  let ns: Netns | undefined;
  try {
    ns = openNetns({ path });
  } catch {
    ns = undefined; // gone, or a plain file left by a crash: just remove it
  }
  if (ns) {
    releaseNetns(ns);
    ns.close();
  }
  if (sys.umount2(path, MNT.DETACH) === -1) {
    const e = errno();
    if (e !== 22 /* EINVAL: not mounted */ && e !== 2 /* ENOENT */) throw new KernelError('unmount netns', path, e);
  }
  fs.rmSync(path, { force: true });
}

/** Whether `path` is a network namespace file (a pinned nsfs file or /proc/PID/ns/net). */
export function isNetnsAt(path: string): boolean {
  try {
    openNetns({ path }).close();
    return true;
  } catch {
    return false;
  }
}

let nsfsDev: number | undefined;

/**
 * The identity of the network namespace at `path` (a pinned nsfs file or /proc/PID/ns/net): its
 * nsfs inode, or undefined when `path` is missing or is not an nsfs file (a bind mount removed,
 * a process gone). One stat(2): no open, no setns, no netlink, so a periodic check of every
 * sandbox costs microseconds. (Every nsfs file shares one device, the one /proc/self/ns/net has.)
 */
export function netnsIdentityAt(path: string): string | undefined {
  nsfsDev ??= fs.statSync('/proc/self/ns/net').dev;
  const st = fs.statSync(path, { throwIfNoEntry: false });
  return st && st.dev === nsfsDev ? `net:[${st.ino}]` : undefined;
}
