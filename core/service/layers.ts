// core/service/layers.ts — LayerService: tsd's own layers (tsctl layer …) on a graph driver.
// Import streams a tar into a new layer on a parent and records the diff ID computed in the same
// pass; mount/unmount are the driver's Get/Put with a count kept in the record; diff streams the
// layer's changes against its parent; rm is refused while mounted or while a child sits on top.
// The driver keeps the files, the record (store key "layers/<id>") keeps id, parent, diffId,
// size, driver and the mount count. A failed import removes the half-made layer.

import crypto from 'node:crypto';
import { Transform, type Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { DriverRegistry } from '../driver/registry.js';
import { hasDigestingApply, type AppliedDiff, type GraphDriver } from '../driver/graph-driver.js';
import { ConflictError, InvalidArgumentError, NotFoundError } from '../errors.js';
import type { Logger } from '../log.js';
import { ID_RE, newId } from '../model/ids.js';
import type { Store } from '../store/store.js';
import { KeyedMutex } from './keyed-mutex.js';

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
    return this.lock.run(parentId || id, async () => {
      if (parent && !(await this.d.store.get(key(parent.id)))) throw new NotFoundError(`layer ${parent.id} not found`);
      await driver.create(id, parentId);
      try {
        const applied = await applyWithDigest(driver, id, parentId, tar);
        const rec: LayerRecord = {
          id, parent: parentId, diffId: applied.diffId, size: applied.size, driver: driverName, created: new Date().toISOString(), mounts: 0,
        };
        await this.d.store.put(key(id), rec);
        this.d.log.info('layer imported', { id, parent: parentId, diffId: rec.diffId, size: rec.size, driver: driverName });
        return rec;
      } catch (e) {
        await driver.remove(id).catch((re: unknown) => this.d.log.error('removing a failed import', { id, err: re }));
        tar.resume();
        throw e;
      }
    });
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
      // Record first: a crash between the two leaves an orphan directory, never a record without files.
      await this.d.store.delete(key(r.id));
      await (await this.driver(r.driver)).remove(r.id);
      this.d.log.info('layer removed', { id: r.id });
      return r;
    });
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

/** applyDiff plus the tar's sha256, in one pass (the driver's own when it has one). */
async function applyWithDigest(driver: GraphDriver, id: string, parent: string, tar: Readable): Promise<AppliedDiff> {
  if (hasDigestingApply(driver)) return driver.applyDiffWithDigest(id, parent, tar);
  const hash = crypto.createHash('sha256');
  const tee = new Transform({ transform(c: Buffer, _e, cb) { hash.update(c); cb(null, c); } });
  const [size] = await Promise.all([driver.applyDiff(id, parent, tee), pipeline(tar, tee)]);
  return { size, diffId: `sha256:${hash.digest('hex')}` };
}
