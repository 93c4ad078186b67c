// core/dns/udp-offload.ts — the main thread's side of udp-worker.ts: a small fixed set of worker
// threads (default 1; the daemon uses min(2, cores)), each serving every sandbox's UDP socket with
// recvmmsg/sendmmsg from its own replica of the record tables. EPOLLEXCLUSIVE wakes one thread
// per burst; under load both read the same socket.
//
// Interface (server.ts is the only user):
//   const off = new UdpOffload({ records, ioModule, ttl, log, onQuery })
//   await off.add(sandboxId, fd)    the threads answer fd from now on (they start on first use)
//   await off.remove(fd)            every thread has let go of fd, and fd is closed (idempotent)
//   off.sendTo(fd, answer, peer)    an answer from the main thread (forwarded / non-local queries)
//   await off.close()               remove every fd, stop the threads
// onQuery(sandboxId, fd, msg, peer) receives what a thread could not answer locally.
// A thread that dies is logged, and all of them are restarted on the same sockets.
//
// Why a fixed set for all sandboxes, not a thread per socket: a thread costs an isolate
// (megabytes) and a replica of every record; one thread already moves 2–3× what the main thread's
// dgram path does (docs/benchmarks.md ## dns), and the main thread stays free for the API and
// forwarding.
import { Worker, MessageChannel, type MessagePort } from 'node:worker_threads';
import type * as UdpBatch from '../kernel/udp-batch.js';
import type { Logger } from '../log.js';
import { UnavailableError } from '../errors.js';
import type { DnsRecords } from './records.js';
import { VERSION, type FromWorker, type ToWorker, type UdpWorkerData } from './udp-worker.js';

export interface UdpOffloadOptions {
  records: DnsRecords;
  /** URL of core/kernel/udp-batch.js (core/dns does not import the kernel layer). */
  ioModule: string;
  ttl: number;
  /** Datagrams per recvmmsg (default 64). */
  batch?: number;
  /** Worker threads, each serving every socket (default 1). */
  threads?: number;
  log?: Logger;
  onQuery: (sandboxId: string, fd: number, msg: Buffer, peer: Buffer) => void;
}

interface Thread {
  worker: Worker;
  port: MessagePort;
  wakeFd: number;
  exited: Promise<void>;
}

interface Running {
  threads: Thread[];
  unwatch: () => void;
}

/** An add / remove sent to every thread: settled when all have answered (or one failed). */
interface Waiter { left: number; resolve: () => void; reject: (e: Error) => void }

export class UdpOffload {
  private io: Promise<typeof UdpBatch> | undefined;
  private loaded: typeof UdpBatch | undefined;
  private running: Promise<Running> | undefined;
  /** what `running` resolved to */
  private current: Running | undefined;
  /** fd → sandbox, for every fd the worker serves or is about to */
  private readonly sockets = new Map<number, string>();
  /** add / remove requests the worker has not answered yet, by sequence number */
  private readonly waiting = new Map<number, Waiter>();
  private seq = 0;
  private closing = false;

  constructor(private readonly o: UdpOffloadOptions) {}

  /** The number of fds being served (tests, diagnostics). */
  get size(): number {
    return this.sockets.size;
  }

  /** Is a worker thread running? (tests) */
  get threadRunning(): boolean {
    return this.running !== undefined;
  }

  /** Takes ownership of fd: remove() closes it, also after a failed add(). */
  async add(sandboxId: string, fd: number): Promise<void> {
    this.sockets.set(fd, sandboxId);
    if (this.closing) throw new UnavailableError(`dns for sandbox ${sandboxId}: the resolver is closing`);
    const io = await this.kernelIo();
    // The default receive buffer (rmem_default, ~208 KiB) overflows under bursts (UdpRcvbufErrors
    // seen with aardvark and Docker under dnsperf); the kernel caps this at rmem_max.
    io.setRecvBuffer(fd, 4 << 20);
    const r = await this.start();
    await this.ask(r, { t: 'add', seq: ++this.seq, fd, sandboxId });
  }

  async remove(fd: number): Promise<void> {
    if (!this.sockets.has(fd)) return;
    const r = this.running ? await this.running.catch(() => undefined) : undefined;
    try {
      if (r) await this.ask(r, { t: 'remove', seq: ++this.seq, fd });
    } catch { /* the worker is gone: nobody reads fd any more */ }
    this.sockets.delete(fd);
    (await this.kernelIo()).closeFd(fd);
  }

  sendTo(fd: number, b: Buffer, peer: Buffer, sandboxId: string): void {
    // The fd may have been closed (and its number reused) while the answer was being forwarded.
    if (this.sockets.get(fd) !== sandboxId || !this.loaded) return;
    this.loaded.sendTo(fd, b, peer);
  }

  async close(): Promise<void> {
    this.closing = true;
    await Promise.all([...this.sockets.keys()].map((fd) => this.remove(fd)));
    const r = this.running ? await this.running.catch(() => undefined) : undefined;
    this.running = undefined;
    this.current = undefined;
    if (r) await this.stop(r);
  }

  /** Stop every thread of `r` (each sees 'stop' at once; terminate() if one hangs). */
  private async stop(r: Running): Promise<void> {
    r.unwatch();
    for (const t of r.threads) {
      t.port.postMessage({ t: 'stop' } satisfies ToWorker);
      this.loaded!.signal(t.wakeFd);
    }
    const timer = setTimeout(() => { for (const t of r.threads) void t.worker.terminate(); }, 2000);
    await Promise.all(r.threads.map((t) => t.exited));
    clearTimeout(timer);
    for (const t of r.threads) {
      t.port.close();
      this.loaded!.closeFd(t.wakeFd);
    }
  }

  /** core/kernel/udp-batch.js, loaded on first use. */
  kernelIo(): Promise<typeof UdpBatch> {
    this.io ??= (import(this.o.ioModule) as Promise<typeof UdpBatch>).then((m) => (this.loaded = m));
    return this.io;
  }

  private ask(r: Running, m: ToWorker & { seq: number }): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      this.waiting.set(m.seq, { left: r.threads.length, resolve, reject });
      // An unref'd worker's answer would not keep the loop alive while we wait for it.
      if (this.waiting.size === 1) for (const t of r.threads) t.worker.ref();
      for (const t of r.threads) {
        t.port.postMessage(m);
        this.loaded!.signal(t.wakeFd);
      }
    });
  }

  /** One thread answered request `seq` (e: it failed, which settles the request at once). */
  private settle(seq: number, e?: Error): void {
    const w = this.waiting.get(seq);
    if (!w) return;
    if (!e && --w.left > 0) return;
    this.waiting.delete(seq);
    if (this.waiting.size === 0) for (const t of this.current?.threads ?? []) t.worker.unref();
    if (e) w.reject(e);
    else w.resolve();
  }

  private start(): Promise<Running> {
    this.running ??= this.spawn();
    return this.running;
  }

  private async spawn(): Promise<Running> {
    const io = await this.kernelIo();
    const n = Math.max(1, this.o.threads ?? 1);
    const ctl = new Int32Array(new SharedArrayBuffer(4));
    const channels = Array.from({ length: n }, () => new MessageChannel());
    let version = 0;
    // Snapshot and subscription in one synchronous step: no change can fall between them.
    const snapshot = this.o.records.snapshot();
    const unwatch = this.o.records.watch((c) => {
      version = (version + 1) | 0;
      for (const ch of channels) ch.port1.postMessage({ t: 'records', v: version, c } satisfies ToWorker);
      Atomics.store(ctl, VERSION, version);
    });
    const r: Running = { threads: [], unwatch };
    const readies: Promise<void>[] = [];
    for (const { port1, port2 } of channels) {
      const wakeFd = io.eventFd();
      const data: UdpWorkerData = {
        ioModule: this.o.ioModule, batch: this.o.batch ?? 64, ttl: this.o.ttl, wakeFd,
        ctl: ctl.buffer as SharedArrayBuffer, port: port2, snapshot, version: 0,
      };
      const worker = new Worker(new URL('./udp-worker.js', import.meta.url), { workerData: data, transferList: [port2] });
      const exited = new Promise<void>((res) => worker.once('exit', () => res()));
      const t: Thread = { worker, port: port1, wakeFd, exited };
      r.threads.push(t);
      readies.push(new Promise<void>((resolve, reject) => {
        worker.once('error', reject);
        void exited.then(() => reject(new UnavailableError('dns udp worker exited while starting')));
        worker.on('message', (m: FromWorker) => {
          if (m === 'ready') {
            worker.off('error', reject);
            resolve();
          } else if (m.t === 'query') {
            const sandboxId = this.sockets.get(m.fd);
            if (sandboxId !== undefined) {
              this.o.onQuery(sandboxId, m.fd, Buffer.from(m.msg.buffer, m.msg.byteOffset, m.msg.byteLength),
                Buffer.from(m.peer.buffer, m.peer.byteOffset, m.peer.byteLength));
            }
          } else if (m.t === 'failed') {
            this.o.log?.error('dns udp socket failed', { fd: m.fd, sandbox: this.sockets.get(m.fd), error: m.error });
          } else {
            this.settle(m.seq, m.error === undefined ? undefined : new UnavailableError(`dns udp worker: ${m.error}`));
          }
        });
      }));
      void exited.then(() => this.onExit(r));
    }
    try {
      await Promise.all(readies);
    } catch (e) {
      this.running = undefined;
      await this.stop(r);
      throw e;
    }
    for (const t of r.threads) {
      t.worker.on('error', (e) => this.o.log?.error('dns udp worker failed', { error: e }));
      // Never the reason the daemon stays up: close() stops it, and process exit ends it anyway.
      // (Not before it is ready — the caller awaits it — nor before the 'message' listener, which
      // re-refs the worker's port.)
      t.worker.unref();
      t.port.unref();
    }
    this.current = r;
    return r;
  }

  /** A thread ended. Unless we stopped it, stop the others and start anew for the same sockets. */
  private onExit(r: Running): void {
    if (this.current !== r || this.closing) return;
    for (const seq of [...this.waiting.keys()]) this.settle(seq, new UnavailableError('dns udp worker exited'));
    this.o.log?.error('dns udp worker exited; restarting the offload threads');
    this.running = undefined;
    this.current = undefined;
    const again = [...this.sockets];
    this.sockets.clear();
    void this.stop(r).then(() => {
      for (const [fd, sandboxId] of again) {
        this.add(sandboxId, fd).catch((e: unknown) => this.o.log?.error('dns udp socket lost', { fd, sandbox: sandboxId, error: e }));
      }
    });
  }
}
