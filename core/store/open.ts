// core/store/open.ts — the one place a Store is chosen from configuration. bin/tsd and the tests
// call openStore(); the embedded (LMDB) and etcd implementations plug in here. The etcd client
// (grpc + protobufjs, ~0.3 s of module loading) is imported only when etcd is configured.

import { LmdbStore } from './lmdb.js';
import { MemoryStore } from './memory.js';
import type { Store } from './store.js';

export type StoreConfig =
  | { kind: 'memory' }
  /** Embedded default: one LMDB environment at `path` (a directory under tsd's data root). */
  | { kind: 'embedded'; path: string }
  /** etcd for multi-host state: every key lives under `prefix` (e.g. "/tsd/"). */
  | { kind: 'etcd'; endpoints: string[]; prefix: string; dialTimeoutMs?: number };

export async function openStore(config: StoreConfig): Promise<Store> {
  switch (config.kind) {
    case 'memory':
      return new MemoryStore();
    case 'embedded':
      return LmdbStore.open(config.path);
    case 'etcd':
      return (await import('./etcd.js')).EtcdStore.open(config);
  }
}
