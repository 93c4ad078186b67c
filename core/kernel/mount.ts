// core/kernel/mount.ts — mounts: mount(2)/umount2(2) through koffi with typed flags, overlay,
// bind, tmpfs and propagation helpers, and a parser for /proc/self/mountinfo.
//
// Mount calls are synchronous syscalls on the calling thread (the main thread, which is in the
// daemon's own mount namespace). Overlay option strings longer than a page fail with EINVAL in
// the kernel; callers that build long lowerdir chains (overlay2) shorten them first.

import fs from 'node:fs';
import { runCommand } from './exec.js';
import { check, sys } from './libc.js';
import { InvalidArgumentError } from '../errors.js';
import { KernelError } from './kernel-error.js';

export const MS = {
  RDONLY: 0x1,
  NOSUID: 0x2,
  NODEV: 0x4,
  NOEXEC: 0x8,
  SYNCHRONOUS: 0x10,
  REMOUNT: 0x20,
  MANDLOCK: 0x40,
  DIRSYNC: 0x80,
  NOSYMFOLLOW: 0x100,
  NOATIME: 0x400,
  NODIRATIME: 0x800,
  BIND: 0x1000,
  MOVE: 0x2000,
  REC: 0x4000,
  SILENT: 0x8000,
  UNBINDABLE: 1 << 17,
  PRIVATE: 1 << 18,
  SLAVE: 1 << 19,
  SHARED: 1 << 20,
  RELATIME: 1 << 21,
  STRICTATIME: 1 << 24,
  LAZYTIME: 1 << 25,
} as const;

export const MNT = { FORCE: 1, DETACH: 2, EXPIRE: 4 } as const;
export const UMOUNT_NOFOLLOW = 8;

/** Flag words accepted in `-o` style option strings and their MS_* values (true = set, false = clear). */
const flagWords: Record<string, [number, boolean]> = {
  ro: [MS.RDONLY, true], rw: [MS.RDONLY, false],
  nosuid: [MS.NOSUID, true], suid: [MS.NOSUID, false],
  nodev: [MS.NODEV, true], dev: [MS.NODEV, false],
  noexec: [MS.NOEXEC, true], exec: [MS.NOEXEC, false],
  sync: [MS.SYNCHRONOUS, true], async: [MS.SYNCHRONOUS, false],
  dirsync: [MS.DIRSYNC, true],
  noatime: [MS.NOATIME, true], atime: [MS.NOATIME, false],
  nodiratime: [MS.NODIRATIME, true], diratime: [MS.NODIRATIME, false],
  relatime: [MS.RELATIME, true], norelatime: [MS.RELATIME, false],
  strictatime: [MS.STRICTATIME, true],
  lazytime: [MS.LAZYTIME, true],
  nosymfollow: [MS.NOSYMFOLLOW, true],
  bind: [MS.BIND, true], rbind: [MS.BIND | MS.REC, true],
  remount: [MS.REMOUNT, true],
  private: [MS.PRIVATE, true], rprivate: [MS.PRIVATE | MS.REC, true],
  shared: [MS.SHARED, true], rshared: [MS.SHARED | MS.REC, true],
  slave: [MS.SLAVE, true], rslave: [MS.SLAVE | MS.REC, true],
  unbindable: [MS.UNBINDABLE, true], runbindable: [MS.UNBINDABLE | MS.REC, true],
};

/**
 * Split a comma-separated option string (`o=` of `mount -o`) into MS_* flags and the data string
 * passed to the filesystem, as mount(8) does.
 */
export function parseMountOptions(options: string): { flags: number; data: string } {
  let flags = 0;
  const data: string[] = [];
  for (const raw of options.split(',')) {
    const opt = raw.trim();
    if (!opt || opt === 'defaults') continue;
    const f = flagWords[opt];
    if (f) {
      if (f[1]) flags |= f[0];
      else flags &= ~f[0];
    } else {
      data.push(opt);
    }
  }
  return { flags, data: data.join(',') };
}

export function mount(source: string, target: string, fstype: string | null, flags: number, data: string | null = null): void {
  if (data && Buffer.byteLength(data) >= 4096) {
    throw new InvalidArgumentError(`mount ${target}: option string is ${Buffer.byteLength(data)} bytes, the kernel accepts at most 4095`);
  }
  check(sys.mount(source, target, fstype, flags, data), `mount ${fstype ?? 'bind'}`, target);
}

export function unmount(target: string, flags = 0): void {
  check(sys.umount2(target, flags), 'unmount', target);
}

/** Unmount, treating "not mounted" / "no such path" as success (idempotent teardown). */
export function unmountIfMounted(target: string, flags: number = MNT.DETACH): boolean {
  const rc = sys.umount2(target, flags);
  if (rc === 0) return true;
  try {
    check(rc, 'unmount', target);
  } catch (e) {
    const name = (e as { errnoName?: string }).errnoName;
    if (name === 'EINVAL' || name === 'ENOENT') return false;
    throw e;
  }
  return false;
}

export interface OverlayMountOptions {
  lowerdirs: readonly string[];
  upperdir?: string;
  workdir?: string;
  extra?: readonly string[];
}

export function overlayOptionString(o: OverlayMountOptions): string {
  const parts = [...(o.extra ?? []), `lowerdir=${o.lowerdirs.join(':')}`];
  if (o.upperdir) parts.push(`upperdir=${o.upperdir}`);
  if (o.workdir) parts.push(`workdir=${o.workdir}`);
  return parts.join(',');
}

export function mountOverlay(target: string, o: OverlayMountOptions, flags = 0): void {
  if (o.lowerdirs.length === 0) throw new InvalidArgumentError(`mount overlay ${target}: no lower directories`);
  if (!!o.upperdir !== !!o.workdir) throw new InvalidArgumentError(`mount overlay ${target}: upperdir and workdir go together`);
  mount('overlay', target, 'overlay', flags, overlayOptionString(o));
}

/**
 * Mount overlay with lower/upper/work paths relative to `dir` (moby's mountFrom): a child
 * `mount(8)` process runs with `dir` as its working directory, because chdir is process-wide in
 * Node. Used when absolute paths would make the option string longer than a page.
 */
export async function mountOverlayFrom(dir: string, target: string, o: OverlayMountOptions, readonly = false): Promise<void> {
  if (o.lowerdirs.length === 0) throw new InvalidArgumentError(`mount overlay ${target}: no lower directories`);
  const data = overlayOptionString(o);
  if (Buffer.byteLength(data) >= 4096) {
    throw new InvalidArgumentError(`mount overlay ${target}: option string is ${Buffer.byteLength(data)} bytes even with paths relative to ${dir}`);
  }
  const args = ['-n', '-i', '-t', 'overlay', '-o', readonly ? `ro,${data}` : data, 'overlay', target];
  const r = await runCommand('mount', args, { cwd: dir });
  if (r.exitCode !== 0) throw new KernelError('mount overlay', target, 5, (r.stderr.trim() || r.message));
}

export function bindMount(source: string, target: string, opts: { recursive?: boolean; readonly?: boolean } = {}): void {
  mount(source, target, null, MS.BIND | (opts.recursive ? MS.REC : 0));
  if (opts.readonly) {
    // A read-only bind takes a second remount call (the kernel ignores MS_RDONLY on the first).
    mount('', target, null, MS.BIND | MS.REMOUNT | MS.RDONLY | (opts.recursive ? MS.REC : 0));
  }
}

export function mountTmpfs(target: string, options = ''): void {
  const { flags, data } = parseMountOptions(options);
  mount('tmpfs', target, 'tmpfs', flags, data || null);
}

export type Propagation = 'private' | 'shared' | 'slave' | 'unbindable';

export function setPropagation(target: string, p: Propagation, recursive = true): void {
  const f = { private: MS.PRIVATE, shared: MS.SHARED, slave: MS.SLAVE, unbindable: MS.UNBINDABLE }[p];
  mount('', target, null, f | (recursive ? MS.REC : 0));
}

export interface MountInfo {
  mountId: number;
  parentId: number;
  major: number;
  minor: number;
  /** Path within the filesystem that forms the root of this mount. */
  root: string;
  mountPoint: string;
  mountOptions: string[];
  /** Optional fields, e.g. ["shared:1", "master:2"]. */
  optional: string[];
  fsType: string;
  source: string;
  superOptions: string[];
}

/** Undo mountinfo's octal escapes (\040 space, \011 tab, \012 newline, \134 backslash). */
function unescapeMountField(s: string): string {
  return s.replace(/\\([0-7]{3})/g, (_, o: string) => String.fromCharCode(parseInt(o, 8)));
}

/** Parse the text of /proc/<pid>/mountinfo (proc(5)). */
export function parseMountInfo(text: string): MountInfo[] {
  const out: MountInfo[] = [];
  for (const line of text.split('\n')) {
    if (!line) continue;
    const sep = line.indexOf(' - ');
    if (sep < 0) continue;
    const left = line.slice(0, sep).split(' ');
    const right = line.slice(sep + 3).split(' ');
    const [mountId, parentId, majmin, root, mountPoint, opts, ...optional] = left;
    const [fsType, source, superOpts] = right;
    if (!mountId || !parentId || !majmin || root === undefined || mountPoint === undefined || opts === undefined) continue;
    const [maj, min] = majmin.split(':');
    out.push({
      mountId: Number(mountId),
      parentId: Number(parentId),
      major: Number(maj),
      minor: Number(min),
      root: unescapeMountField(root),
      mountPoint: unescapeMountField(mountPoint),
      mountOptions: opts.split(','),
      optional: optional.filter(Boolean),
      fsType: fsType ?? '',
      source: unescapeMountField(source ?? ''),
      superOptions: (superOpts ?? '').split(',').filter(Boolean),
    });
  }
  return out;
}

export function readMountInfo(pid: number | 'self' = 'self'): MountInfo[] {
  return parseMountInfo(fs.readFileSync(`/proc/${pid}/mountinfo`, 'utf8'));
}

export function isMountPoint(path: string, table: readonly MountInfo[] = readMountInfo()): boolean {
  return table.some((m) => m.mountPoint === path);
}

/** Mounts at or below `prefix`, deepest first (the order to unmount them in). */
export function mountsUnder(prefix: string, table: readonly MountInfo[] = readMountInfo()): MountInfo[] {
  const p = prefix.endsWith('/') ? prefix : prefix + '/';
  return table
    .filter((m) => m.mountPoint === prefix || m.mountPoint.startsWith(p))
    .sort((a, b) => b.mountPoint.length - a.mountPoint.length);
}

const PROPAGATION_WORDS = new Set(['private', 'rprivate', 'shared', 'rshared', 'slave', 'rslave', 'unbindable', 'runbindable']);

/**
 * Mount like `mount -t TYPE -o O DEVICE TARGET`: `o` is split into MS_* flags and filesystem data
 * with parseMountOptions. A bind (`o` has bind/rbind) ignores `type` and data, and applies
 * read-only/nosuid/… with the second remount call the kernel needs. Propagation words
 * (shared, rprivate, …) each take their own call after the mount, as mount(8) does. If a later
 * call fails, the mount made by the first one is undone before the error is thrown.
 */
export function mountWithOptions(type: string, device: string, target: string, o = ''): void {
  const words = o.split(',').map((w) => w.trim()).filter(Boolean);
  const propagation = words.filter((w) => PROPAGATION_WORDS.has(w)).map((w) => parseMountOptions(w).flags);
  const { flags, data } = parseMountOptions(words.filter((w) => !PROPAGATION_WORDS.has(w)).join(','));
  const isBind = (flags & MS.BIND) !== 0;
  if (isBind) {
    mount(device, target, null, MS.BIND | (flags & MS.REC));
  } else {
    mount(device, target, type, flags & ~MS.REC, data || null);
  }
  try {
    const remountFlags = flags & ~(MS.BIND | MS.REC);
    if (isBind && remountFlags) mount('', target, null, MS.BIND | MS.REMOUNT | remountFlags);
    for (const p of propagation) mount('', target, null, p);
  } catch (e) {
    unmountIfMounted(target);
    throw e;
  }
}

/**
 * Filesystem types this kernel can mount: /proc/filesystems, plus filesystem modules that the
 * kernel would load on demand (/lib/modules/<release>/kernel/fs, when present).
 */
export function supportedFilesystems(): Set<string> {
  const out = new Set<string>();
  for (const line of fs.readFileSync('/proc/filesystems', 'utf8').split('\n')) {
    const name = line.split('\t').pop()?.trim();
    if (name) out.add(name);
  }
  try {
    const release = fs.readFileSync('/proc/sys/kernel/osrelease', 'utf8').trim();
    const dir = `/lib/modules/${release}/kernel/fs`;
    for (const e of fs.readdirSync(dir, { withFileTypes: true, recursive: true })) {
      const m = /^([a-z0-9_]+)\.ko(\.(xz|gz|zst))?$/.exec(e.name);
      if (e.isFile() && m?.[1]) out.add(m[1]);
    }
  } catch {
    // No module tree (built-in kernel or container): /proc/filesystems is the whole answer.
  }
  return out;
}
