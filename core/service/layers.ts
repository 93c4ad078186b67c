// core/service/layers.ts — LayerService: tsd's own layers (tsctl layer …) on a graph driver.
// Import streams a tar into a new layer on a parent and records the diff ID computed in the same
// pass; mount/unmount are the driver's Get/Put with a count kept in the record; diff streams the
// layer's changes against its parent; rm is refused while mounted or while a child sits on top.
// The driver keeps the files, the record (store key "layers/<id>") keeps id, parent, diffId,
// size, driver and the mount count. A failed import removes the half-made layer.
// Crash safety (peers.md #36): import and rm store an intent first (core/model/intent.ts), retired
// in the commit that writes / deletes the record; recoverIntents rolls an interrupted import back
// and finishes an interrupted rm. reconcile (startup) also removes apply leftovers and mounts no
// record counts; check() is `tsctl layer check [--repair]` (decisions in layer-check.ts).

import crypto from 'node:crypto';
import { Transform, type Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { DriverRegistry } from '../driver/registry.js';
import { hasDigestingApply, hasLayerFilesInspection, type AppliedDiff, type GraphDriver, type LayerFilesState } from '../driver/graph-driver.js';
import { ConflictError, InvalidArgumentError, NotFoundError } from '../errors.js';
import type { Logger } from '../log.js';
import { ID_RE, newId } from '../model/ids.js';
import type { LayerImportIntent, LayerIntent, LayerRemoveIntent } from '../model/intent.js';
import type { Store } from '../store/store.js';
import { KeyedMutex } from './keyed-mutex.js';
import { planLayerCheck, repairOrder, type LayerCheckFacts, type LayerProblem } from './layer-check.js';
import { intentKey } from './records.js';

export interface LayerRecord {
  id: string;
  /** "" for a base layer. */
  parent: string;
  /** "sha256:<hex>" of the imported tar exactly as received. */
  diffId: string;
  /** Bytes of content applied. */
  size: number;
  driver: string;
  /** RFC 3339. */
  created: string;
  /** Outstanding mounts taken through this service. */
  mounts: number;
}

/** The API's view (Docker-style field names). */
export interface ApiLayer {
  Id: string;
  Parent: string;
  DiffId: string;
  Size: number;
  Driver: string;
  Created: string;
  Mounts: number;
}

export const DEFAULT_LAYER_DRIVER = 'tsd-overlay2';

export interface LayerServiceDeps {
  /** Scoped to the layer records (keys "layers/<id>"). */
  store: Store;
  registry: DriverRegistry;
  log: Logger;
  defaultDriver?: string;
  /**
   * This daemon's id (core/daemon-identity.ts), stamped on its layer intents: several daemons may
   * share one store (etcd), and each recovers only its own (another's may be in flight, and its
   * layer files live on its host). Undefined: one daemon only, every intent is its own.
   */
  owner?: string;
}

const key = (id: string) => `layers/${id}`;
const rwKey = (id: string) => `layers-rw/${id}`;

/** A read-write layer made on top of a layer for a sandbox's root (store key "layers-rw/<id>"). */
export interface ReadWriteLayerRecord {
  id: string;
  parent: string;
  driver: string;
  /** Who holds it (a sandbox id). */
  owner: string;
  created: string;
}

export function toApiLayer(r: LayerRecord): ApiLayer {
  return { Id: r.id, Parent: r.parent, DiffId: r.diffId, Size: r.size, Driver: r.driver, Created: r.created, Mounts: r.mounts };
}

export class LayerService {
  private readonly lock = new KeyedMutex();
  /** Layers with an import or rm running in this process (their intents are not stale). */
  private readonly active = new Set<string>();
  readonly defaultDriver: string;

  constructor(private readonly d: LayerServiceDeps) {
    this.defaultDriver = d.defaultDriver ?? DEFAULT_LAYER_DRIVER;
  }

  async list(): Promise<LayerRecord[]> {
    return (await this.d.store.list<LayerRecord>('layers/')).map((e) => e.value).sort((a, b) => a.created.localeCompare(b.created) || a.id.localeCompare(b.id));
  }

  /** By full id or unique id prefix (Docker's rule). */
  async find(ref: string): Promise<LayerRecord> {
    if (ref === '') throw new InvalidArgumentError('layer: empty id');
    if (!/^[0-9a-f]{1,64}$/.test(ref)) throw new InvalidArgumentError(`layer ${JSON.stringify(ref)}: an id is 1 to 64 lowercase hex digits`);
    if (ID_RE.test(ref)) {
      const e = await this.d.store.get<LayerRecord>(key(ref));
      if (e) return e.value;
    }
    const matches = (await this.list()).filter((r) => r.id.startsWith(ref));
    if (matches.length === 1) return matches[0]!;
    if (matches.length > 1) throw new InvalidArgumentError(`layer ${ref} is ambiguous (${matches.length} matches found based on ID prefix)`);
    throw new NotFoundError(`layer ${ref} not found`);
  }

  private async driver(name: string): Promise<GraphDriver> {
    return this.d.registry.get('GraphDriver', name);
  }

  /** Stream `tar` into a new layer on `parent` ("" = base). The digest is taken from the same bytes. */
  async import(tar: Readable, opts: { parent?: string; driver?: string } = {}): Promise<LayerRecord> {
    const parent = opts.parent ? await this.find(opts.parent) : undefined;
    const driverName = opts.driver || parent?.driver || this.defaultDriver;
    if (parent && parent.driver !== driverName) {
      throw new InvalidArgumentError(`parent layer ${parent.id}: it is on driver ${parent.driver}, not ${driverName}`);
    }
    const driver = await this.driver(driverName);
    const id = newId();
    const parentId = parent?.id ?? '';
    // The parent must not go away while a child is being made on it.
    return this.lock.run(parentId || id, () => this.underWay(id, async () => {
      if (parent && !(await this.d.store.get(key(parent.id)))) throw new NotFoundError(`layer ${parent.id} not found`);
      const intent: LayerImportIntent = { kind: 'layer-import', id, parent: parentId, driver: driverName, created: new Date().toISOString(), ...this.stamp() };
      await this.d.store.put(intentKey(intent), intent);
      try {
        await driver.create(id, parentId);
        const applied = await applyWithDigest(driver, id, parentId, tar);
        const rec: LayerRecord = {
          id, parent: parentId, diffId: applied.diffId, size: applied.size, driver: driverName, created: new Date().toISOString(), mounts: 0,
        };
        await this.d.store.commit([{ key: key(id), revision: 0 }], [{ op: 'put', key: key(id), value: rec }, { op: 'delete', key: intentKey(intent) }]);
        this.d.log.info('layer imported', { id, parent: parentId, diffId: rec.diffId, size: rec.size, driver: driverName });
        return rec;
      } catch (e) {
        tar.resume();
        // The intent goes only once the half-made layer is gone: else the next start removes it.
        try {
          await driver.remove(id);
          await this.d.store.delete(intentKey(intent));
        } catch (re) {
          this.d.log.error('removing a failed import (left to the next start)', { id, err: re });
        }
        throw e;
      }
    }));
  }

  async mount(ref: string): Promise<{ record: LayerRecord; path: string }> {
    const r0 = await this.find(ref);
    return this.lock.run(r0.id, async () => {
      const r = await this.find(r0.id);
      const p = await (await this.driver(r.driver)).get(r.id);
      const rec = { ...r, mounts: r.mounts + 1 };
      try {
        await this.d.store.put(key(r.id), rec);
      } catch (e) {
        await (await this.driver(r.driver)).put(r.id);
        throw e;
      }
      return { record: rec, path: p };
    });
  }

  async unmount(ref: string): Promise<LayerRecord> {
    const r0 = await this.find(ref);
    return this.lock.run(r0.id, async () => {
      const r = await this.find(r0.id);
      if (r.mounts === 0) throw new ConflictError(`layer ${r.id} is not mounted`);
      await (await this.driver(r.driver)).put(r.id);
      const rec = { ...r, mounts: r.mounts - 1 };
      await this.d.store.put(key(r.id), rec);
      return rec;
    });
  }

  /** Refused while mounted or while another layer has it as parent. */
  async remove(ref: string): Promise<LayerRecord> {
    const r0 = await this.find(ref);
    return this.lock.run(r0.id, async () => {
      const r = await this.find(r0.id);
      if (r.mounts > 0) throw new ConflictError(`layer ${r.id} is mounted ${r.mounts} time(s): unmount it first`);
      const rw = (await this.d.store.list<ReadWriteLayerRecord>('layers-rw/')).map((e) => e.value).filter((c) => c.parent === r.id);
      if (rw.length) throw new ConflictError(`layer ${r.id} is the root filesystem of sandbox(es) ${rw.map((c) => c.owner.slice(0, 12)).join(', ')}`);
      const children = (await this.list()).filter((c) => c.parent === r.id);
      if (children.length) throw new ConflictError(`layer ${r.id} is the parent of ${children.map((c) => c.id.slice(0, 12)).join(', ')}`);
      await this.underWay(r.id, async () => {
        // The intent first: a crash after it is finished by the next start (files, then record).
        const intent: LayerRemoveIntent = { kind: 'layer-rm', id: r.id, driver: r.driver, created: new Date().toISOString(), ...this.stamp() };
        await this.d.store.put(intentKey(intent), intent);
        await this.finishRemove(intent);
      });
      this.d.log.info('layer removed', { id: r.id });
      return r;
    });
  }

  /** Run `fn` with layer `id` marked as having an operation under way (its intent is not stale). */
  private async underWay<T>(id: string, fn: () => Promise<T>): Promise<T> {
    this.active.add(id);
    try {
      return await fn();
    } finally {
      this.active.delete(id);
    }
  }

  private async finishRemove(i: LayerRemoveIntent): Promise<void> {
    await (await this.driver(i.driver)).remove(i.id);
    await this.d.store.commit([], [{ op: 'delete', key: key(i.id) }, { op: 'delete', key: intentKey(i) }]);
  }

  private async rollbackImport(i: LayerImportIntent): Promise<void> {
    // Its record is written in the commit that retires the intent, so with the intent there is
    // none; should one exist all the same, the layer's files are kept.
    if (!(await this.d.store.get(key(i.id)))) await (await this.driver(i.driver)).remove(i.id);
    await this.d.store.delete(intentKey(i));
  }

  private async recover(i: LayerIntent): Promise<void> {
    if (i.kind === 'layer-import') await this.rollbackImport(i);
    else await this.finishRemove(i);
  }

  /** Layer intents no operation of this process is running: a crash interrupted them. */
  private async staleIntents(): Promise<LayerIntent[]> {
    const all = [
      ...(await this.d.store.list<LayerIntent>('intents/layer-import/')),
      ...(await this.d.store.list<LayerIntent>('intents/layer-rm/')),
    ].map((e) => e.value);
    const owner = this.d.owner;
    return all.filter((i) => !this.active.has(i.id) && (!owner || !i.owner || i.owner === owner));
  }

  private stamp(): { owner?: string } {
    return this.d.owner ? { owner: this.d.owner } : {};
  }

  /**
   * Startup: roll back imports and finish removals a crash interrupted. Each step is idempotent
   * and the intent goes last, so a pass killed halfway is completed by the next start.
   */
  async recoverIntents(): Promise<{ recovered: number; kept: number }> {
    let recovered = 0;
    let kept = 0;
    for (const i of await this.staleIntents()) {
      try {
        await this.lock.run(i.id, () => this.recover(i));
        recovered++;
        this.d.log.warn('reconcile: finished a layer operation a crash interrupted', { intent: i.kind, id: i.id });
      } catch (e) {
        kept++;
        this.d.log.error('reconcile: layer intent kept, its recovery failed', { intent: i.kind, id: i.id, err: e });
      }
    }
    return { recovered, kept };
  }

  /**
   * Startup, after recoverIntents: the safe repairs of check() — apply leftovers, kernel mounts
   * no record counts (a killed `layer mount`), counts of mounts the kernel lost. Records whose
   * files are gone are only logged: removing them is `tsctl layer check --repair`.
   */
  async reconcile(): Promise<{ repaired: number; remaining: number }> {
    const r = await this.check({ repair: true, onlySafe: true });
    for (const p of r.problems.filter((x) => x.status === 'open' || x.status === 'failed')) {
      this.d.log.warn('reconcile: layer problem left (see tsctl layer check)', { kind: p.kind, layer: p.layer, detail: p.detail });
    }
    return { repaired: r.problems.filter((p) => p.status === 'repaired').length, remaining: r.remaining };
  }

  private async gatherFacts(): Promise<LayerCheckFacts> {
    const records = await this.list();
    const rw = await this.listReadWrite();
    const drivers = new Map<string, GraphDriver | string>();
    const driverOf = async (name: string) => {
      if (!drivers.has(name)) drivers.set(name, await this.driver(name).catch((e: unknown) => (e as Error).message || String(e)));
      return drivers.get(name)!;
    };
    const files = new Map<string, LayerFilesState | undefined>();
    for (const name of new Set(records.map((r) => r.driver))) {
      const d = await driverOf(name);
      if (typeof d === 'string') continue;
      const ids = records.filter((r) => r.driver === name).map((r) => r.id);
      const states = await filesOfAll(d, ids);
      ids.forEach((id, i) => files.set(id, states[i]));
    }
    const rwOn = new Map<string, number>();
    for (const c of rw) rwOn.set(c.parent, (rwOn.get(c.parent) ?? 0) + 1);
    const layers = records.map((r) => {
      const d = drivers.get(r.driver);
      return { record: r, files: files.get(r.id), readWriteChildren: rwOn.get(r.id) ?? 0, ...(typeof d === 'string' ? { driverError: d } : {}) };
    });
    const interruptedApplies: LayerCheckFacts['interruptedApplies'] = [];
    for (const d of this.d.registry.listBuiltins('GraphDriver')) {
      if (!hasLayerFilesInspection(d)) continue;
      for (const id of await d.interruptedApplies()) interruptedApplies.push({ driver: d.name, id });
    }
    return { layers, interruptedApplies, staleIntents: await this.staleIntents() };
  }

  /**
   * `tsctl layer check [--repair]`: the problems of tsd's layers (layer-check.ts decides), and
   * with `repair` the safe fixes, each re-checked under the layer's lock before it is done.
   */
  async check(opts: { repair?: boolean; onlySafe?: boolean } = {}): Promise<LayerCheckReport> {
    const facts = await this.gatherFacts();
    const plan = planLayerCheck(facts);
    const parents = new Map(facts.layers.map((l) => [l.record.id, l.record.parent]));
    const depth = (id: string) => { let n = 0; for (let p = parents.get(id); p && n < 1000; p = parents.get(p)) n++; return n; };
    const out: CheckedProblem[] = [];
    for (const p of repairOrder(plan, depth)) {
      const skip = !opts.repair || p.repair.action === 'none' || (opts.onlySafe && p.repair.action === 'remove-layer');
      if (skip) { out.push({ ...p, status: 'open' }); continue; }
      try {
        const done = await this.repair(p);
        out.push({ ...p, status: done ? 'repaired' : 'gone' });
        if (done) this.d.log.warn('layer repaired', { kind: p.kind, layer: p.layer, action: p.repair.action });
      } catch (e) {
        out.push({ ...p, status: 'failed', error: (e as Error).message });
        this.d.log.error('layer repair failed', { kind: p.kind, layer: p.layer, action: p.repair.action, err: e });
      }
    }
    return { checked: facts.layers.length, problems: out, remaining: out.filter((p) => p.status === 'open' || p.status === 'failed').length };
  }

  /** Do one planned repair if it still applies (re-read under the layer's lock). */
  private async repair(p: LayerProblem): Promise<boolean> {
    switch (p.repair.action) {
      case 'finish-operation':
        return this.lock.run(p.layer, async () => {
          const i = (await this.staleIntents()).find((x) => x.id === p.layer);
          if (!i) return false;
          await this.recover(i);
          return true;
        });
      case 'remove-leftover': {
        const d = await this.driver(p.driver);
        return hasLayerFilesInspection(d) ? d.removeInterruptedApply(p.layer) : false;
      }
      case 'unmount':
      case 'reset-mount-count':
        return this.lock.run(p.layer, async () => {
          const r = (await this.d.store.get<LayerRecord>(key(p.layer)))?.value;
          if (!r) return false;
          const d = await this.driver(r.driver);
          const files = await filesOf(d, r.id);
          if (p.repair.action === 'unmount') {
            if (r.mounts !== 0 || files?.kernelMount !== 'mounted') return false;
            await d.put(r.id);
          } else {
            if (r.mounts === 0 || files?.kernelMount !== 'unmounted') return false;
            await this.d.store.put(key(r.id), { ...r, mounts: 0 });
          }
          return true;
        });
      case 'remove-layer':
        return this.lock.run(p.layer, async () => {
          const r = (await this.d.store.get<LayerRecord>(key(p.layer)))?.value;
          if (!r) return false;
          if ((await this.list()).some((c) => c.parent === r.id) || (await this.listReadWrite()).some((c) => c.parent === r.id)) return false;
          const files = await filesOf(await this.driver(r.driver), r.id);
          if (files && (files.missing.length === 0 || files.kernelMount === 'mounted')) return false;
          await this.underWay(r.id, async () => {
            const intent: LayerRemoveIntent = { kind: 'layer-rm', id: r.id, driver: r.driver, created: new Date().toISOString(), ...this.stamp() };
            await this.d.store.put(intentKey(intent), intent);
            await this.finishRemove(intent);
          });
          return true;
        });
      case 'none':
        return false;
    }
  }

  /**
   * A new read-write layer `id` on `parentRef`, mounted (the driver's CreateReadWrite + Get): a
   * sandbox's root filesystem. Undone by releaseReadWrite(id). The parent cannot be removed
   * while it exists.
   */
  async createReadWrite(parentRef: string, id: string, owner: string): Promise<{ record: ReadWriteLayerRecord; path: string }> {
    const p0 = await this.find(parentRef);
    return this.lock.run(p0.id, async () => {
      const parent = await this.find(p0.id);
      const driver = await this.driver(parent.driver);
      const record: ReadWriteLayerRecord = { id, parent: parent.id, driver: parent.driver, owner, created: new Date().toISOString() };
      // The record first: a crash after the driver made the layer must leave a record naming it
      // (and its owner), so the startup sweep can remove it (peers.md #34).
      await this.d.store.put(rwKey(id), record);
      try {
        await driver.createReadWrite(id, parent.id);
        const path = await driver.get(id);
        this.d.log.info('read-write layer created', { id, parent: parent.id, owner });
        return { record, path };
      } catch (e) {
        await driver.remove(id).catch((re: unknown) => this.d.log.error('removing a failed read-write layer', { id, err: re }));
        await this.d.store.delete(rwKey(id)).catch(() => undefined);
        throw e;
      }
    });
  }

  /** Mount a read-write layer again (startup repair when its mount is gone). */
  async remountReadWrite(id: string): Promise<string> {
    const e = await this.d.store.get<ReadWriteLayerRecord>(rwKey(id));
    if (!e) throw new NotFoundError(`read-write layer ${id} not found`);
    return (await this.driver(e.value.driver)).get(id);
  }

  /** Every read-write layer record (startup sweep: layers whose owner sandbox has no record). */
  async listReadWrite(): Promise<ReadWriteLayerRecord[]> {
    return (await this.d.store.list<ReadWriteLayerRecord>('layers-rw/')).map((e) => e.value);
  }

  /** Put (unmount) and remove a read-write layer and its record. Idempotent. */
  async releaseReadWrite(id: string): Promise<void> {
    const e = await this.d.store.get<ReadWriteLayerRecord>(rwKey(id));
    if (!e) return;
    const driver = await this.driver(e.value.driver);
    try {
      await driver.put(id);
    } catch (err) {
      if (!(err instanceof NotFoundError)) this.d.log.warn('unmounting a read-write layer', { id, err });
    }
    await driver.remove(id);
    await this.d.store.delete(rwKey(id));
    this.d.log.info('read-write layer removed', { id });
  }

  /** The layer's changes against its parent, as a tar stream (AUFS whiteouts). */
  async diff(ref: string): Promise<{ record: LayerRecord; tar: Readable }> {
    const r = await this.find(ref);
    return { record: r, tar: await (await this.driver(r.driver)).diff(r.id, r.parent) };
  }
}

export interface CheckedProblem extends LayerProblem {
  /** open: still there (no --repair, or no safe repair); gone: resolved meanwhile (re-checked under the lock). */
  status: 'open' | 'repaired' | 'gone' | 'failed';
  /** Why the repair failed. */
  error?: string;
}

export interface LayerCheckReport {
  /** Layer records looked at. */
  checked: number;
  problems: CheckedProblem[];
  /** Problems still there. */
  remaining: number;
}

/** The driver's view of layers' files; a driver without the capability only says whether each exists. */
async function filesOfAll(d: GraphDriver, ids: readonly string[]): Promise<Array<LayerFilesState | undefined>> {
  if (hasLayerFilesInspection(d)) return d.inspectLayers(ids);
  return Promise.all(ids.map(async (id): Promise<LayerFilesState | undefined> => ((await d.exists(id)) ? { missing: [], kernelMount: 'none' } : undefined)));
}

async function filesOf(d: GraphDriver, id: string): Promise<LayerFilesState | undefined> {
  return (await filesOfAll(d, [id]))[0];
}

/** applyDiff plus the tar's sha256, in one pass (the driver's own when it has one). */
async function applyWithDigest(driver: GraphDriver, id: string, parent: string, tar: Readable): Promise<AppliedDiff> {
  if (hasDigestingApply(driver)) return driver.applyDiffWithDigest(id, parent, tar);
  const hash = crypto.createHash('sha256');
  const tee = new Transform({ transform(c: Buffer, _e, cb) { hash.update(c); cb(null, c); } });
  const [size] = await Promise.all([driver.applyDiff(id, parent, tee), pipeline(tar, tee)]);
  return { size, diffId: `sha256:${hash.digest('hex')}` };
}
