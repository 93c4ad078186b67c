// core/kernel/files.ts — file-system metadata the Node fs module cannot reach: device nodes
// (mknod), extended attributes (l*xattr, never following symlinks), and whole-tree copies that
// keep xattrs, owners, hardlinks and sparse files (cp -a with reflink where the fs supports it).
//
// All calls are synchronous syscalls on the calling thread: the graph drivers' tar apply/export
// loops call them per entry and a thread hop would cost more than the call.

import { runCommand } from './exec.js';
import { check, errno, sys } from './libc.js';
import { KernelError } from './kernel-error.js';

const S_IFCHR = 0o020000;
const S_IFBLK = 0o060000;
const S_IFIFO = 0o010000;

export type DeviceKind = 'char' | 'block' | 'fifo';

/** makedev(3) for the 64-bit dev_t glibc uses. */
export function makedev(major: number, minor: number): bigint {
  const ma = BigInt(major >>> 0);
  const mi = BigInt(minor >>> 0);
  return ((ma & 0xfffff000n) << 32n) | ((ma & 0xfffn) << 8n) | ((mi & 0xffffff00n) << 12n) | (mi & 0xffn);
}

/** major/minor of a dev_t as Node's fs.Stats.rdev reports it. */
export function splitDev(dev: number | bigint): { major: number; minor: number } {
  const d = BigInt(dev);
  const major = Number(((d >> 32n) & 0xfffff000n) | ((d >> 8n) & 0xfffn));
  const minor = Number(((d >> 12n) & 0xffffff00n) | (d & 0xffn));
  return { major, minor };
}

/** mknod(2): a character/block device or a fifo; `perm` are the permission bits only. */
export function mknod(path: string, kind: DeviceKind, perm: number, major = 0, minor = 0): void {
  const type = kind === 'char' ? S_IFCHR : kind === 'block' ? S_IFBLK : S_IFIFO;
  check(sys.mknod(path, type | (perm & 0o7777), makedev(major, minor)), 'mknod', path);
}

export function setXattr(path: string, name: string, value: Buffer): void {
  check(sys.lsetxattr(path, name, value, value.length, 0), `set xattr ${name} on`, path);
}

export function removeXattr(path: string, name: string): void {
  check(sys.lremovexattr(path, name), `remove xattr ${name} from`, path);
}

const ENODATA = 61;
const ENOTSUP = 95;
const ERANGE = 34;
let scratch = Buffer.allocUnsafe(4096);

/** The value of one xattr, or undefined when the file has none of that name. */
export function getXattr(path: string, name: string): Buffer | undefined {
  for (;;) {
    const n = Number(sys.lgetxattr(path, name, scratch, scratch.length));
    if (n >= 0) return Buffer.from(scratch.subarray(0, n));
    const e = errno();
    if (e === ENODATA || e === ENOTSUP) return undefined;
    if (e === ERANGE && scratch.length < 1 << 20) { scratch = Buffer.allocUnsafe(scratch.length * 4); continue; }
    throw new KernelError(`get xattr ${name} of`, path, e);
  }
}

/** Names of every xattr of `path` (symlinks themselves, not their targets). */
export function listXattrs(path: string): string[] {
  for (;;) {
    const n = Number(sys.llistxattr(path, scratch, scratch.length));
    if (n === 0) return [];
    if (n > 0) return scratch.toString('latin1', 0, n - 1).split('\0');
    const e = errno();
    if (e === ENOTSUP) return [];
    if (e === ERANGE && scratch.length < 1 << 20) { scratch = Buffer.allocUnsafe(scratch.length * 4); continue; }
    throw new KernelError('list xattrs of', path, e);
  }
}

/** All xattrs of `path` as name → value. */
export function readXattrs(path: string): Map<string, Buffer> {
  const out = new Map<string, Buffer>();
  for (const name of listXattrs(path)) {
    const v = getXattr(path, name);
    if (v) out.set(name, v);
  }
  return out;
}

/**
 * Copy the tree `src` into the (absent or empty) directory `dst`, keeping modes, owners, mtimes,
 * xattrs (trusted.* as root), hardlinks, device nodes and holes; reflinks where the fs can.
 */
export async function copyTree(src: string, dst: string): Promise<void> {
  const r = await runCommand('cp', ['-a', '--reflink=auto', '--sparse=always', '--no-target-directory', '--', src, dst]);
  if (r.exitCode !== 0) throw new KernelError('copy tree', `${src} → ${dst}`, 5, (r.stderr.trim() || r.message));
}
