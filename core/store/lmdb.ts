// core/store/lmdb.ts — the embedded Store: one LMDB environment (lmdb-js) in a directory under
// tsd's data root. Owns durability, the store-wide revision counter and in-process watch.
//
// Durability (checked against lmdb-js 3.5.6 write.js/open.js and src/writer.cpp):
//  - lmdb-js defaults to `overlappingSync: true` on Linux. In that mode the promise of put/
//    transaction resolves when the transaction is *committed* (visible), and the fsync happens
//    later (`db.flushed`). A process kill keeps such a commit (it is in the page cache) but a power
//    loss may not. We open with `overlappingSync: false`: the writer thread then runs a plain
//    mdb_txn_commit without MDB_NOSYNC, which fdatasyncs the data pages and the meta page before it
//    returns, and only then is the JS promise resolved. So a resolved write is on the disk.
//  - No `noSync`, `noMetaSync`, `useWritemap` or `mapAsync`: LMDB's copy-on-write B+tree with two
//    meta pages is then crash-proof (a torn commit leaves the previous meta page in charge).
//  - lmdb-js batches every write queued in one event turn into one LMDB transaction; each of our
//    commit() callbacks runs inside that write transaction, so its compare-and-swap sees the latest
//    state and is atomic with its puts. A batch commits or fails as a whole.
//
// Layout: sub-database `kv` maps key → { r: revision, v: value } (JSON); sub-database `meta`
// holds `revision`, the store-wide counter, bumped once per commit() in the same transaction.

import { open, type Database, type RootDatabase } from 'lmdb';
import { mkdirSync } from 'node:fs';
import { ConflictError, InvalidArgumentError, UnavailableError } from '../errors.js';
import type { Store, StoreCompare, StoreEntry, StoreOp, StoreWatchEvent } from './store.js';

interface KvRecord {
  r: number;
  v: unknown;
}

interface Watcher {
  prefix: string;
  listener: (ev: StoreWatchEvent) => void;
}

type CommitOutcome = { ok: true; revision: number; events: StoreWatchEvent[]; existed: boolean } | { ok: false; message: string };

const REVISION_KEY = 'revision';
/** LMDB's key limit in lmdb-js is 1978 bytes; keep clear of it with a readable error. */
const MAX_KEY_BYTES = 1900;

export class LmdbStore implements Store {
  readonly kind = 'embedded' as const;
  private readonly watchers = new Set<Watcher>();
  private closed = false;

  private constructor(
    private readonly root: RootDatabase,
    private readonly kv: Database<KvRecord, string>,
    private readonly meta: Database<number, string>,
  ) {}

  /** Open (or create) the environment in directory `path`. */
  static open(path: string): LmdbStore {
    mkdirSync(path, { recursive: true, mode: 0o700 });
    const root = open({
      path,
      maxDbs: 4,
      // The durability contract above depends on this line: see the header.
      overlappingSync: false,
      noSync: false,
      noMetaSync: false,
      useWritemap: false,
      // Reads must see the DB, not a write cache that may not be committed yet.
      cache: false,
    });
    const kv = root.openDB<KvRecord, string>({ name: 'kv', encoding: 'json', keyEncoding: 'ordered-binary' });
    const meta = root.openDB<number, string>({ name: 'meta', encoding: 'json', keyEncoding: 'ordered-binary' });
    return new LmdbStore(root, kv, meta);
  }

  /** The store-wide revision (last committed). */
  revision(): number {
    return this.meta.get(REVISION_KEY) ?? 0;
  }

  async get<T = unknown>(key: string): Promise<StoreEntry<T> | undefined> {
    this.assertOpen();
    const rec = this.kv.get(key);
    return rec ? { key, value: rec.v as T, revision: rec.r } : undefined;
  }

  async list<T = unknown>(prefix: string): Promise<Array<StoreEntry<T>>> {
    this.assertOpen();
    const out: Array<StoreEntry<T>> = [];
    const range = prefix === '' ? this.kv.getRange({}) : this.kv.getRange({ start: prefix });
    for (const { key, value } of range) {
      if (!key.startsWith(prefix)) break;
      out.push({ key, value: value.v as T, revision: value.r });
    }
    return out;
  }

  async put(key: string, value: unknown, opts: { ifRevision?: number } = {}): Promise<number> {
    const compares = opts.ifRevision === undefined ? [] : [{ key, revision: opts.ifRevision }];
    return this.commit(compares, [{ op: 'put', key, value }]);
  }

  async delete(key: string, opts: { ifRevision?: number } = {}): Promise<boolean> {
    const compares = opts.ifRevision === undefined ? [] : [{ key, revision: opts.ifRevision }];
    const out = await this.apply(compares, [{ op: 'delete', key }]);
    return out.existed;
  }

  async commit(compares: readonly StoreCompare[], ops: readonly StoreOp[]): Promise<number> {
    return (await this.apply(compares, ops)).revision;
  }

  private async apply(compares: readonly StoreCompare[], ops: readonly StoreOp[]) {
    this.assertOpen();
    for (const c of compares) checkKey(c.key);
    // Serialise before entering the write transaction: a bad value fails here, not mid-batch,
    // and the stored copy shares nothing with the caller's object.
    const prepared = ops.map((op) => {
      checkKey(op.key);
      if (op.op === 'delete') return op;
      if (op.value === undefined) throw new InvalidArgumentError(`store key ${op.key}: value is undefined`);
      return { op: 'put' as const, key: op.key, value: JSON.parse(JSON.stringify(op.value)) as unknown };
    });
    // The callback runs inside lmdb-js's write transaction: reads see the latest committed state
    // plus earlier callbacks of the same batch. It must not throw after its first write (a throw
    // does not undo earlier writes of the batch), so every check happens before any write.
    const outcome = await this.root.transaction((): CommitOutcome => {
      for (const c of compares) {
        const have = this.kv.get(c.key)?.r ?? 0;
        if (have !== c.revision) {
          return { ok: false, message: `store key ${c.key}: changed concurrently (revision ${have}, expected ${c.revision})` };
        }
      }
      const revision = (this.meta.get(REVISION_KEY) ?? 0) + 1;
      const events: StoreWatchEvent[] = [];
      let existed = false;
      for (const op of prepared) {
        if (op.op === 'put') {
          this.kv.put(op.key, { r: revision, v: op.value });
          events.push({ type: 'put', key: op.key, value: op.value, revision });
        } else if (this.kv.get(op.key) !== undefined) {
          existed = true;
          this.kv.remove(op.key);
          events.push({ type: 'delete', key: op.key, revision });
        }
      }
      this.meta.put(REVISION_KEY, revision);
      return { ok: true, revision, events, existed };
    });
    if (!outcome.ok) throw new ConflictError(outcome.message);
    // Only now (durable, see header) do watchers hear about it.
    this.notify(outcome.events);
    return outcome;
  }

  private notify(events: readonly StoreWatchEvent[]): void {
    for (const ev of events) {
      for (const w of this.watchers) {
        if (!ev.key.startsWith(w.prefix)) continue;
        // Each listener gets its own copy; a throwing listener must not break the writer.
        const copy: StoreWatchEvent = ev.value === undefined ? { ...ev } : { ...ev, value: JSON.parse(JSON.stringify(ev.value)) as unknown };
        try {
          w.listener(copy);
        } catch (e) {
          process.emitWarning(`store watch ${w.prefix}: listener threw: ${e instanceof Error ? e.message : String(e)}`);
        }
      }
    }
  }

  watch(prefix: string, listener: (ev: StoreWatchEvent) => void): () => void {
    const w = { prefix, listener };
    this.watchers.add(w);
    return () => this.watchers.delete(w);
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.watchers.clear();
    await this.root.close();
  }

  private assertOpen(): void {
    if (this.closed) throw new UnavailableError('store embedded: closed');
  }
}

function checkKey(key: string): void {
  if (key === '') throw new InvalidArgumentError('store key: must not be empty');
  if (Buffer.byteLength(key) > MAX_KEY_BYTES) throw new InvalidArgumentError(`store key ${key.slice(0, 40)}…: longer than ${MAX_KEY_BYTES} bytes`);
}
