// core/dns/udp-worker.ts — a worker thread that serves every offloaded sandbox UDP socket:
// epoll over the sockets, batches of datagrams in (recvmmsg), local answers out (sendmmsg), from
// its own replica of the record tables. Everything that is not a local name (forwarding,
// NXDOMAIN / REFUSED decisions, garbage that needs logging) goes to the main thread, which
// answers it on the same fd. Started, fed and stopped by udp-offload.ts; protocol below.
//
// main → worker, on `port`, each followed by signal(wakeFd) when the worker must act now:
//   { t: 'records', v, c }   a record change (DnsRecords.watch), then ctl[VERSION] = v
//   { t: 'add', seq, fd, sandboxId } / { t: 'remove', seq, fd } / { t: 'stop' }
// worker → main, on parentPort:
//   'ready' · { t: 'done', seq, error? } (the answer to add / remove number seq)
//   { t: 'query', fd, msg, peer } · { t: 'failed', fd, error } (a socket the worker gave up on)
//
// Record changes: before answering a batch the worker compares ctl[VERSION] with the version it
// has applied and, when they differ, drains the port. The main thread posts a change before
// bumping the version and both before the changing call returns, so a query sent after
// addEndpoint / removeEndpoint returned is answered with the change applied — the guarantee of
// the main-thread server.
//
// The batched I/O module (core/kernel/udp-batch.js) is named by URL in workerData: core/dns
// never imports the kernel layer itself (the daemon or the bench injects it).
import { parentPort, receiveMessageOnPort, workerData, type MessagePort } from 'node:worker_threads';
import type * as UdpBatch from '../kernel/udp-batch.js';
import { DnsRecords, type RecordsChange } from './records.js';
import { localAnswer } from './local-answer.js';
import { buildError, parseQuery } from './wire.js';

export interface UdpWorkerData {
  ioModule: string;
  batch: number;
  ttl: number;
  /** eventfd the main thread signals after posting add / remove / stop */
  wakeFd: number;
  /** Int32Array over a SharedArrayBuffer: [records version] */
  ctl: SharedArrayBuffer;
  port: MessagePort;
  snapshot: RecordsChange[];
  version: number;
}

/** Index into ctl. */
export const VERSION = 0;

export type ToWorker =
  | { t: 'records'; v: number; c: RecordsChange }
  | { t: 'add'; seq: number; fd: number; sandboxId: string }
  | { t: 'remove'; seq: number; fd: number }
  | { t: 'stop' };

export type FromWorker =
  | 'ready'
  | { t: 'done'; seq: number; error?: string }
  | { t: 'query'; fd: number; msg: Uint8Array; peer: Uint8Array }
  | { t: 'failed'; fd: number; error: string };

/** Batches read from one socket before the others get their turn. */
const ROUNDS = 4;
/** epoll_wait timeout: bounds how long a terminate() waits for the thread (Node joins it at exit). */
const WAIT_MS = 250;

async function main(d: UdpWorkerData): Promise<void> {
  const io = (await import(d.ioModule)) as typeof UdpBatch;
  const post = (m: FromWorker) => parentPort!.postMessage(m);
  const ctl = new Int32Array(d.ctl);
  const records = new DnsRecords();
  for (const c of d.snapshot) records.apply(c);
  let applied = d.version;
  const sockets = new Map<number, string>();
  const batch = io.open(d.batch);
  const poll = io.poller();
  poll.add(d.wakeFd);
  let stopping = false;

  /** Apply everything posted so far (records, sockets, stop). */
  const control = () => {
    for (let m = receiveMessageOnPort(d.port); m; m = receiveMessageOnPort(d.port)) {
      const x = m.message as ToWorker;
      switch (x.t) {
        case 'records':
          records.apply(x.c);
          applied = x.v;
          break;
        case 'add':
          try {
            poll.add(x.fd, true); // other threads may watch it too: one wake-up per datagram burst
            sockets.set(x.fd, x.sandboxId);
            post({ t: 'done', seq: x.seq });
          } catch (e) {
            post({ t: 'done', seq: x.seq, error: (e as Error).message });
          }
          break;
        case 'remove':
          poll.remove(x.fd);
          sockets.delete(x.fd);
          post({ t: 'done', seq: x.seq });
          break;
        case 'stop':
          stopping = true;
          break;
      }
    }
  };

  const serve = (fd: number, sandboxId: string) => {
    for (let round = 0; round < ROUNDS; round++) {
      const n = batch.recv(fd);
      if (n === 0) return;
      if (Atomics.load(ctl, VERSION) !== applied) {
        control();
        if (sockets.get(fd) !== sandboxId) return; // removed meanwhile: not ours to answer
      }
      for (let i = 0; i < n; i++) {
        const msg = batch.data(i);
        const r = parseQuery(msg);
        if (r.kind === 'drop') continue;
        if (r.kind === 'error') {
          batch.reply(i, buildError(r.id, r.flags1, r.rcode, r.question));
          continue;
        }
        const q = r.query;
        let out: Buffer | undefined;
        try {
          out = localAnswer(records, sandboxId, q, Math.min(q.udpSize, 4096), d.ttl);
        } catch {
          out = undefined; // a bug: the main thread answers (and logs) it
        }
        if (out) batch.reply(i, out);
        else post({ t: 'query', fd, msg: Buffer.from(msg), peer: batch.peer(i) });
      }
      batch.flush(fd);
      if (n < d.batch) return;
    }
  };

  parentPort!.postMessage('ready');
  while (!stopping) {
    const n = poll.wait(WAIT_MS);
    for (let i = 0; i < n && !stopping; i++) {
      const fd = poll.ready(i);
      if (fd === d.wakeFd) {
        io.drain(d.wakeFd);
        control();
        continue;
      }
      const sandboxId = sockets.get(fd);
      if (sandboxId === undefined) continue;
      try {
        serve(fd, sandboxId);
      } catch (e) {
        // This socket is broken (closed under us?): stop watching it, keep serving the others.
        poll.remove(fd);
        sockets.delete(fd);
        post({ t: 'failed', fd, error: (e as Error).message });
      }
    }
  }
  poll.close();
  d.port.close();
}

if (parentPort && workerData) {
  main(workerData as UdpWorkerData).catch((e: unknown) => {
    // Surfaces as the Worker's 'error' event on the main thread.
    setImmediate(() => { throw e; });
  });
}
