// drivers/graph/archive/digest-worker.ts — sha256 of a layer stream on a second core. The apply
// loop posts copies of its input chunks here and writes files meanwhile; hashing inline would add
// the whole hash time to the apply (about half of GNU tar's extraction time on our machines).
// One worker per process, created on first use and unref'd; streams are told apart by a session id.

import crypto from 'node:crypto';
import { Worker, isMainThread, parentPort } from 'node:worker_threads';

type ToWorker = { id: number; data?: Uint8Array[]; end?: true };
type FromWorker = { id: number; acked?: number; digest?: string };

if (!isMainThread && parentPort) {
  const port = parentPort;
  const hashes = new Map<number, crypto.Hash>();
  port.on('message', (m: ToWorker) => {
    let h = hashes.get(m.id);
    if (!h) hashes.set(m.id, (h = crypto.createHash('sha256')));
    if (m.data) {
      let n = 0;
      for (const d of m.data) { h.update(d); n += d.byteLength; }
      port.postMessage({ id: m.id, acked: n } satisfies FromWorker);
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
const sessions = new Map<number, { onAck: (n: number) => void; onDigest: (hex: string) => void }>();

function getWorker(): Worker {
  if (worker) return worker;
  const w = new Worker(new URL(import.meta.url));
  w.on('message', (m: FromWorker) => {
    const s = sessions.get(m.id);
    if (!s) return;
    if (m.acked !== undefined) s.onAck(m.acked);
    if (m.digest !== undefined) s.onDigest(m.digest);
  });
  w.on('error', () => { worker = undefined; });
  w.on('exit', () => { worker = undefined; });
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

  constructor(private readonly maxInflight = 96 << 20) {
    let resolve!: (hex: string) => void;
    this.result = new Promise((r) => { resolve = r; });
    if (sessions.size === 0) this.w.ref();
    sessions.set(this.id, {
      onAck: (n) => {
        this.inflight -= n;
        if (this.waiter && this.inflight <= this.maxInflight / 2) {
          const wake = this.waiter;
          this.waiter = null;
          wake();
        }
      },
      onDigest: (hex) => { this.close(); resolve(hex); },
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
   * transferred (no copy, and detached here); a slice of a larger buffer is copied. Chunks are
   * sent in batches of a few MiB. Resolves at once unless too much is waiting to be hashed.
   */
  update(chunk: Uint8Array): Promise<void> | undefined {
    const buf = chunk.buffer;
    if (buf instanceof ArrayBuffer && chunk.byteOffset === 0 && chunk.byteLength === buf.byteLength && chunk.byteLength >= 65536) {
      this.batch.push(chunk);
      this.transfer.push(buf);
    } else {
      this.batch.push(new Uint8Array(chunk));
    }
    this.batchBytes += chunk.byteLength;
    if (this.batchBytes >= BATCH) this.flush();
    if (this.inflight <= this.maxInflight) return undefined;
    return new Promise((r) => { this.waiter = r; });
  }

  private flush(): void {
    if (!this.batch.length) return;
    this.inflight += this.batchBytes;
    this.w.postMessage({ id: this.id, data: this.batch } satisfies ToWorker, this.transfer);
    this.batch = [];
    this.transfer = [];
    this.batchBytes = 0;
  }

  digest(): Promise<string> {
    this.flush();
    this.w.postMessage({ id: this.id, end: true } satisfies ToWorker);
    return this.result;
  }
}
