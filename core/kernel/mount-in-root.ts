// core/kernel/mount-in-root.ts — bind mounts inside a container root that cannot be steered out
// of it (runc's securejoin + /proc/self/fd trick): the target's directories are walked one
// component at a time from a directory fd, each opened O_NOFOLLOW|O_DIRECTORY (a symlink → ELOOP,
// a file → ENOTDIR), missing ones made under the fd they hang from; the mount then goes onto
// /proc/self/fd/<fd>, i.e. exactly the directory that was checked, whatever is renamed meanwhile.

import fs from 'node:fs';
import path from 'node:path';
import { ForbiddenError, InvalidArgumentError } from '../errors.js';
import { KernelError } from './kernel-error.js';
import { MNT, MS, UMOUNT_NOFOLLOW, bindMount, mount, readMountInfo, unmountIfMounted } from './mount.js';

const { O_RDONLY, O_DIRECTORY, O_NOFOLLOW } = fs.constants;
const DIR_FLAGS = O_RDONLY | O_DIRECTORY | O_NOFOLLOW;

/** "/data/x" → ["data", "x"]; refuses relative paths, "..", "." and the root itself. */
export function targetComponents(target: string): string[] {
  if (!target.startsWith('/')) throw new InvalidArgumentError(`mount path ${JSON.stringify(target)}: must be absolute`);
  const parts = target.split('/').filter((p) => p !== '');
  if (parts.some((p) => p === '..' || p === '.')) throw new InvalidArgumentError(`mount path ${JSON.stringify(target)}: must not contain "." or ".."`);
  if (parts.length === 0) throw new InvalidArgumentError(`mount path ${JSON.stringify(target)}: cannot mount over the root`);
  if (parts.some((p) => p.includes('\0'))) throw new InvalidArgumentError(`mount path ${JSON.stringify(target)}: contains a NUL byte`);
  return parts;
}

/** The host path of `target` inside `root` (lexically; for unmount and inspect). */
export function pathInRoot(root: string, target: string): string {
  return path.join(root, ...targetComponents(target));
}

function openDirIn(parentFd: number, name: string, target: string): number {
  const at = `/proc/self/fd/${parentFd}/${name}`;
  try {
    fs.mkdirSync(at, { mode: 0o755 });
  } catch (e) {
    const err = e as NodeJS.ErrnoException;
    if (err.code !== 'EEXIST') throw new KernelError('mkdir', `${target} (${name})`, Math.abs(err.errno ?? 5));
  }
  try {
    return fs.openSync(at, DIR_FLAGS);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    // O_DIRECTORY|O_NOFOLLOW on a symlink says ENOTDIR (or ELOOP): tell the two cases apart.
    let link = code === 'ELOOP';
    try { link ||= fs.lstatSync(at).isSymbolicLink(); } catch { /* gone: report the open error */ }
    if (link) throw new ForbiddenError(`mount path ${target}: ${name} is a symbolic link; refusing to follow it out of the root`);
    if (code === 'ENOTDIR') throw new InvalidArgumentError(`mount path ${target}: ${name} exists and is not a directory`);
    throw e;
  }
}

/**
 * Bind `source` (a host directory) at `target` inside `root`, read-only when asked. Directories on
 * the way are created (0755, root-owned). Returns the mount point's host path.
 */
export function bindMountInRoot(source: string, root: string, target: string, opts: { readonly?: boolean } = {}): string {
  const parts = targetComponents(target);
  const hostPath = path.join(root, ...parts);
  const fds: number[] = [];
  try {
    fds.push(fs.openSync(root, DIR_FLAGS));
    for (const p of parts) fds.push(openDirIn(fds.at(-1)!, p, target));
    const fdPath = `/proc/self/fd/${fds.at(-1)!}`;
    bindMount(source, fdPath);
    // The new mount, reached from the parent's fd (a lookup crosses onto it; the old fd does not).
    fds.push(fs.openSync(`/proc/self/fd/${fds.at(-2)!}/${parts.at(-1)!}`, DIR_FLAGS));
    const mounted = `/proc/self/fd/${fds.at(-1)!}`;
    try {
      // The fd was the checked directory; if the lexical path no longer names it, refuse.
      if (!readMountInfo().some((m) => m.mountPoint === hostPath)) {
        throw new ForbiddenError(`mount path ${target}: the directory moved while it was being mounted`);
      }
      // A read-only bind takes a second call (the kernel ignores MS_RDONLY on the first).
      if (opts.readonly) mount('', mounted, null, MS.BIND | MS.REMOUNT | MS.RDONLY);
    } catch (e) {
      unmountIfMounted(mounted, MNT.DETACH);
      throw e;
    }
  } finally {
    for (const fd of fds) fs.closeSync(fd);
  }
  return hostPath;
}

/** Idempotent: a path that is not a mount point (or is gone) is fine. Never follows a symlink. */
export function unmountInRoot(hostPath: string): boolean {
  return unmountIfMounted(hostPath, MNT.DETACH | UMOUNT_NOFOLLOW);
}
