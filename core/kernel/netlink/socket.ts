// core/kernel/netlink/socket.ts — the NETLINK_ROUTE socket: request/ack and dump with sequence
// numbers, NLMSG_ERROR → KernelError (errno + operation + object + the kernel's extended-ack
// text), and one cached socket per network namespace.
//
// Why synchronous: rtnetlink handles a request inside sendmsg(2) and queues the ack before send
// returns, and a dump refills the queue inside each recvmsg(2); so send-then-recv never waits on
// anything but the kernel's own work. That makes one request a pair of syscalls (~10-30 µs here),
// with no poll handle or promise per message. The socket has SO_RCVTIMEO as a guard.
// Why a socket per netns: a netlink socket acts on the netns it was *created* in, so we create
// it inside a withNetns window and keep it (closed on deleteNetns / releaseNetns).

import { KernelError } from '../kernel-error.js';
import { check, errno, SOCK_CLOEXEC, sys } from '../libc.js';
import { hostNetns, onNetnsRelease, withNetns, type Netns } from '../netns.js';
import { MessageWriter, NLM_F, NLMSG, parseError, parseMessages, type NetlinkMessage } from './codec.js';

const AF_NETLINK = 16;
const SOCK_RAW = 3;
const NETLINK_ROUTE = 0;
const SOL_NETLINK = 270;
const NETLINK_CAP_ACK = 10;
const NETLINK_EXT_ACK = 11;
const EINTR = 4;
const EAGAIN = 11;
const RECV_SIZE = 64 * 1024;

export class NetlinkSocket {
  readonly fd: number;
  /** Reused for every request: callers build into it, then call request(). */
  readonly writer = new MessageWriter();
  private seq = Math.floor(Math.random() * 0x7fffffff);
  private readonly rbuf = Buffer.alloc(RECV_SIZE);
  private closed = false;

  constructor(readonly netnsName: string) {
    this.fd = check(sys.socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_ROUTE), 'open netlink socket', netnsName);
    try {
      const one = Buffer.alloc(4);
      one.writeInt32LE(1);
      // Short acks (no echoed request) and the kernel's human-readable reason on errors.
      sys.setsockopt(this.fd, SOL_NETLINK, NETLINK_CAP_ACK, one, 4);
      sys.setsockopt(this.fd, SOL_NETLINK, NETLINK_EXT_ACK, one, 4);
      const tv = Buffer.alloc(16);
      tv.writeBigInt64LE(10n, 0); // 10 s: a request the kernel never answers is a bug, not a wait
      check(sys.setsockopt(this.fd, 1 /* SOL_SOCKET */, 20 /* SO_RCVTIMEO */, tv, 16), 'set timeout', 'netlink socket');
      const sa = Buffer.alloc(12);
      sa.writeUInt16LE(AF_NETLINK, 0);
      check(sys.bind(this.fd, sa, 12), 'bind netlink socket', netnsName);
    } catch (e) {
      sys.close(this.fd);
      throw e;
    }
  }

  /**
   * Send the message in `writer` (or `msg`) and collect the reply. For a dump, every message up
   * to NLMSG_DONE; otherwise whatever precedes the ack (NLM_F_ECHO replies, GET answers). Throws
   * KernelError(op, object, errno, extack) on NLMSG_ERROR.
   */
  request(op: string, object: string, msg: Buffer = this.writer.finish()): NetlinkMessage[] {
    if (this.closed) throw new KernelError(op, object, 9 /* EBADF */, 'netlink socket closed (netns released)');
    const seq = (this.seq = (this.seq + 1) >>> 0);
    msg.writeUInt32LE(seq, 8);
    const isDump = (msg.readUInt16LE(6) & NLM_F.DUMP) === NLM_F.DUMP;
    for (;;) {
      if (sys.send(this.fd, msg, msg.length, 0) !== -1) break;
      const e = errno();
      if (e !== EINTR) throw new KernelError(op, object, e);
    }
    const out: NetlinkMessage[] = [];
    for (;;) {
      const n = Number(sys.recv(this.fd, this.rbuf, RECV_SIZE, 0));
      if (n < 0) {
        const e = errno();
        if (e === EINTR) continue;
        throw new KernelError(op, object, e === EAGAIN ? 110 /* ETIMEDOUT */ : e, 'no netlink reply');
      }
      // Dump replies outlive this receive buffer: copy the datagram once; acks need no copy.
      const data = isDump ? Buffer.from(this.rbuf.subarray(0, n)) : this.rbuf.subarray(0, n);
      for (const m of parseMessages(data)) {
        if (m.seq !== seq) continue; // late reply to an earlier, timed-out request
        if (m.type === NLMSG.ERROR) {
          const { errno: err, extack } = parseError(m);
          if (err === 0) return out;
          throw new KernelError(op, object, err, extack);
        }
        if (m.type === NLMSG.DONE) {
          const err = m.payload.length >= 4 ? -m.payload.readInt32LE(0) : 0;
          if (err > 0) throw new KernelError(op, object, err);
          return out;
        }
        if (m.type === NLMSG.NOOP) continue;
        out.push(isDump ? m : { ...m, payload: Buffer.from(m.payload) });
        if (!isDump && !(m.flags & NLM_F.MULTI) && !(msg.readUInt16LE(6) & NLM_F.ACK)) return out;
      }
    }
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    sys.close(this.fd);
  }
}

const sockets = new Map<number, NetlinkSocket>();

onNetnsRelease((inode) => {
  const s = sockets.get(inode);
  if (s) {
    s.close();
    sockets.delete(inode);
  }
});

/** The cached rtnetlink socket of `ns` (created inside it on first use). */
export function socketIn(ns: Netns = hostNetns()): NetlinkSocket {
  let s = sockets.get(ns.inode);
  if (!s) {
    const name = ns.isHost ? 'host netns' : `netns ${String(ns)}`;
    s = ns.isHost ? new NetlinkSocket(name) : withNetns(ns, () => new NetlinkSocket(name));
    sockets.set(ns.inode, s);
  }
  return s;
}

/** Close every cached socket (tests, daemon shutdown). */
export function closeAllSockets(): void {
  for (const s of sockets.values()) s.close();
  sockets.clear();
}
