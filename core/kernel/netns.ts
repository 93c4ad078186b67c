// core/kernel/netns.ts — network namespaces: create/open/delete named namespaces the way
// `ip netns` does (a bind mount of the nsfs file at /run/netns/NAME), open by path or PID, run a
// *synchronous* function inside one (`withNetns`), and bind UDP/TCP sockets inside one so a single
// event loop can serve every sandbox (the DNS server's 127.0.0.11:53).
//
// Why a synchronous window on the calling thread and not a worker: setns(CLONE_NEWNET) is
// per-thread, and any socket(2) made while the thread is inside stays in that netns for its whole
// life. So we enter, create the fds we need, and leave before returning to the event loop. Never
// await inside `withNetns`: other callbacks would run in the wrong namespace. libuv's threadpool
// (async fs, dns.lookup) never follows a setns, so only sync calls are meaningful inside.
//
// Lifetime: a `Netns` holds an open fd on the nsfs file; the namespace lives while any fd, mount,
// process or socket refers to it. `deleteNetns` unmounts and unlinks the name and tells the
// netlink socket cache to close its socket there (see `onNetnsRelease`); close your own handles.

import fs from 'node:fs';
import path from 'node:path';
import { ConflictError, InvalidArgumentError, NotFoundError } from '../errors.js';
import { KernelError } from './kernel-error.js';
import { AF_INET, AF_INET6, sockaddr } from './inet.js';
import { check, CLONE_NEWNET, errno, sys, SOCK_CLOEXEC, SOCK_DGRAM, SOCK_NONBLOCK, SOCK_STREAM } from './libc.js';
import { MNT, MS } from './mount.js';

/** Where `ip netns` keeps named namespaces. */
export const NETNS_RUN_DIR = '/run/netns';

/** An open handle on a network namespace. Equal `inode` means the same namespace. */
export interface Netns {
  /** The `ip netns` name when opened by name (or created), else undefined. */
  readonly name: string | undefined;
  /** The path the handle was opened from (/run/netns/NAME, /proc/PID/ns/net, …). */
  readonly path: string;
  /** O_RDONLY|O_CLOEXEC fd on the nsfs file; valid until close(). Used for setns and IFLA_NET_NS_FD. */
  readonly fd: number;
  /** nsfs inode number: the namespace's identity (as in "net:[4026531840]"). */
  readonly inode: number;
  /** True for the handle returned by hostNetns() (the daemon's own netns). */
  readonly isHost: boolean;
  /** Close the fd. Idempotent; a no-op on the host handle. */
  close(): void;
}

class NetnsHandle implements Netns {
  #fd: number;
  constructor(
    readonly name: string | undefined,
    readonly path: string,
    fd: number,
    readonly inode: number,
    readonly isHost: boolean,
  ) {
    this.#fd = fd;
  }
  get fd(): number {
    if (this.#fd < 0) throw new InvalidArgumentError(`netns ${this.name ?? this.path}: handle is closed`);
    return this.#fd;
  }
  close(): void {
    if (this.isHost || this.#fd < 0) return;
    fs.closeSync(this.#fd);
    this.#fd = -1;
  }
  toString(): string {
    return this.name ?? this.path;
  }
}

const nameRe = /^[A-Za-z0-9_.-]{1,200}$/;

function checkName(name: string): void {
  if (typeof name !== 'string' || !nameRe.test(name) || name === '.' || name === '..') {
    throw new InvalidArgumentError(`netns name: ${JSON.stringify(name)} must be 1-200 characters of [A-Za-z0-9_.-]`);
  }
}

function nsInodeOfFd(fd: number, what: string): number {
  // NS_GET_NSTYPE = _IO(0xb7, 0x3): CLONE_NEWNET for a netns file, an error for anything else.
  // (readlink of /proc/self/fd/N shows the mount path for a bind-mounted nsfs file, not net:[N].)
  const type = sys.ioctl(fd, 0xb703, 'int', 0);
  if (type !== CLONE_NEWNET) throw new InvalidArgumentError(`netns ${what}: is not a network namespace`);
  return fs.fstatSync(fd).ino;
}

function openHandle(p: string, name: string | undefined, isHost = false): NetnsHandle {
  let fd: number;
  try {
    fd = fs.openSync(p, fs.constants.O_RDONLY); // libuv always adds O_CLOEXEC
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') throw new NotFoundError(`netns ${name ?? p}: no such network namespace`);
    throw new KernelError('open netns', name ?? p, -((e as NodeJS.ErrnoException).errno ?? -5));
  }
  try {
    return new NetnsHandle(name, p, fd, nsInodeOfFd(fd, name ?? p), isHost);
  } catch (e) {
    fs.closeSync(fd);
    throw e;
  }
}

let host: NetnsHandle | undefined;
/** The namespace the calling thread is in right now (changes only inside withNetns). */
let current: NetnsHandle | undefined;

/**
 * The daemon's own netns (the thread's netns when this module first ran). Never closed; the
 * handle to restore to after every window.
 */
export function hostNetns(): Netns {
  if (!host) {
    host = openHandle('/proc/thread-self/ns/net', undefined, true);
    current = host;
  }
  return host;
}

function currentNs(): NetnsHandle {
  hostNetns();
  return current!;
}

/** Open a namespace by `ip netns` name, by nsfs path, or by the PID of a process inside it. */
export function openNetns(ref: string | { path: string } | { pid: number }): Netns {
  if (typeof ref === 'string') {
    checkName(ref);
    return openHandle(path.join(NETNS_RUN_DIR, ref), ref);
  }
  if ('pid' in ref) {
    if (!Number.isInteger(ref.pid) || ref.pid <= 0) throw new InvalidArgumentError(`netns pid: ${ref.pid} is not a PID`);
    return openHandle(`/proc/${ref.pid}/ns/net`, undefined);
  }
  if (typeof ref.path !== 'string' || !ref.path.startsWith('/')) {
    throw new InvalidArgumentError(`netns path: ${JSON.stringify(ref.path)} must be absolute`);
  }
  const m = ref.path.startsWith(NETNS_RUN_DIR + '/') ? ref.path.slice(NETNS_RUN_DIR.length + 1) : undefined;
  return openHandle(ref.path, m && nameRe.test(m) ? m : undefined);
}

/** True if `ref` exists as a named namespace in /run/netns. */
export function netnsExists(name: string): boolean {
  checkName(name);
  try {
    const h = openHandle(path.join(NETNS_RUN_DIR, name), name);
    h.close();
    return true;
  } catch (e) {
    if (e instanceof NotFoundError) return false;
    // A plain file left behind by a crashed `ip netns add` is not a namespace.
    if (e instanceof InvalidArgumentError) return false;
    throw e;
  }
}

/**
 * Run `fn` with the calling thread inside `ns` and always switch back, even when `fn` throws.
 * `fn` must be synchronous: returning a promise is an error (the thread would leave the netns
 * before the promise's work ran). Nesting is allowed and restores to the enclosing namespace.
 */
export function withNetns<T>(ns: Netns, fn: () => T): T {
  const prev = currentNs();
  if (ns.inode === prev.inode) return guardSync(fn());
  check(sys.setns(ns.fd, CLONE_NEWNET), 'setns', String(ns));
  current = ns as NetnsHandle;
  try {
    return guardSync(fn());
  } finally {
    restore(prev);
  }
}

function guardSync<T>(r: T): T {
  if (r && typeof (r as { then?: unknown }).then === 'function') {
    throw new InvalidArgumentError('withNetns: the callback must be synchronous (it returned a promise)');
  }
  return r;
}

function restore(to: NetnsHandle): void {
  if (sys.setns(to.fd, CLONE_NEWNET) === -1) {
    // The thread is stranded in a sandbox's netns: every later socket would land there. There
    // is no safe way to continue.
    const e = new KernelError('setns (restore)', String(to), errno());
    process.emitWarning(`fatal: ${e.message}`);
    process.abort();
  }
  current = to;
}

/**
 * Make /run/netns a shared mount point, as iproute2's netns_add does, so a later `ip netns del`
 * (or ours) in any mount namespace unmounts the nsfs bind everywhere and the netns is freed.
 */
function ensureRunDir(): void {
  fs.mkdirSync(NETNS_RUN_DIR, { recursive: true, mode: 0o755 });
  let madeMount = false;
  for (;;) {
    if (sys.mount('', NETNS_RUN_DIR, 'none', MS.SHARED | MS.REC, null) === 0) return;
    const e = errno();
    if (e !== 22 /* EINVAL: not a mount point yet */ || madeMount) throw new KernelError('make shared', NETNS_RUN_DIR, e);
    check(sys.mount(NETNS_RUN_DIR, NETNS_RUN_DIR, 'none', MS.BIND | MS.REC, null), 'bind mount', NETNS_RUN_DIR);
    madeMount = true;
  }
}

export interface CreateNetnsOptions {
  /** Bring `lo` up inside (default true: sandboxes need 127.0.0.1 and 127.0.0.11). */
  loopbackUp?: boolean;
}

/**
 * Create a named namespace, visible to `ip netns list` / `ip netns exec NAME`.
 * Throws ConflictError if the name exists. Undo: deleteNetns(name).
 */
export function createNetns(name: string, options: CreateNetnsOptions = {}): Netns {
  checkName(name);
  ensureRunDir();
  const p = path.join(NETNS_RUN_DIR, name);
  try {
    fs.closeSync(fs.openSync(p, fs.constants.O_RDONLY | fs.constants.O_CREAT | fs.constants.O_EXCL, 0));
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'EEXIST') throw new ConflictError(`netns ${name}: File exists`);
    throw e;
  }
  const prev = currentNs();
  try {
    // unshare(CLONE_NEWNET) moves only this thread (allowed in a multi-threaded process); the
    // bind mount of its nsfs file is what keeps the namespace alive after we switch back.
    check(sys.unshare(CLONE_NEWNET), 'unshare netns', name);
    try {
      check(sys.mount('/proc/thread-self/ns/net', p, 'none', MS.BIND, null), 'bind mount netns', name);
      if (options.loopbackUp !== false) setLoopbackUp();
    } finally {
      restore(prev);
    }
  } catch (e) {
    sys.umount2(p, MNT.DETACH);
    fs.rmSync(p, { force: true });
    throw e;
  }
  return openHandle(p, name);
}

/** SIOCSIFFLAGS on lo inside the current window (a netlink round-trip would do too; this is 3 syscalls). */
function setLoopbackUp(): void {
  const fd = check(sys.socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0), 'socket', 'lo');
  try {
    const ifr = Buffer.alloc(40);
    ifr.write('lo');
    check(sys.ioctl(fd, 0x8913 /* SIOCGIFFLAGS */, 'void *', ifr), 'get flags', 'lo');
    ifr.writeUInt16LE(ifr.readUInt16LE(16) | 1 /* IFF_UP */, 16);
    check(sys.ioctl(fd, 0x8914 /* SIOCSIFFLAGS */, 'void *', ifr), 'set up', 'lo');
  } finally {
    sys.close(fd);
  }
}

type ReleaseHook = (inode: number) => void;
const releaseHooks: ReleaseHook[] = [];

/**
 * Register a callback run when tsd deletes a namespace (or `releaseNetns` is called), with the
 * namespace's inode: caches of per-netns sockets close theirs so the kernel can free it.
 */
export function onNetnsRelease(hook: ReleaseHook): void {
  releaseHooks.push(hook);
}

/** Drop every cached resource tsd holds in `ns` (netlink sockets). Does not close `ns` itself. */
export function releaseNetns(ns: Netns): void {
  for (const h of releaseHooks) h(ns.inode);
}

/**
 * Delete a named namespace: release cached sockets, unmount and unlink /run/netns/NAME.
 * Idempotent: returns false if it did not exist. Links inside are destroyed by the kernel once
 * nothing else holds the namespace (all veths in it go in one batch: the fast teardown).
 */
export function deleteNetns(name: string): boolean {
  checkName(name);
  const p = path.join(NETNS_RUN_DIR, name);
  let inode: number | undefined;
  try {
    const st = fs.statSync(p);
    inode = st.ino;
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return false;
    throw e;
  }
  if (inode !== undefined) for (const h of releaseHooks) h(inode);
  if (sys.umount2(p, MNT.DETACH) === -1) {
    const e = errno();
    if (e !== 22 /* EINVAL: not mounted (a stale file) */ && e !== 2) throw new KernelError('unmount netns', name, e);
  }
  fs.rmSync(p, { force: true });
  return true;
}

/** Names in /run/netns (what `ip netns list` shows), sorted. */
export function listNetns(): string[] {
  try {
    return fs.readdirSync(NETNS_RUN_DIR).filter((n) => nameRe.test(n)).sort();
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw e;
  }
}

export interface BindSocketOptions {
  family: 'inet' | 'inet6';
  type: 'udp' | 'tcp';
  address: string;
  port: number;
  /** SO_REUSEADDR (TCP: rebind while old connections sit in TIME_WAIT). */
  reuseAddr?: boolean;
  /** listen(2) backlog for tcp (default 511, as Node). */
  backlog?: number;
}

/**
 * Create a socket inside `ns`, bind it (and listen, for tcp) and return the fd: nonblocking,
 * close-on-exec. Hand it to Node with `dgram.createSocket(...).bind({ fd })` or
 * `net.createServer().listen({ fd })`; the socket stays in `ns` for its life. The caller owns
 * the fd (Node closes it with the socket).
 */
export function bindSocketInNetns(ns: Netns, o: BindSocketOptions): number {
  if (o.family !== 'inet' && o.family !== 'inet6') throw new InvalidArgumentError(`family: ${JSON.stringify(o.family)} must be inet or inet6`);
  if (o.type !== 'udp' && o.type !== 'tcp') throw new InvalidArgumentError(`type: ${JSON.stringify(o.type)} must be udp or tcp`);
  const addr = sockaddr(o.address, o.port);
  const af = o.family === 'inet' ? AF_INET : AF_INET6;
  if ((af === AF_INET) !== (addr.length === 16)) {
    throw new InvalidArgumentError(`address: ${o.address} is not an ${o.family} address`);
  }
  const what = `${o.type} ${o.family === 'inet6' ? `[${o.address}]` : o.address}:${o.port} in netns ${String(ns)}`;
  return withNetns(ns, () => {
    const fd = check(sys.socket(af, (o.type === 'udp' ? SOCK_DGRAM : SOCK_STREAM) | SOCK_NONBLOCK | SOCK_CLOEXEC, 0), 'socket', what);
    try {
      if (o.reuseAddr) {
        const one = Buffer.alloc(4);
        one.writeInt32LE(1);
        check(sys.setsockopt(fd, 1 /* SOL_SOCKET */, 2 /* SO_REUSEADDR */, one, 4), 'setsockopt SO_REUSEADDR', what);
      }
      check(sys.bind(fd, addr, addr.length), 'bind', what);
      if (o.type === 'tcp') check(sys.listen(fd, o.backlog ?? 511), 'listen', what);
      return fd;
    } catch (e) {
      sys.close(fd);
      throw e;
    }
  });
}

/** The local port a socket fd is bound to (useful after binding port 0). */
export function boundPort(fd: number): number {
  const buf = Buffer.alloc(28);
  const len = [28];
  check(sys.getsockname(fd, buf, len), 'getsockname', `fd ${fd}`);
  return buf.readUInt16BE(2);
}

/** Internal guard used by tests: the thread is back in the host netns. */
export function currentNetnsInode(): number {
  return currentNs().inode;
}
