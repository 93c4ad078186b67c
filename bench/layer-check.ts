// bench/layer-check.ts — what crash-safe layers cost (peers.md #36): LayerService.import of a
// one-file tar on overlay2 + the embedded store (LMDB, a sync per transaction), whose intent adds
// one durable write (measured alone: a put, then a put + a commit, as import does now), and the
// time of `tsctl layer check` (LayerService.check) and the startup reconcile over N layers in
// chains. No peer: neither dockerd nor podman has a kill-safe import with an online check (podman
// 5's `system check` needs the storage unused). Bounded: N layers, RUNS checks, all in one temp dir.
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { DriverRegistry } from '../core/driver/registry.js';
import { createKernel } from '../core/kernel/index.js';
import { silentLogger } from '../core/log.js';
import { LayerService } from '../core/service/layers.js';
import { LmdbStore } from '../core/store/lmdb.js';
import { scopeStore } from '../core/store/scoped.js';
import { createOverlay2Driver } from '../drivers/graph/overlay2/overlay2-driver.js';

const CHAINS = 20;
const DEPTH = 5;
const RUNS = 7;
const STORE_N = 200;
const base = fs.realpathSync(fs.mkdtempSync(path.join(os.tmpdir(), 'tsdlayer-bench-')));
const kernel = createKernel();

function p50(ms: number[]): number {
  const s = [...ms].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)]!;
}

const store = LmdbStore.open(path.join(base, 'store'));
try {
  const src = path.join(base, 'src');
  fs.mkdirSync(path.join(src, 'etc'), { recursive: true });
  fs.writeFileSync(path.join(src, 'etc/hostname'), 'bench\n');
  const tar = path.join(base, 'one.tar');
  if (spawnSync('tar', ['-C', src, '-cf', tar, '.']).status !== 0) throw new Error('tar failed');

  const registry = new DriverRegistry();
  const driver = createOverlay2Driver({ log: silentLogger, store: scopeStore(store, 'drivers/tsd-overlay2/'), kernel, dataDir: path.join(base, 'overlay2'), config: {} });
  await driver.init({ home: '', options: [], uidMaps: [], gidMaps: [] });
  registry.register('GraphDriver', driver);
  const layers = new LayerService({ store: scopeStore(store, 'tsd/'), registry, log: silentLogger });

  const imports: number[] = [];
  for (let c = 0; c < CHAINS; c++) {
    let parent = '';
    for (let d = 0; d < DEPTH; d++) {
      const t0 = performance.now();
      parent = (await layers.import(fs.createReadStream(tar), { parent })).id;
      imports.push(performance.now() - t0);
    }
  }
  // Mount one layer per chain (kernel overlay mounts for check to compare).
  const tops = (await layers.list()).filter((l) => l.parent).slice(0, CHAINS);
  for (const l of tops) await layers.mount(l.id);

  // The intent's cost alone, on the same store: one put (the record, as before) vs a put + a
  // commit (intent, then record + intent delete), interleaved.
  const one: number[] = [];
  const two: number[] = [];
  const s = scopeStore(store, 'bench/');
  for (let i = 0; i < STORE_N; i++) {
    let t0 = performance.now();
    await s.put(`layers/a${i}`, { i });
    one.push(performance.now() - t0);
    t0 = performance.now();
    await s.put(`intents/layer-import/b${i}`, { i });
    await s.commit([], [{ op: 'put', key: `layers/b${i}`, value: { i } }, { op: 'delete', key: `intents/layer-import/b${i}` }]);
    two.push(performance.now() - t0);
  }

  const checks: number[] = [];
  const reconciles: number[] = [];
  for (let r = 0; r < RUNS; r++) {
    let t0 = performance.now();
    const rep = await layers.check();
    checks.push(performance.now() - t0);
    if (rep.problems.length) throw new Error(`unexpected problems: ${JSON.stringify(rep.problems)}`);
    t0 = performance.now();
    await layers.recoverIntents();
    await layers.reconcile();
    reconciles.push(performance.now() - t0);
  }
  const n = CHAINS * DEPTH;
  console.log(`import of a 1-file tar (overlay2, LMDB), ${n} layers in ${CHAINS} chains of ${DEPTH}: p50 ${p50(imports).toFixed(2)} ms`);
  console.log(`store: record put alone p50 ${p50(one).toFixed(3)} ms; intent put + record commit p50 ${p50(two).toFixed(3)} ms (+${(p50(two) - p50(one)).toFixed(3)} ms per import, ${(100 * (p50(two) - p50(one)) / p50(imports)).toFixed(0)}% of the import)`);
  console.log(`layer check over ${n} layers (${CHAINS} overlay mounts): p50 ${p50(checks).toFixed(1)} ms (${(1000 * p50(checks) / n).toFixed(0)} µs per layer)`);
  console.log(`startup layer reconcile (intents + safe repairs), nothing to do: p50 ${p50(reconciles).toFixed(1)} ms`);
  for (const l of tops) await layers.unmount(l.id);
} finally {
  await store.close();
  for (const m of kernel.mounts.mountsUnder(base).reverse()) kernel.mounts.unmountIfMounted(m.mountPoint);
  fs.rmSync(base, { recursive: true, force: true });
}
