// bench/crash-intents.ts — what the connect intent (peers.md #34) costs on the embedded store
// (LMDB, fdatasync per transaction, on the disk under os.tmpdir()). The intent is written
// concurrently with the IPAM address commit; lmdb-js puts writes queued in one event turn into
// one transaction, so both share one sync. Compared: the address alone (before the intent
// existed), address + intent concurrently (what connect does), and address then intent
// serially (what a naive intent would cost). `bash scripts/bench.sh crash-intents`.
// Bounds: INTENT_N (default 300, ≤ 2000) per variant.

import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { LmdbStore } from '../core/store/lmdb.js';
import { scopeStore } from '../core/store/scoped.js';
import { createDefaultIpamDriver } from '../drivers/ipam/default/index.js';

const N = Math.min(2000, Number(process.env.INTENT_N ?? 300));
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tsd-bench-intents-'));
const store = LmdbStore.open(dir);
try {
  const ipam = createDefaultIpamDriver({ store: scopeStore(store, 'drivers/tsd-ipam/'), config: {} });
  const records = scopeStore(store, 'tsd/');
  const pool = await ipam.requestPool({ addressSpace: 'LocalDefault', pool: '10.0.0.0/16', subPool: '', options: {}, v6: false });
  const address = () => ipam.requestAddress({ poolId: pool.poolId, address: '', options: {} });
  const variants: Array<[string, (i: number) => Promise<unknown>]> = [
    ['address alone (no intent)', () => address()],
    ['address + intent, concurrent (connect)', (i) => Promise.all([records.put(`intents/connect/c${i}`, { i }), address()])],
    ['address, then intent (serial)', async (i) => { await address(); await records.put(`intents/connect/s${i}`, { i }); }],
  ];
  console.log(`# crash-intents: ${os.cpus().length} cpus, node ${process.version}, N=${N}, store ${dir} (LMDB)`);
  console.log('| variant | median ms | vs alone |\n| --- | --- | --- |');
  // Interleaved (one call of each variant per round) so disk and load drift hit all alike.
  const ts: number[][] = variants.map(() => []);
  for (let i = 0; i < N; i++) {
    for (const [k, [, fn]] of variants.entries()) {
      const t = performance.now();
      await fn(i);
      ts[k]!.push(performance.now() - t);
    }
  }
  const alone = median(ts[0]!);
  for (const [k, [name]] of variants.entries()) {
    const m = median(ts[k]!);
    console.log(`| ${name} | ${m.toFixed(3)} | ${(m / alone).toFixed(2)}× |`);
  }
} finally {
  await store.close();
  fs.rmSync(dir, { recursive: true, force: true });
}
