// core/kernel/libc.ts — the libc system calls tsd makes through koffi (mount, setns, unshare,
// sockets). Private to core/kernel: every other module goes through the typed kernel modules.
//
// koffi calls run synchronously on the calling thread; read errno right after the call. Never
// use koffi's `.async`: its pool threads sit in the original namespaces (toolchain.md §3).

import koffi from 'koffi';
import { KernelError } from './kernel-error.js';

const libc = koffi.load('libc.so.6');

export const sys = {
  mount: libc.func('int mount(const char *source, const char *target, const char *fstype, unsigned long flags, const char *data)'),
  umount2: libc.func('int umount2(const char *target, int flags)'),
  setns: libc.func('int setns(int fd, int nstype)'),
  unshare: libc.func('int unshare(int flags)'),
  socket: libc.func('int socket(int domain, int type, int protocol)'),
  bind: libc.func('int bind(int fd, const void *addr, uint32_t len)'),
  close: libc.func('int close(int fd)'),
  mknod: libc.func('int mknod(const char *path, uint32_t mode, uint64_t dev)'),
  lsetxattr: libc.func('int lsetxattr(const char *path, const char *name, const void *value, size_t size, int flags)'),
  lgetxattr: libc.func('intptr_t lgetxattr(const char *path, const char *name, _Out_ void *value, size_t size)'),
  llistxattr: libc.func('intptr_t llistxattr(const char *path, _Out_ void *list, size_t size)'),
  lremovexattr: libc.func('int lremovexattr(const char *path, const char *name)'),
  gettid: libc.func('int gettid(void)'),
  // sockets bound inside a netns (netns.ts) and the rtnetlink socket (netlink/socket.ts)
  listen: libc.func('int listen(int fd, int backlog)'),
  setsockopt: libc.func('int setsockopt(int fd, int level, int name, const void *value, uint32_t len)'),
  getsockname: libc.func('int getsockname(int fd, _Out_ void *addr, _Inout_ uint32_t *len)'),
  ioctl: libc.func('int ioctl(int fd, unsigned long request, ...)'),
  send: libc.func('intptr_t send(int fd, const void *buf, size_t len, int flags)'),
  recv: libc.func('intptr_t recv(int fd, _Out_ void *buf, size_t len, int flags)'),
};

export function errno(): number {
  return koffi.errno();
}

/** Throw a KernelError when a libc call returned -1. Returns `rc` otherwise. */
export function check(rc: number | bigint, op: string, object: string): number {
  const n = Number(rc);
  if (n === -1) throw new KernelError(op, object, koffi.errno());
  return n;
}

export const CLONE_NEWNS = 0x00020000;
export const CLONE_NEWNET = 0x40000000;
export const CLONE_FS = 0x00000200;

export const AF_INET = 2;
export const AF_INET6 = 10;
export const SOCK_STREAM = 1;
export const SOCK_DGRAM = 2;
export const SOCK_NONBLOCK = 0o4000;
export const SOCK_CLOEXEC = 0o2000000;

// pidfd_open(2) by number: glibc has a wrapper only since 2.36. 434 on every Linux architecture
// (the unified syscall table). glibc's syscall() reads no va_list, so a fixed prototype is safe.
export const SYS_PIDFD_OPEN = 434;
export const syscall2 = libc.func('long syscall(long number, long a, long b)');
