// core/store/scoped.ts — a view of a Store under a key prefix, so each driver and service owns
// its own key space ("drivers/tsd-bridge/…") and cannot read or clobber another's.

import type { Store, StoreCompare, StoreEntry, StoreOp, StoreWatchEvent } from './store.js';

export function scopeStore(store: Store, prefix: string): Store {
  const p = prefix.endsWith('/') ? prefix : prefix + '/';
  const strip = <T>(e: StoreEntry<T>): StoreEntry<T> => ({ ...e, key: e.key.slice(p.length) });
  return {
    kind: store.kind,
    get: async <T>(key: string) => {
      const e = await store.get<T>(p + key);
      return e && strip(e);
    },
    list: async <T>(sub: string) => (await store.list<T>(p + sub)).map(strip),
    put: (key, value, opts) => store.put(p + key, value, opts),
    delete: (key, opts) => store.delete(p + key, opts),
    commit: (compares: readonly StoreCompare[], ops: readonly StoreOp[]) =>
      store.commit(
        compares.map((c) => ({ ...c, key: p + c.key })),
        ops.map((o) => ({ ...o, key: p + o.key })),
      ),
    watch: (sub: string, listener: (ev: StoreWatchEvent) => void) =>
      store.watch(p + sub, (ev) => listener({ ...ev, key: ev.key.slice(p.length) })),
    // The scope does not own the underlying store.
    close: async () => {},
  };
}
