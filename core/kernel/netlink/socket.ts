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

const align4 = (n: number) => (n + 3) & ~3;
/** Messages per sendmsg in a pipelined batch: bounds what can queue up unread (error replies). */
const BATCH_CHUNK = 64;

/**
 * Several requests appended into one buffer, sent by `NetlinkSocket.requestBatch` with one
 * sendmsg per chunk. Each entry keeps the operation and object its error will name.
 */
export class RequestBatch {
  buf = Buffer.alloc(8192);
  len = 0;
  readonly items: Array<{ op: string; object: string; off: number }> = [];

  /** Copy `msg` (usually `writer.finish()`) in; the writer may be reused right after. */
  add(op: string, object: string, msg: Buffer): void {
    const need = this.len + align4(msg.length);
    if (need > this.buf.length) {
      const next = Buffer.alloc(Math.max(need, this.buf.length * 2));
      this.buf.copy(next, 0, 0, this.len);
      this.buf = next;
    }
    msg.copy(this.buf, this.len);
    this.buf.fill(0, this.len + msg.length, need);
    this.items.push({ op, object, off: this.len });
    this.len = need;
  }

  get size(): number {
    return this.items.length;
  }
}

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

  /**
   * Pipelined requests: each chunk of messages goes out in one sendmsg and the kernel handles them
   * in order inside it. Only the chunk's last message asks for an ack; a failing message gets its
   * NLMSG_ERROR anyway (the kernel always reports errors), queued before that last ack, so one
   * ack per chunk proves every earlier message succeeded. Returns, per entry, its KernelError or
   * undefined. Entries are not transactional: the ones before and after a failure still apply.
   * No dumps or GETs here (their replies are not collected).
   */
  requestBatch(batch: RequestBatch): Array<KernelError | undefined> {
    const { items, buf } = batch;
    const out: Array<KernelError | undefined> = new Array(items.length).fill(undefined);
    for (let start = 0; start < items.length; start += BATCH_CHUNK) {
      const end = Math.min(items.length, start + BATCH_CHUNK);
      if (this.closed) {
        for (let i = start; i < end; i++) out[i] = new KernelError(items[i]!.op, items[i]!.object, 9, 'netlink socket closed (netns released)');
        continue;
      }
      const firstSeq = (this.seq + 1) >>> 0;
      for (let i = start; i < end; i++) {
        const off = items[i]!.off;
        buf.writeUInt32LE((this.seq = (this.seq + 1) >>> 0), off + 8);
        const flags = buf.readUInt16LE(off + 6);
        buf.writeUInt16LE(i === end - 1 ? flags | NLM_F.ACK : flags & ~NLM_F.ACK, off + 6);
      }
      const lastSeq = this.seq;
      const from = items[start]!.off;
      const to = end < items.length ? items[end]!.off : batch.len;
      const msg = buf.subarray(from, to);
      let sendErr = 0;
      for (;;) {
        if (sys.send(this.fd, msg, msg.length, 0) !== -1) break;
        const e = errno();
        if (e !== EINTR) { sendErr = e; break; }
      }
      if (sendErr) {
        for (let i = start; i < end; i++) out[i] = new KernelError(items[i]!.op, items[i]!.object, sendErr);
        continue;
      }
      for (let done = false; !done;) {
        const n = Number(sys.recv(this.fd, this.rbuf, RECV_SIZE, 0));
        if (n < 0) {
          const e = errno();
          if (e === EINTR) continue;
          // No ack: nothing after this point is known to have applied.
          for (let i = start; i < end; i++) out[i] ??= new KernelError(items[i]!.op, items[i]!.object, e === EAGAIN ? 110 : e, 'no netlink reply');
          break;
        }
        for (const m of parseMessages(this.rbuf.subarray(0, n))) {
          const k = (m.seq - firstSeq) >>> 0;
          if (k >= end - start || m.type !== NLMSG.ERROR) continue;
          const { errno: err, extack } = parseError(m);
          if (err !== 0) out[start + k] = new KernelError(items[start + k]!.op, items[start + k]!.object, err, extack);
          if (m.seq === lastSeq) done = true;
        }
      }
    }
    return out;
  }

  private chain: Promise<unknown> = Promise.resolve();

  /**
   * One request whose kernel work is long (a link delete waits ~16 ms for RCU in the kernel) run
   * off the main thread: sendmsg happens on one of koffi's pool threads, so the event loop keeps
   * running; the ack is then read here (the kernel queued it before sendmsg returned). Safe across
   * threads because an rtnetlink request acts on the netns the *socket* was created in
   * (sock_net), never the calling thread's. Requests on one socket run one after another; use a
   * socket that no synchronous `request` shares (`offThreadSocketIn`), or their acks would mix.
   * `msg` must be owned by the caller (not a writer view).
   */
  requestOffThread(op: string, object: string, msg: Buffer): Promise<NetlinkMessage[]> {
    const run = () => new Promise<NetlinkMessage[]>((resolve, reject) => {
      if (this.closed) return reject(new KernelError(op, object, 9, 'netlink socket closed (netns released)'));
      const seq = (this.seq = (this.seq + 1) >>> 0);
      msg.writeUInt32LE(seq, 8);
      msg.writeUInt16LE(msg.readUInt16LE(6) | NLM_F.ACK, 6);
      (sys.send as unknown as { async: (...a: unknown[]) => void }).async(this.fd, msg, msg.length, 0, (err: unknown, rc: number | bigint) => {
        if (err) return reject(err instanceof Error ? err : new Error(String(err)));
        // errno of a pool thread is not readable here: report EIO with the fact.
        if (Number(rc) < 0) return reject(new KernelError(op, object, 5, 'netlink send failed'));
        try {
          resolve(this.readAck(op, object, seq));
        } catch (e) {
          reject(e);
        }
      });
    });
    const p = this.chain.then(run, run);
    this.chain = p.catch(() => undefined);
    return p;
  }

  /** Replies up to the ack of `seq` (used after an off-thread send). */
  private readAck(op: string, object: string, seq: number): NetlinkMessage[] {
    const out: NetlinkMessage[] = [];
    for (;;) {
      const n = Number(sys.recv(this.fd, this.rbuf, RECV_SIZE, 0));
      if (n < 0) {
        const e = errno();
        if (e === EINTR) continue;
        throw new KernelError(op, object, e === EAGAIN ? 110 : e, 'no netlink reply');
      }
      for (const m of parseMessages(this.rbuf.subarray(0, n))) {
        if (m.seq !== seq) continue;
        if (m.type === NLMSG.ERROR) {
          const { errno: err, extack } = parseError(m);
          if (err === 0) return out;
          throw new KernelError(op, object, err, extack);
        }
        out.push({ ...m, payload: Buffer.from(m.payload) });
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
/** Second socket per netns, only for requestOffThread (its acks never meet a sync request's). */
const offThreadSockets = new Map<number, NetlinkSocket>();

onNetnsRelease((inode) => {
  for (const m of [sockets, offThreadSockets]) {
    const s = m.get(inode);
    if (s) {
      s.close();
      m.delete(inode);
    }
  }
});

/** The socket of `ns` in `cache`, created inside the namespace on first use. */
function cachedSocketIn(cache: Map<number, NetlinkSocket>, ns: Netns): NetlinkSocket {
  let s = cache.get(ns.inode);
  if (!s) {
    const name = ns.isHost ? 'host netns' : `netns ${String(ns)}`;
    s = ns.isHost ? new NetlinkSocket(name) : withNetns(ns, () => new NetlinkSocket(name));
    cache.set(ns.inode, s);
  }
  return s;
}

/** The cached socket of `ns` reserved for off-thread requests (created inside it on first use). */
export function offThreadSocketIn(ns: Netns = hostNetns()): NetlinkSocket {
  return cachedSocketIn(offThreadSockets, ns);
}

/** The cached rtnetlink socket of `ns` (created inside it on first use). */
export function socketIn(ns: Netns = hostNetns()): NetlinkSocket {
  return cachedSocketIn(sockets, ns);
}

/** Close every cached socket (tests, daemon shutdown). */
export function closeAllSockets(): void {
  for (const s of sockets.values()) s.close();
  sockets.clear();
  for (const s of offThreadSockets.values()) s.close();
  offThreadSockets.clear();
}
