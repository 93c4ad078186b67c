// core/kernel/pidfd.ts — process exit notification without polling /proc: pidfd_open(2) gives an
// fd that turns readable (POLLIN) when the process exits. Node cannot poll such an fd in its own
// loop (net.Socket refuses an anon-inode fd: ERR_INVALID_FD_TYPE), so one worker thread
// (pidfd-worker.ts) blocks in epoll_wait over every watched pidfd and posts the tokens of those
// that fired; the fds themselves are opened, registered, unregistered and closed here, on the
// calling thread. One thread for any number of processes; it starts with the first watch, ends at
// close(), never keeps the process alive, and wakes at least every WAIT_MS so an exit that skips
// close() still joins it promptly. A thread that dies (epoll_wait failing: a bug, not a runtime
// condition) is reported through onError and not restarted: the daemon's sweep still runs.
//
// Each watch has its own token in the epoll data (not the fd number): an event already
// collected by the worker for an fd that is closed and reused meanwhile names a token nobody
// holds, never another process's watch. EPOLLONESHOT: a dead process reports once.

import { Worker } from 'node:worker_threads';
import { CLOEXEC, EPOLLIN, EPOLLONESHOT, EPOLL_CTL_ADD, EPOLL_CTL_DEL, EV, EV_DATA, NONBLOCK, epollCreate1, epollCtl, epollWait, eventfd, read, write } from './epoll.js';
import { KernelError } from './kernel-error.js';
import { SYS_PIDFD_OPEN, check, errno, sys, syscall2 } from './libc.js';

const EINTR = 4;
const MAX_EVENTS = 64;
/** Token of the wake-up eventfd; watches count from 1. */
const WAKE = 0;
export const ENOSYS = 38;
export const ESRCH = 3;
/** epoll_wait timeout in the worker: bounds how long Node's join of the thread can take at exit. */
export const WAIT_MS = 500;

/** pidfd_open(pid, 0): a close-on-exec fd for the process. KernelError (ESRCH: no such process). */
export function pidfdOpen(pid: number): number {
  return check(syscall2(SYS_PIDFD_OPEN, pid, 0) as number | bigint, 'pidfd_open', `pid ${pid}`);
}

/** Whether this kernel has pidfd_open (probed on our own pid). ENOSYS → false. */
export function pidfdSupported(): boolean {
  try {
    sys.close(pidfdOpen(process.pid));
    return true;
  } catch (e) {
    if (e instanceof KernelError && e.errno === ENOSYS) return false;
    throw e;
  }
}

/** The worker's side: wait up to `timeoutMs` on `ep`; the tokens that fired (WAKE drained, left out). */
export function waitTokens(ep: number, wakeFd: number, events: Buffer, timeoutMs: number): number[] {
  const n = epollWait(ep, events, MAX_EVENTS, timeoutMs) as number;
  if (n < 0) {
    if (errno() === EINTR) return [];
    throw new KernelError('epoll_wait', 'pidfd watch', errno());
  }
  const out: number[] = [];
  for (let i = 0; i < n; i++) {
    const token = Number(events.readBigUInt64LE(i * EV + EV_DATA));
    if (token === WAKE) read(wakeFd, Buffer.alloc(8), 8);
    else out.push(token);
  }
  return out;
}

export function eventBuffer(): Buffer {
  return Buffer.alloc(MAX_EVENTS * EV);
}

export interface PidfdWatchData {
  ep: number;
  wakeFd: number;
  /** Int32Array over it: [stop flag] */
  ctl: SharedArrayBuffer;
}

export interface PidfdWatch {
  /**
   * Call `onExit` once when process `pid` exits (on the next turn of the loop when it is already
   * gone). Returns a cancel function (idempotent). Throws a KernelError when pidfd_open fails
   * otherwise (EMFILE, ENOSYS…).
   */
  watch(pid: number, onExit: () => void): () => void;
  /** How many processes are watched. */
  readonly size: number;
  /** Cancel every watch and end the thread. Idempotent. */
  close(): Promise<void>;
}

interface Entry { fd: number; pid: number; onExit: () => void }

export function createPidfdWatch(o: { onError?: (e: unknown) => void } = {}): PidfdWatch {
  const entries = new Map<number, Entry>();
  let nextToken = WAKE + 1;
  let ep = -1;
  let wakeFd = -1;
  let worker: Worker | undefined;
  let exited: Promise<void> | undefined;
  let ctl: Int32Array | undefined;
  let closed = false;
  const ev = Buffer.alloc(EV);

  const register = (fd: number, token: number, events: number) => {
    ev.fill(0);
    ev.writeUInt32LE(events >>> 0, 0);
    ev.writeBigUInt64LE(BigInt(token), EV_DATA);
    check(epollCtl(ep, EPOLL_CTL_ADD, fd, ev) as number, 'epoll_ctl add', `pidfd ${fd}`);
  };
  const drop = (token: number) => {
    const e = entries.get(token);
    if (!e) return undefined;
    entries.delete(token);
    epollCtl(ep, EPOLL_CTL_DEL, e.fd, ev); // gone from the set already if it fired: ignored
    sys.close(e.fd);
    return e;
  };
  const start = () => {
    ep = check(epollCreate1(CLOEXEC) as number, 'epoll_create1', 'pidfd watch');
    wakeFd = check(eventfd(0, CLOEXEC | NONBLOCK) as number, 'eventfd', 'pidfd watch');
    register(wakeFd, WAKE, EPOLLIN);
    const buf = new SharedArrayBuffer(4);
    ctl = new Int32Array(buf);
    const data: PidfdWatchData = { ep, wakeFd, ctl: buf };
    const w = new Worker(new URL('./pidfd-worker.js', import.meta.url), { workerData: data });
    exited = new Promise<void>((r) => w.once('exit', () => r()));
    w.on('message', (tokens: number[]) => {
      for (const t of tokens) {
        const e = drop(t);
        if (!e) continue; // cancelled meanwhile
        try { e.onExit(); } catch (err) { o.onError?.(err); }
      }
    });
    w.on('error', (e) => o.onError?.(e));
    w.unref();
    worker = w;
  };

  return {
    get size() { return entries.size; },
    watch(pid, onExit) {
      if (closed) throw new KernelError('pidfd watch', `pid ${pid}`, 9 /* EBADF: closed */);
      let fd: number;
      try {
        fd = pidfdOpen(pid);
      } catch (e) {
        if (!(e instanceof KernelError && e.errno === ESRCH)) throw e;
        let live = true;
        setImmediate(() => { if (live) onExit(); });
        return () => { live = false; };
      }
      try {
        if (!worker) start();
        const token = nextToken++;
        register(fd, token, EPOLLIN | EPOLLONESHOT);
        entries.set(token, { fd, pid, onExit });
        return () => { drop(token); };
      } catch (e) {
        sys.close(fd);
        throw e;
      }
    },
    async close() {
      if (closed) return;
      closed = true;
      for (const t of [...entries.keys()]) drop(t);
      if (!worker) return;
      Atomics.store(ctl!, 0, 1);
      write(wakeFd, Buffer.from([1, 0, 0, 0, 0, 0, 0, 0]), 8);
      await exited;
      sys.close(ep);
      sys.close(wakeFd);
      worker = undefined;
    },
  };
}
