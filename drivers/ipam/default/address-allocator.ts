// drivers/ipam/default/address-allocator.ts — hands out and takes back the addresses of one pool.
//
// State in the store (all under the IPAM's scoped key space):
//   addr/<pool>/cursor      { next }   next-fit cursor (offset from the subnet's network address)
//   addr/<pool>/b/<index>   { bits }   1024-address bitmap block, base64; absent = all free
// A request costs O(1) amortised: the cursor says where to look, one 128-byte block is scanned,
// and the commit touches the cursor and that block. No scan of all keys, no enumeration of an
// IPv6 /64.
//
// Concurrency: requests for one pool are queued and applied in batches, one store commit per
// batch (group commit: while one commit is being made durable the next batch gathers). Every
// commit compares the revisions of the pool record, the cursor and each block it read, so two
// IPAM instances on one store (or two processes) can never both take an address: the loser gets
// a ConflictError, drops its cache, reloads and retries.

import { ConflictError, InvalidArgumentError, NotFoundError, UnavailableError, isTsdError } from '../../../core/errors.js';
import type { Store, StoreCompare, StoreOp } from '../../../core/store/store.js';
import { bitsOf, familyName, formatCidr, formatIp, lastOf, sizeOf, type Cidr, type Ip } from './ip.js';
import { keys } from './pool-id.js';

const BLOCK_BITS = 1024n;
const BLOCK_BYTES = Number(BLOCK_BITS / 8n);
/** Upper bound of blocks looked at by one search (only reachable in huge, nearly full v6 pools). */
const MAX_BLOCKS_SCANNED = 1 << 16;
const MAX_BATCH = 512;
const MAX_ATTEMPTS = 200;

export interface PoolRecord {
  id: string;
  space: string;
  subnet: string;
  range: string | null;
  refs: number;
}

export type AllocJob =
  | { kind: 'any' }
  | { kind: 'gateway' }
  | { kind: 'static'; ip: Ip; field: string }
  | { kind: 'release'; ip: Ip };

interface PendingJob {
  job: AllocJob;
  resolve: (offset: bigint) => void;
  reject: (e: unknown) => void;
}

interface Block {
  bits: Uint8Array;
  /** Store revision of the block key; 0 = absent. */
  rev: number;
}

interface Loaded {
  poolRev: number;
  cursor: bigint;
  cursorRev: number;
  blocks: Map<bigint, Block>;
}

const getBit = (b: Uint8Array, i: number) => (b[i >> 3]! & (1 << (i & 7))) !== 0;
const setBit = (b: Uint8Array, i: number) => { b[i >> 3] = b[i >> 3]! | (1 << (i & 7)); };
const clearBit = (b: Uint8Array, i: number) => { b[i >> 3] = b[i >> 3]! & ~(1 << (i & 7)); };

/** First clear bit in [from, to] of a block, or -1. Skips full bytes. */
function firstClear(b: Uint8Array, from: number, to: number): number {
  let i = from;
  while (i <= to) {
    if ((i & 7) === 0 && i + 7 <= to && b[i >> 3] === 0xff) { i += 8; continue; }
    if (!getBit(b, i)) return i;
    i++;
  }
  return -1;
}

export class AddressAllocator {
  readonly subnet: Cidr;
  /** Usable offsets of the subnet (v4: not network/broadcast; v6: not the subnet-router anycast). */
  readonly firstUsable: bigint;
  readonly lastUsable: bigint;
  /** Where dynamic addresses come from: the ip-range clipped to the usable part. */
  readonly rangeLo: bigint;
  readonly rangeHi: bigint;
  private state: Loaded | undefined;
  private readonly queue: PendingJob[] = [];
  private draining = false;

  constructor(
    private readonly store: Store,
    readonly poolKey: string,
    readonly poolId: string,
    subnet: Cidr,
    readonly range: Cidr | null,
  ) {
    this.subnet = subnet;
    const size = sizeOf(subnet);
    const hostBits = bitsOf(subnet.family) - subnet.prefix;
    if (subnet.family === 4) {
      this.firstUsable = hostBits >= 2 ? 1n : 0n;
      this.lastUsable = hostBits >= 2 ? size - 2n : size - 1n;
    } else {
      this.firstUsable = hostBits >= 1 ? 1n : 0n;
      this.lastUsable = size - 1n;
    }
    const lo = range ? range.network - subnet.network : this.firstUsable;
    const hi = range ? lastOf(range) - subnet.network : this.lastUsable;
    this.rangeLo = lo > this.firstUsable ? lo : this.firstUsable;
    this.rangeHi = hi < this.lastUsable ? hi : this.lastUsable;
  }

  /** Queue a job; resolves with the offset taken (or released) once the commit is durable. */
  submit(job: AllocJob): Promise<bigint> {
    return new Promise((resolve, reject) => {
      this.queue.push({ job, resolve, reject });
      if (!this.draining) void this.drain();
    });
  }

  /** Forget cached state (the pool was released or changed elsewhere). */
  invalidate(): void {
    this.state = undefined;
  }

  formatOffset(offset: bigint): string {
    return formatIp(this.subnet.family, this.subnet.network + offset);
  }

  private async drain(): Promise<void> {
    this.draining = true;
    try {
      while (this.queue.length) await this.runBatch(this.queue.splice(0, MAX_BATCH));
    } finally {
      this.draining = false;
    }
  }

  private async load(): Promise<Loaded> {
    if (this.state) return this.state;
    const [pool, cursor] = await Promise.all([
      this.store.get<PoolRecord>(keys.pool(this.poolKey)),
      this.store.get<{ next: string }>(keys.cursor(this.poolKey)),
    ]);
    if (!pool || pool.value.id !== this.poolId) throw new NotFoundError(`pool ${this.poolId}: not found`);
    let next = cursor ? BigInt(cursor.value.next) : this.rangeLo;
    if (next < this.rangeLo || next > this.rangeHi) next = this.rangeLo;
    this.state = { poolRev: pool.revision, cursor: next, cursorRev: cursor?.revision ?? 0, blocks: new Map() };
    return this.state;
  }

  private async block(state: Loaded, index: bigint): Promise<Block> {
    let b = state.blocks.get(index);
    if (!b) {
      const e = await this.store.get<{ bits: string }>(keys.block(this.poolKey, index));
      b = e ? { bits: new Uint8Array(Buffer.from(e.value.bits, 'base64')), rev: e.revision } : { bits: new Uint8Array(BLOCK_BYTES), rev: 0 };
      // A concurrent load may have filled it meanwhile; keep the first copy (same or older rev,
      // and the commit's compare catches staleness either way).
      const again = state.blocks.get(index);
      if (again) return again;
      state.blocks.set(index, b);
    }
    return b;
  }

  private async runBatch(batch: PendingJob[]): Promise<void> {
    for (let attempt = 1; ; attempt++) {
      try {
        await this.tryBatch(batch);
        return;
      } catch (e) {
        if (e instanceof ConflictError && attempt < MAX_ATTEMPTS) {
          // Someone else (another instance or process) changed this pool: reload and redo.
          this.state = undefined;
          await new Promise((r) => setTimeout(r, Math.random() * Math.min(20, attempt)));
          continue;
        }
        this.state = undefined;
        for (const p of batch) p.reject(e);
        return;
      }
    }
  }

  private async tryBatch(batch: PendingJob[]): Promise<void> {
    const state = await this.load();
    // Work on copies; the cache is only updated once the commit succeeded.
    const touched = new Map<bigint, Uint8Array>();
    const bitsFor = async (index: bigint) => {
      let t = touched.get(index);
      if (!t) {
        t = new Uint8Array((await this.block(state, index)).bits);
        touched.set(index, t);
      }
      return t;
    };
    let cursor = state.cursor;
    const outcomes: Array<{ ok: true; offset: bigint } | { ok: false; error: unknown }> = [];

    const findFree = async (lo: bigint, hi: bigint, start: bigint): Promise<bigint | undefined> => {
      let scanned = 0;
      for (const [a, b] of [[start, hi], [lo, start - 1n]] as const) {
        let pos = a;
        while (pos <= b) {
          const index = pos / BLOCK_BITS;
          const base = index * BLOCK_BITS;
          const end = b < base + BLOCK_BITS - 1n ? b : base + BLOCK_BITS - 1n;
          const bits = await bitsFor(index);
          const i = firstClear(bits, Number(pos - base), Number(end - base));
          if (i >= 0) return base + BigInt(i);
          pos = end + 1n;
          if (++scanned > MAX_BLOCKS_SCANNED) return undefined;
        }
      }
      return undefined;
    };

    for (const { job } of batch) {
      try {
        if (job.kind === 'any') {
          const off = await findFree(this.rangeLo, this.rangeHi, cursor);
          if (off === undefined) {
            throw new UnavailableError(`pool ${this.poolId}: no available addresses in ${this.range ? `ip-range ${formatCidr(this.range)}` : `subnet ${formatCidr(this.subnet)}`}`);
          }
          setBit(await bitsFor(off / BLOCK_BITS), Number(off % BLOCK_BITS));
          // Next-fit: the next search starts after this address, so a released address is not
          // handed out again until the cursor wraps (Docker's serial allocation).
          cursor = off + 1n > this.rangeHi ? this.rangeLo : off + 1n;
          outcomes.push({ ok: true, offset: off });
        } else if (job.kind === 'gateway') {
          // First usable address of the subnet, or the next free one after it.
          const off = await findFree(this.firstUsable, this.lastUsable, this.firstUsable);
          if (off === undefined) throw new UnavailableError(`pool ${this.poolId}: no available address for the gateway in subnet ${formatCidr(this.subnet)}`);
          setBit(await bitsFor(off / BLOCK_BITS), Number(off % BLOCK_BITS));
          outcomes.push({ ok: true, offset: off });
        } else {
          const off = this.offsetOf(job.ip, job.kind === 'static' ? job.field : 'address');
          const bits = await bitsFor(off / BLOCK_BITS);
          const bit = Number(off % BLOCK_BITS);
          if (job.kind === 'static') {
            if (getBit(bits, bit)) {
              // The cached block may predate a release by another instance: confirm against the
              // store before refusing (a changed block means reload and retry the batch).
              const now = await this.store.get(keys.block(this.poolKey, off / BLOCK_BITS));
              if ((now?.revision ?? 0) !== state.blocks.get(off / BLOCK_BITS)!.rev) throw new ConflictError(`pool ${this.poolId}: block changed concurrently`);
              throw new ConflictError(`${job.field}: ${this.formatOffset(off)} is already allocated in pool ${this.poolId}`);
            }
            setBit(bits, bit);
          } else {
            clearBit(bits, bit); // releasing a free address is a no-op (idempotent)
          }
          outcomes.push({ ok: true, offset: off });
        }
      } catch (e) {
        // A job's own failure (bad address, taken, exhausted) fails that job only. A store
        // conflict while loading a block fails the batch attempt (retried above).
        if (e instanceof ConflictError && !isJobError(e)) throw e;
        outcomes.push({ ok: false, error: e });
      }
    }

    const compares: StoreCompare[] = [{ key: keys.pool(this.poolKey), revision: state.poolRev }];
    const ops: StoreOp[] = [];
    const newBlocks = new Map<bigint, Uint8Array>();
    for (const [index, bits] of touched) {
      const before = state.blocks.get(index)!;
      if (Buffer.compare(before.bits, bits) === 0) continue;
      compares.push({ key: keys.block(this.poolKey, index), revision: before.rev });
      newBlocks.set(index, bits);
      ops.push(bits.every((x) => x === 0)
        ? { op: 'delete', key: keys.block(this.poolKey, index) }
        : { op: 'put', key: keys.block(this.poolKey, index), value: { bits: Buffer.from(bits).toString('base64') } });
    }
    if (cursor !== state.cursor) {
      compares.push({ key: keys.cursor(this.poolKey), revision: state.cursorRev });
      ops.push({ op: 'put', key: keys.cursor(this.poolKey), value: { next: cursor.toString() } });
    }
    if (ops.length) {
      const rev = await this.store.commit(compares, ops);
      for (const [index, bits] of newBlocks) state.blocks.set(index, { bits, rev: bits.every((x) => x === 0) ? 0 : rev });
      if (cursor !== state.cursor) {
        state.cursor = cursor;
        state.cursorRev = rev;
      }
    }
    batch.forEach((p, i) => {
      const o = outcomes[i]!;
      if (o.ok) p.resolve(o.offset);
      else p.reject(o.error);
    });
  }

  /** Offset of an explicitly named address, validated against the subnet. */
  private offsetOf(ip: Ip, field: string): bigint {
    const s = formatIp(ip.family, ip.value);
    if (ip.family !== this.subnet.family) {
      throw new InvalidArgumentError(`${field}: ${s} is ${familyName(ip.family)} but pool ${this.poolId} is ${familyName(this.subnet.family)}`);
    }
    const off = ip.value - this.subnet.network;
    if (off < 0n || off >= sizeOf(this.subnet)) throw new InvalidArgumentError(`${field}: ${s} is outside subnet ${formatCidr(this.subnet)}`);
    if (off < this.firstUsable) throw new InvalidArgumentError(`${field}: ${s} is the network address of subnet ${formatCidr(this.subnet)}`);
    if (off > this.lastUsable) throw new InvalidArgumentError(`${field}: ${s} is the broadcast address of subnet ${formatCidr(this.subnet)}`);
    return off;
  }
}

/** Conflicts raised for one job ("already allocated") carry this marker; store conflicts do not. */
function isJobError(e: unknown): boolean {
  return isTsdError(e) && / is already allocated in pool /.test(e.message);
}
