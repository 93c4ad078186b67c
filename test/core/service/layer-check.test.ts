// test/core/service/layer-check.test.ts — the decisions of `tsctl layer check [--repair]`
// (planLayerCheck): what is a problem, what a repair may do, and what it must leave alone.
import assert from 'node:assert/strict';
import type { LayerFilesState } from '../../../core/driver/graph-driver.js';
import { planLayerCheck, repairOrder, type LayerCheckFacts, type LayerFacts } from '../../../core/service/layer-check.js';

const id = (c: string) => c.repeat(64);
const ok: LayerFilesState = { missing: [], kernelMount: 'none' };
const layer = (c: string, parent = '', files: LayerFilesState | 'gone' = ok, extra: Partial<LayerFacts> & { mounts?: number } = {}): LayerFacts => ({
  record: { id: id(c), parent: parent ? id(parent) : '', driver: 'tsd-overlay2', mounts: extra.mounts ?? 0 },
  files: files === 'gone' ? undefined : files, readWriteChildren: extra.readWriteChildren ?? 0,
});
const facts = (layers: LayerFacts[], more: Partial<LayerCheckFacts> = {}): LayerCheckFacts => ({ layers, interruptedApplies: [], staleIntents: [], ...more });
const summary = (f: LayerCheckFacts) => planLayerCheck(f).map((p) => `${p.layer.slice(0, 1)}:${p.kind}:${p.repair.action}`).sort();

describe('planLayerCheck (tsctl layer check decisions)', () => {
  it('healthy layers, mounted or not as their records say: no problems', () => {
    assert.deepEqual(planLayerCheck(facts([
      layer('a'), layer('b', 'a', { missing: [], kernelMount: 'mounted' }, { mounts: 2 }), layer('c', 'b', { missing: [], kernelMount: 'unmounted' }),
    ])), []);
  });

  it('a record whose driver layer is gone, with nothing on top: remove-layer', () => {
    assert.deepEqual(summary(facts([layer('a'), layer('b', 'a', 'gone')])), ['b:files-missing:remove-layer']);
  });

  it('an incomplete chain is removed leaves first; a child that is itself fine keeps its broken parent', () => {
    // a (broken) ← b (broken: lower missing) ← c (broken): all three go, c before b before a.
    const f = facts([layer('a', '', { missing: ['diff/'], kernelMount: 'none' }), layer('b', 'a', { missing: ['lower l/X'], kernelMount: 'unmounted' }), layer('c', 'b', 'gone')]);
    const plan = planLayerCheck(f);
    assert.ok(plan.every((p) => p.repair.action === 'remove-layer'), JSON.stringify(plan));
    const depth = new Map([[id('a'), 0], [id('b'), 1], [id('c'), 2]]);
    assert.deepEqual(repairOrder(plan, (x) => depth.get(x) ?? 0).map((p) => p.layer[0]), ['c', 'b', 'a']);

    // d is complete (say a vfs layer) on a broken parent: the parent is kept, and says why.
    const kept = planLayerCheck(facts([layer('a', '', { missing: ['diff/'], kernelMount: 'none' }), layer('d', 'a')]));
    assert.equal(kept.length, 1);
    assert.equal(kept[0]!.kind, 'files-incomplete');
    assert.deepEqual(kept[0]!.repair, { action: 'none', reason: `kept: layer(s) ${id('d').slice(0, 12)} sit on it and are not removable; remove them first` });
  });

  it('never removes a broken layer under a sandbox root or while mounted', () => {
    const plan = planLayerCheck(facts([
      layer('a', '', 'gone', { readWriteChildren: 1 }),
      layer('b', '', { missing: ['work/'], kernelMount: 'mounted' }, { mounts: 1 }),
    ]));
    assert.deepEqual(plan.map((p) => p.repair.action), ['none', 'none']);
    assert.match((plan[0]!.repair as { reason: string }).reason, /root filesystem of 1 sandbox/);
    assert.match((plan[1]!.repair as { reason: string }).reason, /it is mounted/);
  });

  it('mount counts: a kernel mount no record counts is unmounted; a count the kernel lost is reset; base layers (no kernel mount) are not judged', () => {
    assert.deepEqual(summary(facts([
      layer('a', '', ok, { mounts: 3 }),
      layer('b', 'a', { missing: [], kernelMount: 'mounted' }, { mounts: 0 }),
      layer('c', 'a', { missing: [], kernelMount: 'unmounted' }, { mounts: 1 }),
    ])), ['b:mount-count:unmount', 'c:mount-count:reset-mount-count']);
  });

  it('a missing parent record is reported, never repaired by deleting usable files', () => {
    const plan = planLayerCheck(facts([layer('b', 'a')]));
    assert.equal(plan.length, 1);
    assert.equal(plan[0]!.kind, 'parent-missing');
    assert.equal(plan[0]!.repair.action, 'none');
    assert.match((plan[0]!.repair as { reason: string }).reason, /files are complete and usable/);
  });

  it('apply leftovers of any layer (dockerd\'s too) are removed; the layer itself is not touched', () => {
    const plan = planLayerCheck(facts([layer('a')], { interruptedApplies: [{ driver: 'tsd-overlay2', id: 'dockerlayer1' }, { driver: 'tsd-overlay2', id: id('a') }] }));
    assert.deepEqual(plan.map((p) => [p.kind, p.layer, p.repair.action]), [
      ['interrupted-apply', 'dockerlayer1', 'remove-leftover'], ['interrupted-apply', id('a'), 'remove-leftover'],
    ]);
    assert.match(plan[0]!.detail, /no record of/);
    assert.ok(!plan.some((p) => p.repair.action === 'remove-layer'), 'a driver layer with no tsd record is never removed');
  });

  it('interrupted operations are finished; their layer is not judged twice', () => {
    const plan = planLayerCheck(facts([layer('a', '', 'gone')], {
      staleIntents: [{ kind: 'layer-rm', id: id('a'), driver: 'tsd-overlay2', created: '2026-01-01T00:00:00Z' }, { kind: 'layer-import', id: id('b'), parent: '', driver: 'tsd-overlay2', created: '2026-01-01T00:00:00Z' }],
    }));
    assert.deepEqual(plan.map((p) => [p.kind, p.layer[0], p.repair.action]), [['interrupted-operation', 'a', 'finish-operation'], ['interrupted-operation', 'b', 'finish-operation']]);
    assert.match(plan[1]!.detail, /an import started .* did not finish/);
  });

  it('a driver that cannot be reached: reported, nothing judged or removed (not even its parent chain)', () => {
    const a = layer('a', '', 'gone');
    const b = { ...layer('b', 'a', 'gone'), driverError: 'plugin not found' };
    const plan = planLayerCheck(facts([a, b]));
    assert.deepEqual(plan.map((p) => [p.kind, p.layer[0], p.repair.action]), [['driver-unavailable', 'b', 'none'], ['files-missing', 'a', 'none']]);
    assert.match(plan[0]!.detail, /driver tsd-overlay2: plugin not found/);
  });
});
