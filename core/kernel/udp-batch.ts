// core/kernel/udp-batch.ts — batched UDP I/O on raw socket fds: epoll + recvmmsg + sendmmsg
// through koffi, for a thread that owns its loop (core/dns/udp-worker.ts serves every sandbox's
// DNS socket this way).
//
// Why: Node's dgram costs one recvmsg, one JS callback, one Buffer and one sendmsg (plus a
// lookup tick) per datagram; under dnsperf the server spent most of its time there. One
// recvmmsg/sendmmsg pair moves up to `batch` datagrams, into and out of buffers allocated once
// and shared by every socket the thread serves (sockets are served one at a time).
// bench/dns.ts measures it (docs/benchmarks.md ## dns).
//
// Interface (all calls synchronous; open() / poller() and their methods belong to one thread):
//   const io = open(batch)             fixed buffers for `batch` datagrams of up to 4 KiB
//   n = io.recv(fd)                    datagrams waiting on fd, without blocking (0: none)
//   io.data(i) / io.peer(i)            datagram i (a view, valid until the next recv) / a copy
//                                      of its source sockaddr
//   io.reply(i, buf); io.flush(fd)     queue an answer to datagram i's source; send the queue
//   const p = poller()                 epoll: p.add(fd, exclusive), p.remove(fd), n = p.wait(ms), p.ready(i)
//   eventFd() / signal(efd) / drain(efd)   a wake-up fd for the poller (signal: any thread)
//   sendTo(fd, buf, peer)              one datagram to a sockaddr from peer() (any thread)
//   bindUdp(address, port)             a bound UDP socket in this netns → { fd, port }
//   closeFd(fd)
// Nothing here closes an fd except closeFd and poller().close().

import koffi from 'koffi';
import net from 'node:net';
import { sys, check, errno } from './libc.js';
import { KernelError } from './kernel-error.js';
// the fd goes in the epoll_event's data field
import { CLOEXEC, EPOLLEXCLUSIVE, EPOLLIN, EPOLL_CTL_ADD, EPOLL_CTL_DEL, EV, EV_DATA, NONBLOCK, epollCreate1, epollCtl, epollWait, eventfd, read, write } from './epoll.js';

const libc = koffi.load('libc.so.6');
const recvmmsg = libc.func('int recvmmsg(int fd, void *msgvec, unsigned int vlen, int flags, void *timeout)');
const sendmmsg = libc.func('int sendmmsg(int fd, void *msgvec, unsigned int vlen, int flags)');
const sendto = libc.func('intptr_t sendto(int fd, const void *buf, size_t len, int flags, const void *addr, uint32_t alen)');
// memset(p, 0, 0) returns p: the one portable way to learn a Buffer's address through koffi.
const memset = libc.func('void *memset(void *s, int c, size_t n)');

const MSG_DONTWAIT = 0x40;
const MAX_EVENTS = 64;
const EINTR = 4;
const EAGAIN = 11;
/** struct mmsghdr on 64-bit Linux: msghdr (56) + msg_len (4) + padding. */
const MMSG = 64;
const IOV = 16;
const NAME = 28; // sockaddr_in6, the larger of the two
const SLOT = 4096;

function addressOf(b: Buffer): bigint {
  return koffi.address(memset(b, 0, 0)) as bigint;
}

export interface UdpBatchIo {
  /** the buffers the kernel reaches through raw addresses: alive exactly as long as this object */
  readonly memory: readonly Buffer[];
  recv(fd: number): number;
  data(i: number): Buffer;
  peer(i: number): Buffer;
  reply(i: number, b: Buffer): void;
  flush(fd: number): void;
}

/** Batched I/O on bound UDP sockets (blocking or not) for up to `batch` datagrams per call. */
export function open(batch = 64): UdpBatchIo {
  const rx = Buffer.alloc(batch * MMSG);
  const tx = Buffer.alloc(batch * MMSG);
  const rxIov = Buffer.alloc(batch * IOV);
  const txIov = Buffer.alloc(batch * IOV);
  const names = Buffer.alloc(batch * NAME);
  const data = Buffer.alloc(batch * SLOT);
  const out = Buffer.alloc(batch * SLOT);
  const namesAt = addressOf(names);
  const dataAt = addressOf(data);
  const rxIovAt = addressOf(rxIov);
  const txIovAt = addressOf(txIov);
  const outAt = addressOf(out);
  const nameAt = Array.from({ length: batch }, (_, i) => namesAt + BigInt(i * NAME));
  for (let i = 0; i < batch; i++) {
    rxIov.writeBigUInt64LE(dataAt + BigInt(i * SLOT), i * IOV);
    rxIov.writeBigUInt64LE(BigInt(SLOT), i * IOV + 8);
    rx.writeBigUInt64LE(namesAt + BigInt(i * NAME), i * MMSG);
    rx.writeBigUInt64LE(rxIovAt + BigInt(i * IOV), i * MMSG + 16);
    rx.writeBigUInt64LE(1n, i * MMSG + 24);
    tx.writeBigUInt64LE(txIovAt + BigInt(i * IOV), i * MMSG + 16);
    tx.writeBigUInt64LE(1n, i * MMSG + 24);
    txIov.writeBigUInt64LE(outAt + BigInt(i * SLOT), i * IOV);
  }
  // The kernel reads and writes these through the raw addresses above, which keep nothing alive:
  // every buffer must stay referenced from here for as long as the returned object lives (a
  // collected rxIov showed up as EFAULT / EINVAL from recvmmsg under load).
  const keep = [rx, tx, rxIov, txIov, names, data, out];
  /** answers queued since the last flush */
  let pending = 0;
  return {
    memory: keep,
    recv(fd: number): number {
      for (let i = 0; i < batch; i++) rx.writeUInt32LE(NAME, i * MMSG + 8);
      const n = recvmmsg(fd, rx, batch, MSG_DONTWAIT, null) as number;
      if (n >= 0) return n;
      const e = errno();
      if (e === EAGAIN || e === EINTR) return 0;
      throw new KernelError('recvmmsg', `udp fd ${fd}`, e);
    },
    data(i: number): Buffer {
      const len = rx.readUInt32LE(i * MMSG + 56);
      return data.subarray(i * SLOT, i * SLOT + Math.min(len, SLOT));
    },
    peer(i: number): Buffer {
      return Buffer.from(names.subarray(i * NAME, i * NAME + rx.readUInt32LE(i * MMSG + 8)));
    },
    reply(i: number, b: Buffer): void {
      // Copied into this socket's own send slots: the answer's memory need not outlive the call.
      if (b.length > SLOT) return; // cannot happen for UDP DNS (answers are capped at 4096)
      if (pending === batch) return; // more answers than datagrams: a caller bug, never sent
      const k = pending++;
      tx.writeBigUInt64LE(nameAt[i]!, k * MMSG);
      tx.writeUInt32LE(rx.readUInt32LE(i * MMSG + 8), k * MMSG + 8);
      b.copy(out, k * SLOT);
      txIov.writeUInt32LE(b.length, k * IOV + 8);
    },
    flush(fd: number): void {
      let off = 0;
      const m = pending;
      while (off < m) {
        const s = sendmmsg(fd, off ? tx.subarray(off * MMSG) : tx, m - off, MSG_DONTWAIT) as number;
        // A full send buffer or an unreachable peer drops that datagram, as a UDP server must.
        if (s <= 0) off++;
        else off += s;
      }
      pending = 0;
    },
  };
}

export interface Poller {
  readonly fd: number;
  /** exclusive: when several pollers watch fd, wake only one of them per event (EPOLLEXCLUSIVE). */
  add(fd: number, exclusive?: boolean): void;
  remove(fd: number): void;
  /** Wait up to timeoutMs (-1: forever) for readable fds; returns how many (see ready). */
  wait(timeoutMs: number): number;
  /** The i-th readable fd of the last wait. */
  ready(i: number): number;
  close(): void;
}

/** An epoll instance watching fds for input. */
export function poller(): Poller {
  const ep = check(epollCreate1(CLOEXEC) as number, 'epoll_create1', 'udp poller');
  const events = Buffer.alloc(MAX_EVENTS * EV);
  const ev = Buffer.alloc(EV);
  return {
    fd: ep,
    add(fd: number, exclusive = false): void {
      ev.writeUInt32LE((EPOLLIN | (exclusive ? EPOLLEXCLUSIVE : 0)) >>> 0, 0);
      ev.writeUInt32LE(fd, EV_DATA);
      check(epollCtl(ep, EPOLL_CTL_ADD, fd, ev) as number, 'epoll_ctl add', `fd ${fd}`);
    },
    remove(fd: number): void {
      // ENOENT / EBADF: not watched (any more); removal is idempotent.
      epollCtl(ep, EPOLL_CTL_DEL, fd, ev);
    },
    wait(timeoutMs: number): number {
      const n = epollWait(ep, events, MAX_EVENTS, timeoutMs) as number;
      if (n >= 0) return n;
      if (errno() === EINTR) return 0;
      throw new KernelError('epoll_wait', 'udp poller', errno());
    },
    ready(i: number): number {
      return events.readUInt32LE(i * EV + EV_DATA);
    },
    close(): void {
      sys.close(ep);
    },
  };
}

/** A non-blocking eventfd: signal() from any thread makes it readable until drain(). */
export function eventFd(): number {
  return check(eventfd(0, CLOEXEC | NONBLOCK) as number, 'eventfd', 'udp poller wake-up');
}

const ONE = Buffer.from([1, 0, 0, 0, 0, 0, 0, 0]);
export function signal(efd: number): void {
  write(efd, ONE, 8);
}

const SINK = Buffer.alloc(8);
export function drain(efd: number): void {
  read(efd, SINK, 8);
}

/** Send one datagram to `peer` (sockaddr bytes from UdpBatchIo.peer). Errors are dropped datagrams. */
export function sendTo(fd: number, b: Buffer, peer: Buffer): void {
  sendto(fd, b, b.length, MSG_DONTWAIT, peer, peer.length);
}

function sockaddrOf(address: string, port: number): Buffer {
  if (net.isIPv4(address)) {
    const b = Buffer.alloc(16);
    b.writeUInt16LE(2, 0);
    b.writeUInt16BE(port, 2);
    address.split('.').forEach((x, i) => { b[4 + i] = Number(x); });
    return b;
  }
  if (!net.isIPv6(address)) throw new KernelError('bind', `udp ${address}:${port}`, 22);
  const b = Buffer.alloc(28);
  b.writeUInt16LE(10, 0);
  b.writeUInt16BE(port, 2);
  const [head, tail] = address.split('::') as [string, string | undefined];
  const h = head ? head.split(':') : [];
  const t = tail ? tail.split(':') : [];
  const groups = tail === undefined ? h : [...h, ...Array<string>(8 - h.length - t.length).fill('0'), ...t];
  groups.forEach((g, i) => b.writeUInt16BE(parseInt(g, 16), 8 + i * 2));
  return b;
}

/** A UDP socket bound to address:port in the calling thread's netns (port 0: any). */
export function bindUdp(address: string, port: number): { fd: number; port: number } {
  const addr = sockaddrOf(address, port);
  const what = `udp ${address}:${port}`;
  const fd = check(sys.socket(addr.length === 16 ? 2 : 10, 2 /* SOCK_DGRAM */ | 0o2000000 /* SOCK_CLOEXEC */, 0), 'socket', what);
  try {
    check(sys.bind(fd, addr, addr.length), 'bind', what);
    const out = Buffer.alloc(28);
    check(sys.getsockname(fd, out, [28]), 'getsockname', what);
    return { fd, port: out.readUInt16BE(2) };
  } catch (e) {
    sys.close(fd);
    throw e;
  }
}

/** Ask for a larger receive buffer (the kernel caps it at rmem_max). Best effort. */
export function setRecvBuffer(fd: number, bytes: number): void {
  const v = Buffer.alloc(4);
  v.writeInt32LE(bytes);
  sys.setsockopt(fd, 1 /* SOL_SOCKET */, 8 /* SO_RCVBUF */, v, 4);
  sys.setsockopt(fd, 1, 7 /* SO_SNDBUF */, v, 4);
}

export function closeFd(fd: number): void {
  sys.close(fd);
}
