// test/core/service/layer-intents.test.ts — LayerService's crash safety over a MemoryStore and an
// in-memory graph driver: an import or rm abandoned halfway (as after kill -9) is rolled back /
// finished by a new service on the same store; recovery is idempotent and keeps an intent whose
// recovery failed; check() sees an import under way as no problem; --repair removes a record
// whose files are gone but never a driver layer tsd has no record of.
import assert from 'node:assert/strict';
import { PassThrough, Readable } from 'node:stream';
import type { AppliedDiff, GraphDriver, LayerFilesInspection, LayerFilesState } from '../../../core/driver/graph-driver.js';
import { DriverRegistry } from '../../../core/driver/registry.js';
import { NotFoundError } from '../../../core/errors.js';
import { createMemoryLogger } from '../../../core/log.js';
import { LayerService } from '../../../core/service/layers.js';
import { MemoryStore } from '../../../core/store/memory.js';
import { scopeStore } from '../../../core/store/scoped.js';

interface FakeLayer { parent: string; complete: boolean; mounted: boolean; staging: boolean }

/** Layers in a Map; `hang` makes the next apply (after reading the tar) or remove never return. */
class FakeGraph implements GraphDriver, LayerFilesInspection {
  readonly name = 'fake-graph';
  readonly layers = new Map<string, FakeLayer>();
  hang: 'apply' | 'remove' | undefined;
  /** Applies running now (a restarted driver starts with none). */
  applying = new Set<string>();
  failRemove = false;
  puts: string[] = [];
  async init() {}
  async capabilities() { return { reproducesExactDiffs: false }; }
  async create(id: string, parent: string) { this.layers.set(id, { parent, complete: false, mounted: false, staging: false }); }
  async createReadWrite(id: string, parent: string) { return this.create(id, parent); }
  async remove(id: string) {
    if (this.failRemove) throw new Error(`remove layer ${id}: EBUSY`);
    this.layers.delete(id);
    if (this.hang === 'remove') { this.hang = undefined; await new Promise(() => {}); }
  }
  async get(id: string) {
    const l = this.layers.get(id);
    if (!l) throw new NotFoundError(`layer ${id}: not found`);
    l.mounted = true;
    return `/fake/${id}`;
  }
  async put(id: string) { this.puts.push(id); const l = this.layers.get(id); if (l) l.mounted = false; }
  async exists(id: string) { return this.layers.has(id); }
  async status(): Promise<Array<[string, string]>> { return []; }
  async getMetadata() { return {}; }
  async cleanup() {}
  async diff(): Promise<Readable> { throw new Error('not here'); }
  async changes() { return []; }
  async applyDiff(id: string, parent: string, tar: Readable) { return (await this.applyDiffWithDigest(id, parent, tar)).size; }
  async applyDiffWithDigest(id: string, _parent: string, tar: Readable): Promise<AppliedDiff> {
    const l = this.layers.get(id)!;
    l.staging = true;
    this.applying.add(id);
    let size = 0;
    for await (const c of tar) size += (c as Buffer).length;
    if (this.hang === 'apply') { this.hang = undefined; await new Promise(() => {}); }
    l.staging = false;
    this.applying.delete(id);
    l.complete = true;
    return { size, diffId: `sha256:${String(size).padStart(64, '0')}` };
  }
  async diffSize() { return 0; }
  async inspectLayers(ids: readonly string[]) { return ids.map((id) => this.inspectLayer(id)); }
  inspectLayer(id: string): LayerFilesState | undefined {
    const l = this.layers.get(id);
    if (!l) return undefined;
    return { missing: l.complete ? [] : ['diff/'], kernelMount: l.parent ? (l.mounted ? 'mounted' : 'unmounted') : 'none' };
  }
  async interruptedApplies() { return [...this.layers].filter(([id, l]) => l.staging && !this.applying.has(id)).map(([id]) => id); }
  async removeInterruptedApply(id: string) { const l = this.layers.get(id); if (!l?.staging) return false; l.staging = false; return true; }
}

const tar = (bytes: number) => { const p = new PassThrough(); p.end(Buffer.alloc(bytes, 1)); return p; };
const tick = () => new Promise((r) => setTimeout(r, 20));

describe('LayerService crash safety (intents) and check/repair', () => {
  let store: MemoryStore;
  let g: FakeGraph;
  let registry: DriverRegistry;
  const service = (owner?: string) => new LayerService({
    store: scopeStore(store, 'tsd/'), registry, log: createMemoryLogger('error'), defaultDriver: 'fake-graph', ...(owner ? { owner } : {}),
  });
  const intents = async () => (await store.list('tsd/intents/')).map((e) => e.key);
  const records = async () => (await store.list('tsd/layers/')).map((e) => e.key);

  beforeEach(() => {
    store = new MemoryStore();
    g = new FakeGraph();
    registry = new DriverRegistry();
    registry.register('GraphDriver', g);
  });

  it('an import killed during its apply: the next start removes the half-made layer and the intent, twice in a row harmlessly', async () => {
    const base = await service().import(tar(10));
    g.hang = 'apply';
    void service().import(tar(1000), { parent: base.id });
    await tick();
    assert.equal(g.layers.size, 2, 'the half-made layer exists');
    assert.equal((await intents()).length, 1);
    assert.match((await intents())[0]!, /^tsd\/intents\/layer-import\/[0-9a-f]{64}$/);

    const after = service(); // "restarted": nothing of the old one is under way in it
    assert.deepEqual(await after.recoverIntents(), { recovered: 1, kept: 0 });
    assert.deepEqual([...g.layers.keys()], [base.id]);
    assert.deepEqual(await intents(), []);
    assert.deepEqual(await records(), [`tsd/layers/${base.id}`]);
    assert.deepEqual(await after.recoverIntents(), { recovered: 0, kept: 0 });
    // And the same tar imports again to the same diff id.
    assert.equal((await after.import(tar(10))).diffId, base.diffId);
  });

  it('daemons sharing a store (etcd) recover only their own layer intents', async () => {
    g.hang = 'apply';
    void service('daemon-a').import(tar(100));
    await tick();
    assert.equal((await intents()).length, 1);
    assert.deepEqual(await service('daemon-b').recoverIntents(), { recovered: 0, kept: 0 }, 'B leaves A\'s import alone');
    assert.equal(g.layers.size, 1);
    assert.equal((await intents()).length, 1);
    assert.deepEqual(await service('daemon-a').recoverIntents(), { recovered: 1, kept: 0 }, 'A, restarted, rolls it back');
    assert.equal(g.layers.size, 0);
    assert.deepEqual(await intents(), []);
  });

  it('an rm killed after the driver removed the files: the next start deletes the record (never a record without files)', async () => {
    const s = service();
    const a = await s.import(tar(5));
    g.hang = 'remove';
    void s.remove(a.id);
    await tick();
    assert.equal(g.layers.size, 0);
    assert.deepEqual(await records(), [`tsd/layers/${a.id}`], 'the record is still there…');
    assert.deepEqual(await intents(), [`tsd/intents/layer-rm/${a.id}`], '…and the intent says the rm must finish');
    assert.deepEqual(await service().recoverIntents(), { recovered: 1, kept: 0 });
    assert.deepEqual(await records(), []);
    assert.deepEqual(await intents(), []);
  });

  it('a recovery that fails keeps its intent; the next one finishes', async () => {
    const s = service();
    g.hang = 'apply';
    void s.import(tar(3));
    await tick();
    g.failRemove = true;
    assert.deepEqual(await service().recoverIntents(), { recovered: 0, kept: 1 });
    assert.equal((await intents()).length, 1);
    g.failRemove = false;
    assert.deepEqual(await service().recoverIntents(), { recovered: 1, kept: 0 });
    assert.equal(g.layers.size, 0);
  });

  it('a failed import (bad tar) removes its layer and its intent at once', async () => {
    const bad = new Readable({ read() { this.destroy(new Error('tar: unexpected EOF')); } });
    await assert.rejects(service().import(bad), /unexpected EOF/);
    assert.equal(g.layers.size, 0);
    assert.deepEqual(await intents(), []);
  });

  it('check: an import under way in this process is not a problem; after a "crash" it is, and --repair rolls it back', async () => {
    const s = service();
    g.hang = 'apply';
    void s.import(tar(3));
    await tick();
    const live = await s.check({ repair: true });
    assert.deepEqual(live.problems.filter((p) => p.kind === 'interrupted-operation'), []);
    g.applying.clear(); // the restarted driver has no apply under way
    const later = service();
    const found = await later.check();
    assert.deepEqual(found.problems.map((p) => [p.kind, p.repair.action, p.status]).sort(), [
      ['interrupted-apply', 'remove-leftover', 'open'], ['interrupted-operation', 'finish-operation', 'open'],
    ]);
    assert.equal(found.remaining, 2);
    const fixed = await later.check({ repair: true });
    assert.equal(fixed.remaining, 0, JSON.stringify(fixed));
    assert.equal(g.layers.size, 0);
    assert.deepEqual((await later.check()).problems, []);
  });

  it('check --repair: a record whose files are gone goes (children first); a driver layer with no record stays; kernel mount counts are fixed', async () => {
    const s = service();
    const a = await s.import(tar(1));
    const b = await s.import(tar(2), { parent: a.id });
    const c = await s.import(tar(3), { parent: a.id });
    await g.create('dockerd-layer', '');
    g.layers.get(b.id)!.mounted = true; // a `layer mount` killed before its record counted it
    g.layers.delete(c.id); // files gone
    const r = await s.check({ repair: true });
    assert.deepEqual(r.problems.map((p) => [p.kind, p.layer, p.repair.action, p.status]), [
      ['mount-count', b.id, 'unmount', 'repaired'], ['files-missing', c.id, 'remove-layer', 'repaired'],
    ]);
    assert.deepEqual(g.puts, [b.id]);
    assert.deepEqual(await records(), [a.id, b.id].sort().map((i) => `tsd/layers/${i}`));
    assert.ok(g.layers.has('dockerd-layer'), 'never removes a layer tsd has no record of');

    // A record counting a mount the kernel lost is reset to 0.
    await s.mount(b.id);
    g.layers.get(b.id)!.mounted = false;
    const r2 = await s.check({ repair: true });
    assert.deepEqual(r2.problems.map((p) => [p.kind, p.repair.action, p.status]), [['mount-count', 'reset-mount-count', 'repaired']]);
    assert.equal((await s.find(b.id)).mounts, 0);
    // reconcile() (startup) does the safe repairs but leaves a record whose files are gone.
    g.layers.delete(b.id);
    const rec = await service().reconcile();
    assert.deepEqual(rec, { repaired: 0, remaining: 1 });
    assert.ok((await records()).includes(`tsd/layers/${b.id}`));
  });
});
