// core/kernel/epoll.ts — epoll(7) and eventfd(2) through koffi, for the threads that block in
// epoll_wait over raw fds Node's loop cannot poll (udp-batch.ts: DNS sockets; pidfd.ts: pidfds).
// Calls are synchronous; errors are read with errno() right after.

import koffi from 'koffi';

const libc = koffi.load('libc.so.6');
export const epollCreate1 = libc.func('int epoll_create1(int flags)');
export const epollCtl = libc.func('int epoll_ctl(int epfd, int op, int fd, void *event)');
export const epollWait = libc.func('int epoll_wait(int epfd, void *events, int max, int timeout)');
export const eventfd = libc.func('int eventfd(unsigned int initval, int flags)');
export const write = libc.func('intptr_t write(int fd, const void *buf, size_t n)');
export const read = libc.func('intptr_t read(int fd, void *buf, size_t n)');

export const EPOLLIN = 1;
export const EPOLLEXCLUSIVE = 1 << 28;
export const EPOLLONESHOT = 1 << 30;
export const EPOLL_CTL_ADD = 1;
export const EPOLL_CTL_DEL = 2;
export const CLOEXEC = 0o2000000;
export const NONBLOCK = 0o4000;
/** struct epoll_event: packed (12 bytes) on x86-64, 16 elsewhere; `data` at EV_DATA. */
export const EV = process.arch === 'x64' ? 12 : 16;
export const EV_DATA = process.arch === 'x64' ? 4 : 8;
