// core/store/store.ts — the state store contract (embedded LMDB by default, etcd for multi-host).
//
// Keys are '/'-separated strings ("networks/<id>"); values are JSON-serialisable. Every key has
// a revision (monotonic across the store); compare-and-swap on revisions gives the atomic
// multi-key commits IPAM and the services rely on. A write is acknowledged only once durable.

export interface StoreEntry<T = unknown> {
  key: string;
  value: T;
  /** Revision of the last write to this key (store-wide monotonic). */
  revision: number;
}

export type StoreOp = { op: 'put'; key: string; value: unknown } | { op: 'delete'; key: string };

/** `revision: 0` means "the key must not exist". */
export interface StoreCompare {
  key: string;
  revision: number;
}

export interface StoreWatchEvent {
  type: 'put' | 'delete';
  key: string;
  value?: unknown;
  revision: number;
}

export interface Store {
  readonly kind: 'embedded' | 'etcd' | 'memory';
  get<T = unknown>(key: string): Promise<StoreEntry<T> | undefined>;
  /** All entries whose key starts with `prefix`, ordered by key. */
  list<T = unknown>(prefix: string): Promise<Array<StoreEntry<T>>>;
  /** Write one key; with `ifRevision` it fails with ConflictError unless the key is at that revision. */
  put(key: string, value: unknown, opts?: { ifRevision?: number }): Promise<number>;
  /** Delete one key; returns false if it did not exist. `ifRevision` as for put. */
  delete(key: string, opts?: { ifRevision?: number }): Promise<boolean>;
  /**
   * Atomically check every compare and apply every op, or do nothing and throw ConflictError.
   * Returns the new store revision.
   */
  commit(compares: readonly StoreCompare[], ops: readonly StoreOp[]): Promise<number>;
  /** Be told about every later change under `prefix`. Returns an unsubscribe function. */
  watch(prefix: string, listener: (ev: StoreWatchEvent) => void): () => void;
  close(): Promise<void>;
}
