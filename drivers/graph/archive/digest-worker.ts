// drivers/graph/archive/digest-worker.ts — sha256 of a layer stream on a second core. The apply
// loop posts copies of its input chunks here and writes files meanwhile; hashing inline would add
// the whole hash time to the apply (about half of GNU tar's extraction time on our machines).
// One worker per process, created on first use and unref'd; streams are told apart by a session id.
// A layer that is a regular file is not posted at all: the worker reads the file itself (hashFile).

import crypto from 'node:crypto';
import fs from 'node:fs';
import { Worker, isMainThread, parentPort } from 'node:worker_threads';

type ToWorker = { id: number; data?: Uint8Array[]; ret?: true; end?: true; file?: { fd: number; start: number }; stop?: true };
type FromWorker = { id: number; acked?: number; returned?: ArrayBuffer[]; digest?: string; bytes?: number; error?: string; stopped?: true };

/** hashFile: bytes read per slice (a buffer that stays in the core's cache) and slices per turn. */
const FILE_READ = 64 << 10;
const FILE_SLICES_PER_TURN = 128;

if (!isMainThread && parentPort) {
  const port = parentPort;
  const hashes = new Map<number, crypto.Hash>();
  const fileStops = new Map<number, { stop: boolean }>();
  const hashFileSlices = (id: number, fd: number, start: number): void => {
    const state = { stop: false };
    fileStops.set(id, state);
    const h = crypto.createHash('sha256');
    const buf = Buffer.allocUnsafeSlow(FILE_READ);
    let pos = start;
    const step = (): void => {
      try {
        for (let i = 0; i < FILE_SLICES_PER_TURN; i++) {
          if (state.stop) {
            fileStops.delete(id);
            port.postMessage({ id, stopped: true } satisfies FromWorker);
            return;
          }
          const r = fs.readSync(fd, buf, 0, FILE_READ, pos);
          if (r === 0) {
            fileStops.delete(id);
            port.postMessage({ id, digest: h.digest('hex'), bytes: pos - start } satisfies FromWorker);
            return;
          }
          h.update(r === FILE_READ ? buf : buf.subarray(0, r));
          pos += r;
        }
      } catch (e) {
        fileStops.delete(id);
        port.postMessage({ id, error: (e as Error).message } satisfies FromWorker);
        return;
      }
      setImmediate(step); // let other sessions' messages (and a stop) in between slices
    };
    step();
  };
  port.on('message', (m: ToWorker) => {
    if (m.file) return hashFileSlices(m.id, m.file.fd, m.file.start);
    if (m.stop) {
      const st = fileStops.get(m.id);
      if (st) st.stop = true;
      else port.postMessage({ id: m.id, stopped: true } satisfies FromWorker);
      return;
    }
    let h = hashes.get(m.id);
    if (!h) hashes.set(m.id, (h = crypto.createHash('sha256')));
    if (m.data) {
      let n = 0;
      for (const d of m.data) { h.update(d); n += d.byteLength; }
      if (m.ret) {
        // Pooled buffers go back to the apply's pool (transferred again: no copy, no allocation).
        const returned = [...new Set(m.data.map((d) => d.buffer as ArrayBuffer))];
        port.postMessage({ id: m.id, acked: n, returned } satisfies FromWorker, returned);
      } else {
        port.postMessage({ id: m.id, acked: n } satisfies FromWorker);
      }
    }
    if (m.end) {
      hashes.delete(m.id);
      port.postMessage({ id: m.id, digest: h.digest('hex') } satisfies FromWorker);
    }
  });
}

const BATCH = 16 << 20; // one message per 16 MiB (each postMessage costs ~1-2 ms in the apply loop)
let worker: Worker | undefined;
let nextId = 1;
interface Session { onAck: (n: number, returned?: ArrayBuffer[]) => void; onDigest: (hex: string, bytes?: number) => void; onFail: (e: Error) => void; onStopped?: () => void }
const sessions = new Map<number, Session>();

function getWorker(): Worker {
  if (worker) return worker;
  const w = new Worker(new URL(import.meta.url));
  w.on('message', (m: FromWorker) => {
    const s = sessions.get(m.id);
    if (!s) return;
    if (m.acked !== undefined) s.onAck(m.acked, m.returned);
    if (m.digest !== undefined) s.onDigest(m.digest, m.bytes);
    if (m.error !== undefined) s.onFail(new Error(m.error));
    if (m.stopped) s.onStopped?.();
  });
  // A dead worker fails every open session (their digests, and any buffers it held, are lost).
  const fail = (e: Error) => {
    if (worker === w) worker = undefined;
    for (const s of [...sessions.values()]) s.onFail(e);
  };
  w.on('error', (e) => fail(e));
  w.on('exit', (code) => fail(new Error(`digest worker exited with code ${code}`)));
  w.unref(); // ref'd only while a session is open (see OffThreadSha256)
  worker = w;
  return w;
}

/** Incremental sha256 computed off the main thread, with bounded memory in flight. */
export class OffThreadSha256 {
  private readonly id = nextId++;
  private readonly w = getWorker();
  private inflight = 0;
  private waiter: (() => void) | null = null;
  private result: Promise<string>;

  private readonly maxInflight: number;
  private readonly batchLimit: number;
  private readonly returnBuffers: ((bufs: ArrayBuffer[]) => void) | undefined;

  /**
   * `returnBuffers`: chunks handed over as owned (see update) come back through it once hashed,
   * for a buffer pool. `batchBytes`: bytes per message (must stay well below what a pool holds,
   * or the reader waits for buffers sitting in an unsent batch).
   */
  private failure: Error | null = null;

  constructor(opts: {
    maxInflight?: number;
    batchBytes?: number;
    returnBuffers?: (bufs: ArrayBuffer[]) => void;
    /** The worker died: the stream cannot be hashed (a pool waiting for returns must give up). */
    onFail?: (e: Error) => void;
  } = {}) {
    this.maxInflight = opts.maxInflight ?? 96 << 20;
    this.batchLimit = opts.batchBytes ?? BATCH;
    this.returnBuffers = opts.returnBuffers;
    let resolve!: (hex: string) => void;
    let reject!: (e: Error) => void;
    this.result = new Promise((res, rej) => { resolve = res; reject = rej; });
    this.result.catch(() => {}); // observed through digest()
    if (sessions.size === 0) this.w.ref();
    sessions.set(this.id, {
      onAck: (n, returned) => {
        this.inflight -= n;
        if (returned && this.returnBuffers) this.returnBuffers(returned);
        if (this.waiter && this.inflight <= this.maxInflight / 2) {
          const wake = this.waiter;
          this.waiter = null;
          wake();
        }
      },
      onDigest: (hex) => { this.close(); resolve(hex); },
      onFail: (e) => {
        this.failure = new Error(`sha256 worker: ${e.message}`);
        this.close();
        reject(this.failure);
        const wake = this.waiter;
        this.waiter = null;
        wake?.();
        opts.onFail?.(this.failure);
      },
    });
  }

  private close(): void {
    sessions.delete(this.id);
    if (sessions.size === 0) this.w.unref();
  }

  /** Give up on this stream (the apply failed): the worker drops its state. */
  abort(): void {
    this.w.postMessage({ id: this.id, end: true } satisfies ToWorker);
    this.close();
    this.waiter?.();
  }

  private batch: Uint8Array[] = [];
  private transfer: ArrayBuffer[] = [];
  private batchBytes = 0;

  /**
   * Hand `chunk` over. The caller must be done with it: a chunk that owns its whole ArrayBuffer is
   * transferred (no copy, and detached here); a slice of a larger buffer is copied, unless `owned`
   * says the chunk's whole ArrayBuffer is the caller's to give (a pool buffer, possibly only
   * partly filled): then it is transferred and comes back through returnBuffers. Chunks are sent
   * in batches. Resolves at once unless too much is waiting to be hashed.
   */
  update(chunk: Uint8Array, owned = false): Promise<void> | undefined {
    if (this.failure) throw this.failure;
    const buf = chunk.buffer;
    if (buf instanceof ArrayBuffer && (owned || (chunk.byteOffset === 0 && chunk.byteLength === buf.byteLength && chunk.byteLength >= 65536))) {
      this.batch.push(chunk);
      this.transfer.push(buf);
    } else {
      this.batch.push(new Uint8Array(chunk));
    }
    this.batchBytes += chunk.byteLength;
    if (this.batchBytes >= this.batchLimit) this.flush();
    if (this.inflight <= this.maxInflight) return undefined;
    return new Promise((r) => { this.waiter = r; });
  }

  private flush(): void {
    if (!this.batch.length) return;
    this.inflight += this.batchBytes;
    const msg: ToWorker = { id: this.id, data: this.batch };
    if (this.returnBuffers) msg.ret = true;
    this.w.postMessage(msg, this.transfer);
    this.batch = [];
    this.transfer = [];
    this.batchBytes = 0;
  }

  digest(): Promise<string> {
    if (this.failure) return this.result;
    this.flush();
    this.w.postMessage({ id: this.id, end: true } satisfies ToWorker);
    return this.result;
  }
}

/**
 * sha256 of the regular file open on `fd`, from byte `start` to EOF, read and hashed by the worker
 * (positional reads: the caller's file offset is untouched, and the caller may read the same fd
 * meanwhile). The fd must stay open until `result` settles or `stop()` resolves.
 */
export function hashFileOffThread(fd: number, start: number): { result: Promise<{ digest: string; bytes: number }>; stop: () => Promise<void> } {
  const id = nextId++;
  const w = getWorker();
  let resolve!: (r: { digest: string; bytes: number }) => void;
  let reject!: (e: Error) => void;
  const result = new Promise<{ digest: string; bytes: number }>((res, rej) => { resolve = res; reject = rej; });
  result.catch(() => {}); // observed by the caller, or dropped after stop()
  let settled = false;
  let onStopped: (() => void) | null = null;
  const close = () => {
    settled = true;
    sessions.delete(id);
    if (sessions.size === 0) w.unref();
    onStopped?.();
  };
  if (sessions.size === 0) w.ref();
  sessions.set(id, {
    onAck: () => {},
    onDigest: (hex, bytes) => { close(); resolve({ digest: hex, bytes: bytes ?? 0 }); },
    onFail: (e) => { close(); reject(new Error(`sha256 worker: ${e.message}`)); },
    onStopped: () => { close(); reject(new Error('sha256 worker: stopped')); },
  });
  w.postMessage({ id, file: { fd, start } } satisfies ToWorker);
  return {
    result,
    stop: () => {
      if (settled) return Promise.resolve();
      const done = new Promise<void>((r) => { onStopped = r; });
      w.postMessage({ id, stop: true } satisfies ToWorker);
      return done;
    },
  };
}
