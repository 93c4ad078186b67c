// core/store/memory.ts — an in-memory Store with the exact semantics of the real ones
// (revisions, compare-and-swap, watch). For unit tests and for tools that need no persistence.

import { ConflictError } from '../errors.js';
import type { Store, StoreCompare, StoreEntry, StoreOp, StoreWatchEvent } from './store.js';

interface Cell {
  value: unknown;
  revision: number;
}

/** Deep copy through JSON: what a real store would give back (no shared mutable objects). */
function clone<T>(v: T): T {
  return v === undefined ? v : (JSON.parse(JSON.stringify(v)) as T);
}

export class MemoryStore implements Store {
  readonly kind = 'memory' as const;
  private readonly cells = new Map<string, Cell>();
  /** Every key, sorted: list(prefix) is a binary search + the matches, not a scan of the store. */
  private readonly keys: string[] = [];
  private revision = 0;

  /** Index of the first key ≥ `k`. */
  private lowerBound(k: string): number {
    let lo = 0;
    let hi = this.keys.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (this.keys[mid]! < k) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  }
  private readonly watchers = new Set<{ prefix: string; listener: (ev: StoreWatchEvent) => void }>();

  async get<T = unknown>(key: string): Promise<StoreEntry<T> | undefined> {
    const c = this.cells.get(key);
    return c ? { key, value: clone(c.value) as T, revision: c.revision } : undefined;
  }

  async list<T = unknown>(prefix: string): Promise<Array<StoreEntry<T>>> {
    const out: Array<StoreEntry<T>> = [];
    for (let i = this.lowerBound(prefix); i < this.keys.length && this.keys[i]!.startsWith(prefix); i++) {
      const key = this.keys[i]!;
      const c = this.cells.get(key)!;
      out.push({ key, value: clone(c.value) as T, revision: c.revision });
    }
    return out;
  }

  async put(key: string, value: unknown, opts: { ifRevision?: number } = {}): Promise<number> {
    const compares = opts.ifRevision === undefined ? [] : [{ key, revision: opts.ifRevision }];
    return this.commit(compares, [{ op: 'put', key, value }]);
  }

  async delete(key: string, opts: { ifRevision?: number } = {}): Promise<boolean> {
    const existed = this.cells.has(key);
    const compares = opts.ifRevision === undefined ? [] : [{ key, revision: opts.ifRevision }];
    await this.commit(compares, [{ op: 'delete', key }]);
    return existed;
  }

  async commit(compares: readonly StoreCompare[], ops: readonly StoreOp[]): Promise<number> {
    for (const c of compares) {
      const have = this.cells.get(c.key)?.revision ?? 0;
      if (have !== c.revision) throw new ConflictError(`store key ${c.key}: changed concurrently (revision ${have}, expected ${c.revision})`);
    }
    const rev = ++this.revision;
    const events: StoreWatchEvent[] = [];
    for (const op of ops) {
      if (op.op === 'put') {
        if (!this.cells.has(op.key)) this.keys.splice(this.lowerBound(op.key), 0, op.key);
        this.cells.set(op.key, { value: clone(op.value), revision: rev });
        // A watcher gets its own copy; nobody watching, no second clone (1000-port endpoints).
        if (this.watchers.size) events.push({ type: 'put', key: op.key, value: clone(op.value), revision: rev });
      } else if (this.cells.delete(op.key)) {
        this.keys.splice(this.lowerBound(op.key), 1);
        if (this.watchers.size) events.push({ type: 'delete', key: op.key, revision: rev });
      }
    }
    for (const ev of events) for (const w of this.watchers) if (ev.key.startsWith(w.prefix)) w.listener(ev);
    return rev;
  }

  watch(prefix: string, listener: (ev: StoreWatchEvent) => void): () => void {
    const w = { prefix, listener };
    this.watchers.add(w);
    return () => this.watchers.delete(w);
  }

  async close(): Promise<void> {
    this.watchers.clear();
  }
}
