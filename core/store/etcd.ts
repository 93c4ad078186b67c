// core/store/etcd.ts — the Store on etcd v3 (etcd3 client), for state shared by several hosts.
//
// Mapping: every key lives under `prefix`; a value is its JSON text. A key's revision is etcd's
// mod_revision and the store-wide revision is etcd's cluster revision, so revisions are monotonic
// across every client of the cluster. commit() is one etcd Txn: each compare is
// `mod_revision == r` (r = 0: `create_revision == 0`, i.e. the key is absent), then every op; on
// a failed compare the Txn reads the compared keys back so the ConflictError can say what changed.
// A write is acknowledged after etcd has committed it through raft (durable on a quorum's WAL).
// watch() is an etcd watch on the prefix, started just after the newest revision this client has
// seen, so no change made after the call (by anyone) is missed.

import { CompareResult, CompareTarget, Etcd3, type IKeyValue, type IRequestOp, type Watcher } from 'etcd3';
import { ConflictError, InvalidArgumentError, UnavailableError, isTsdError } from '../errors.js';
import type { Store, StoreCompare, StoreEntry, StoreOp, StoreWatchEvent } from './store.js';

export interface EtcdStoreConfig {
  endpoints: string[];
  /** Every key is stored under this prefix (e.g. "/tsd/"). */
  prefix: string;
  dialTimeoutMs?: number;
}

/** The smallest key greater than every key starting with `p` (etcd's prefix range end). */
function prefixEnd(p: Buffer): Buffer {
  const end = Buffer.from(p);
  for (let i = end.length - 1; i >= 0; i--) {
    if (end[i]! < 0xff) {
      end[i] = end[i]! + 1;
      return end.subarray(0, i + 1);
    }
  }
  return Buffer.from([0]); // whole key space
}

export class EtcdStore implements Store {
  readonly kind = 'etcd' as const;
  private readonly prefix: Buffer;
  /** Newest cluster revision this client has seen (watch start point). */
  private seen = 0;
  private readonly watchers = new Set<{ cancel(): void }>();

  private constructor(
    private readonly client: Etcd3,
    prefix: string,
    private readonly endpoints: readonly string[],
  ) {
    this.prefix = Buffer.from(prefix);
  }

  static async open(config: EtcdStoreConfig): Promise<EtcdStore> {
    if (!config.endpoints.length) throw new InvalidArgumentError('store etcd endpoints: at least one is required');
    if (!config.prefix) throw new InvalidArgumentError('store etcd prefix: must not be empty (tsd never owns the whole key space)');
    const client = new Etcd3({ hosts: config.endpoints, dialTimeout: config.dialTimeoutMs ?? 5000 });
    const store = new EtcdStore(client, config.prefix, config.endpoints);
    // Fail now, with a clear message, if etcd is not reachable; also learn the current revision.
    try {
      const res = await store.call('connect', () => client.kv.range({ key: store.prefix, range_end: prefixEnd(store.prefix), count_only: true }));
      store.observe(res.header.revision);
    } catch (e) {
      client.close();
      throw e;
    }
    return store;
  }

  private full(key: string): Buffer {
    return Buffer.concat([this.prefix, Buffer.from(key)]);
  }

  private strip(key: Buffer): string {
    return key.subarray(this.prefix.length).toString();
  }

  private observe(revision: string | number): number {
    const r = Number(revision);
    if (r > this.seen) this.seen = r;
    return r;
  }

  /** Run one etcd call; transport failures become UnavailableError naming the endpoints. */
  private async call<T>(op: string, fn: () => Promise<T>): Promise<T> {
    try {
      return await fn();
    } catch (e) {
      if (isTsdError(e)) throw e;
      throw new UnavailableError(`store etcd ${op} (${this.endpoints.join(',')}): ${e instanceof Error ? e.message : String(e)}`, { cause: e });
    }
  }

  private entry<T>(kv: IKeyValue): StoreEntry<T> {
    return { key: this.strip(kv.key), value: JSON.parse(kv.value.toString()) as T, revision: Number(kv.mod_revision) };
  }

  async get<T = unknown>(key: string): Promise<StoreEntry<T> | undefined> {
    const res = await this.call(`get ${key}`, () => this.client.kv.range({ key: this.full(key) }));
    this.observe(res.header.revision);
    const kv = res.kvs[0];
    return kv ? this.entry<T>(kv) : undefined;
  }

  async list<T = unknown>(prefix: string): Promise<Array<StoreEntry<T>>> {
    const start = this.full(prefix);
    const res = await this.call(`list ${prefix}`, () => this.client.kv.range({ key: start, range_end: prefixEnd(start) }));
    this.observe(res.header.revision);
    return res.kvs.map((kv) => this.entry<T>(kv));
  }

  async put(key: string, value: unknown, opts: { ifRevision?: number } = {}): Promise<number> {
    const compares = opts.ifRevision === undefined ? [] : [{ key, revision: opts.ifRevision }];
    return this.commit(compares, [{ op: 'put', key, value }]);
  }

  async delete(key: string, opts: { ifRevision?: number } = {}): Promise<boolean> {
    const compares = opts.ifRevision === undefined ? [] : [{ key, revision: opts.ifRevision }];
    const res = await this.txn(compares, [{ op: 'delete', key }]);
    return Number(res.responses[0]?.response_delete_range?.deleted ?? 0) > 0;
  }

  async commit(compares: readonly StoreCompare[], ops: readonly StoreOp[]): Promise<number> {
    const res = await this.txn(compares, ops);
    return Number(res.header.revision);
  }

  private async txn(compares: readonly StoreCompare[], ops: readonly StoreOp[]) {
    const success: IRequestOp[] = ops.map((op) => {
      if (!op.key) throw new InvalidArgumentError('store key: must not be empty');
      if (op.op === 'delete') return { request_delete_range: { key: this.full(op.key) } };
      if (op.value === undefined) throw new InvalidArgumentError(`store key ${op.key}: value is undefined`);
      return { request_put: { key: this.full(op.key), value: Buffer.from(JSON.stringify(op.value)) } };
    });
    const compare = compares.map((c) =>
      c.revision === 0
        ? { key: this.full(c.key), target: CompareTarget.Create, result: CompareResult.Equal, create_revision: 0 }
        : { key: this.full(c.key), target: CompareTarget.Mod, result: CompareResult.Equal, mod_revision: c.revision },
    );
    const failure: IRequestOp[] = compares.map((c) => ({ request_range: { key: this.full(c.key), keys_only: true } }));
    const res = await this.call('commit', () => this.client.kv.txn({ compare, success, failure }));
    this.observe(res.header.revision);
    if (!res.succeeded) {
      const changed = compares.map((c, i) => {
        const have = Number(res.responses[i]?.response_range?.kvs[0]?.mod_revision ?? 0);
        return have === c.revision ? '' : `store key ${c.key}: changed concurrently (revision ${have}, expected ${c.revision})`;
      });
      throw new ConflictError(changed.find((m) => m) ?? `store commit: compare failed on ${compares.map((c) => c.key).join(', ')}`);
    }
    return res;
  }

  watch(prefix: string, listener: (ev: StoreWatchEvent) => void): () => void {
    const start = this.full(prefix);
    let watcher: Watcher | undefined;
    let cancelled = false;
    const handle = {
      cancel: () => {
        cancelled = true;
        void watcher?.cancel().catch(() => {});
      },
    };
    this.watchers.add(handle);
    const emit = (ev: StoreWatchEvent) => {
      if (cancelled) return;
      try {
        listener(ev);
      } catch (e) {
        process.emitWarning(`store watch ${prefix}: listener threw: ${e instanceof Error ? e.message : String(e)}`);
      }
    };
    this.client
      .watch()
      .prefix(start)
      .startRevision(String(this.seen + 1))
      .create()
      .then((w) => {
        watcher = w;
        if (cancelled) return void w.cancel().catch(() => {});
        w.on('put', (kv) => emit({ type: 'put', key: this.strip(kv.key), value: JSON.parse(kv.value.toString()) as unknown, revision: this.observe(kv.mod_revision) }));
        w.on('delete', (kv) => emit({ type: 'delete', key: this.strip(kv.key), revision: this.observe(kv.mod_revision) }));
        w.on('error', (e) => process.emitWarning(`store watch ${prefix}: ${e.message}`));
      })
      .catch((e: unknown) => process.emitWarning(`store watch ${prefix}: ${e instanceof Error ? e.message : String(e)}`));
    return () => {
      handle.cancel();
      this.watchers.delete(handle);
    };
  }

  async close(): Promise<void> {
    for (const w of this.watchers) w.cancel();
    this.watchers.clear();
    this.client.close();
  }
}
