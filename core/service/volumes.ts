// core/service/volumes.ts — VolumeService: create, list, inspect, remove and prune volumes
// through the registry's VolumeDriver(s), and mount/unmount them for callers (sandboxes).
// tsd's record keeps driver, options, labels and who has the volume mounted; the driver keeps
// the data. `rm` is refused while a caller has it mounted unless forced (then every caller's
// mount is released first).

import { ConflictError, InvalidArgumentError, MultiError, NotFoundError, messageOf, withContext } from '../errors.js';
import type { DriverRegistry } from '../driver/registry.js';
import type { VolumeDriver, VolumeInfo } from '../driver/volume-driver.js';
import type { Logger } from '../log.js';
import { checkFilterKeys, matchLabels, matchNotLabels, parseUntil, type Filters } from '../model/filters.js';
import { nameProblem, newId } from '../model/ids.js';
import { ANONYMOUS_VOLUME_LABEL, type ApiVolume, type VolumeRecord } from '../model/volume.js';
import { UndoStack } from '../undo.js';
import { KeyedMutex } from './keyed-mutex.js';
import type { Records } from './records.js';

export interface CreateVolumeInput {
  /** "" or absent: an anonymous volume with a generated name. */
  name?: string;
  driver?: string;
  options?: Record<string, string>;
  labels?: Record<string, string>;
}

export interface VolumeServiceDeps {
  records: Records;
  registry: DriverRegistry;
  log: Logger;
  defaultDriver?: string;
}

export const VOLUME_FILTERS = ['dangling', 'driver', 'label', 'name'] as const;
export const VOLUME_PRUNE_FILTERS = ['label', 'label!', 'all', 'until'] as const;

export class VolumeService {
  private readonly lock = new KeyedMutex();
  readonly defaultDriver: string;

  constructor(private readonly d: VolumeServiceDeps) {
    this.defaultDriver = d.defaultDriver ?? 'local';
  }

  /** Docker semantics: creating an existing name with the same driver returns the existing volume. */
  async create(input: CreateVolumeInput): Promise<ApiVolume> {
    const anonymous = !input.name;
    const name = input.name || newId();
    const bad = nameProblem(name);
    if (bad) throw new InvalidArgumentError(`volume name ${JSON.stringify(name)}: ${bad}`);
    const driverName = input.driver || this.defaultDriver;
    return this.lock.run(name, async () => {
      const existing = await this.d.records.getVolume(name);
      if (existing) {
        if (existing.record.driver !== driverName) {
          throw new ConflictError(`volume ${name} already exists with driver ${existing.record.driver}, not ${driverName}`);
        }
        return this.toApi(existing.record);
      }
      const driver = await this.d.registry.get('VolumeDriver', driverName);
      const labels = { ...(input.labels ?? {}), ...(anonymous ? { [ANONYMOUS_VOLUME_LABEL]: '' } : {}) };
      const rec: VolumeRecord = { name, driver: driverName, options: input.options ?? {}, labels, created: new Date().toISOString(), mountedBy: [] };
      await UndoStack.run(async (undo) => {
        await driver.create(name, rec.options);
        undo.push(`remove volume ${name} in driver`, () => driver.remove(name));
        await this.d.records.putVolume(rec, 0);
      }).catch((e: unknown) => {
        throw withContext(`create volume ${name}`, e);
      });
      this.d.log.info('volume created', { volume: name, driver: driverName });
      return this.toApi(rec);
    });
  }

  private async scopeOf(driver: VolumeDriver): Promise<'local' | 'global'> {
    try { return (await driver.capabilities()).scope; } catch { return 'local'; }
  }

  private toApiWith(rec: VolumeRecord, info: VolumeInfo | undefined, scope: 'local' | 'global'): ApiVolume {
    return {
      Name: rec.name,
      Driver: rec.driver,
      Mountpoint: info?.mountpoint ?? '',
      CreatedAt: info?.createdAt ?? rec.created,
      ...(info?.status ? { Status: info.status } : {}),
      Labels: rec.labels,
      Scope: scope,
      Options: rec.options,
      UsageData: { Size: -1, RefCount: rec.mountedBy.length },
    };
  }

  private async toApi(rec: VolumeRecord): Promise<ApiVolume> {
    const driver = await this.d.registry.get('VolumeDriver', rec.driver);
    return this.toApiWith(rec, await driver.get(rec.name), await this.scopeOf(driver));
  }

  async inspect(name: string): Promise<ApiVolume> {
    const e = await this.d.records.getVolume(name);
    if (e) return this.toApi(e.record);
    // Known only to a built-in driver (created by another client of its plugin socket), as ls.
    for (const driver of this.d.registry.listBuiltins('VolumeDriver')) {
      const info = await driver.get(name).catch(() => undefined);
      if (info) return this.toApiWith(this.driverOnlyRecord(driver, info), info, await this.scopeOf(driver));
    }
    throw new NotFoundError(`volume ${name}: no such volume`);
  }

  /** A record-shaped view of a volume tsd has no record of (the driver's own fields). */
  private driverOnlyRecord(driver: VolumeDriver, info: VolumeInfo): VolumeRecord {
    return {
      name: info.name, driver: driver.name, options: info.options ?? {}, labels: info.labels ?? {},
      created: info.createdAt ?? '', mountedBy: [],
    };
  }

  async list(filters: Filters = new Map()): Promise<{ volumes: ApiVolume[]; warnings: string[] }> {
    const bad = checkFilterKeys(filters, VOLUME_FILTERS);
    if (bad) throw new InvalidArgumentError(bad);
    const dangling = filters.get('dangling');
    if (dangling?.some((v) => !['true', 'false', '1', '0'].includes(v))) throw new InvalidArgumentError(`invalid filter 'dangling=${dangling.join(',')}'`);
    const warnings: string[] = [];
    const any = (k: string, pred: (v: string) => boolean) => {
      const vs = filters.get(k);
      return !vs || vs.length === 0 || vs.some(pred);
    };
    // dockerd's `volume ls` merges its store with every driver's own List: a volume another
    // client (a real dockerd on tsd's plugin socket) created in a built-in driver is listed too,
    // under the driver's own name. One List call per driver (not one Get per volume).
    const stored = await this.d.records.listVolumes();
    const listed = new Map<VolumeDriver, { infos: Map<string, VolumeInfo>; scope: 'local' | 'global' } | undefined>();
    const listOf = async (driver: VolumeDriver) => {
      if (!listed.has(driver)) {
        try {
          listed.set(driver, { infos: new Map((await driver.list()).map((i) => [i.name, i])), scope: await this.scopeOf(driver) });
        } catch (e) {
          warnings.push(`volume driver ${driver.name}: ${messageOf(e)}`);
          listed.set(driver, undefined);
        }
      }
      return listed.get(driver);
    };
    const byRecordDriver = new Map<string, VolumeDriver | undefined>();
    for (const name of new Set(stored.map((r) => r.driver))) {
      try {
        const driver = await this.d.registry.get('VolumeDriver', name);
        byRecordDriver.set(name, driver);
        await listOf(driver);
      } catch (e) {
        warnings.push(`volume driver ${name}: ${messageOf(e)}`);
      }
    }
    const all: Array<{ rec: VolumeRecord; info: VolumeInfo | undefined; scope: 'local' | 'global' }> = stored.map((rec) => {
      const drv = byRecordDriver.get(rec.driver);
      const d = drv && listed.get(drv);
      return { rec, info: d?.infos.get(rec.name), scope: d?.scope ?? 'local' };
    });
    const known = new Set(stored.map((r) => r.name));
    for (const driver of this.d.registry.listBuiltins('VolumeDriver')) {
      const d = await listOf(driver);
      for (const info of d?.infos.values() ?? []) {
        if (known.has(info.name)) continue;
        known.add(info.name);
        all.push({ rec: this.driverOnlyRecord(driver, info), info, scope: d!.scope });
      }
    }
    const volumes = all
      .filter(({ rec: r }) =>
        any('name', (v) => r.name.includes(v)) &&
        any('driver', (v) => r.driver === v) &&
        matchLabels(r.labels, filters.get('label')) &&
        any('dangling', (v) => (v === 'true' || v === '1') === (r.mountedBy.length === 0)))
      .map(({ rec, info, scope }) => this.toApiWith(rec, info, scope));
    return { volumes: volumes.sort((a, b) => a.Name.localeCompare(b.Name)), warnings };
  }

  async remove(name: string, opts: { force?: boolean } = {}): Promise<void> {
    await this.lock.run(name, async () => {
      const e = await this.d.records.getVolume(name);
      if (!e) {
        // Listed from a built-in driver only (see list): removed through that driver.
        for (const driver of this.d.registry.listBuiltins('VolumeDriver')) {
          if (!(await driver.get(name).catch(() => undefined))) continue;
          await driver.remove(name, opts.force ? { force: true } : undefined);
          this.d.log.info('volume removed (known only to its driver)', { volume: name, driver: driver.name });
          return;
        }
        if (opts.force) return; // docker volume rm -f ignores a missing volume
        throw new NotFoundError(`volume ${name}: no such volume`);
      }
      const rec = e.record;
      if (rec.mountedBy.length && !opts.force) {
        throw new ConflictError(`remove ${name}: volume is in use - [${rec.mountedBy.join(', ')}]`);
      }
      const errors: unknown[] = [];
      let driver: VolumeDriver | undefined;
      try { driver = await this.d.registry.get('VolumeDriver', rec.driver); } catch (err) { errors.push(err); }
      if (driver) {
        for (const caller of rec.mountedBy) {
          try { await driver.unmount(name, caller); } catch (err) { errors.push(new Error(`unmount for ${caller}: ${messageOf(err)}`, { cause: err })); }
        }
        try { await driver.remove(name); } catch (err) {
          if (!(err instanceof NotFoundError)) errors.push(err);
        }
      }
      if (errors.length && !opts.force) throw new MultiError(`remove volume ${name}`, errors);
      if (errors.length) this.d.log.warn('volume removed with errors (forced)', { volume: name, err: new MultiError('teardown', errors) });
      await this.d.records.deleteVolume(name);
      this.d.log.info('volume removed', { volume: name });
    });
  }

  /** Docker ≥ 1.42: prune removes unused anonymous volumes; `all=true` removes every unused one. */
  async prune(filters: Filters = new Map()): Promise<{ deleted: string[]; spaceReclaimed: number }> {
    const bad = checkFilterKeys(filters, VOLUME_PRUNE_FILTERS);
    if (bad) throw new InvalidArgumentError(bad);
    const all = (filters.get('all') ?? []).some((v) => v === 'true' || v === '1');
    let until = Infinity;
    for (const u of filters.get('until') ?? []) {
      try { until = Math.min(until, parseUntil(u)); } catch (e) { throw new InvalidArgumentError(messageOf(e)); }
    }
    const deleted: string[] = [];
    for (const r of await this.d.records.listVolumes()) {
      if (r.mountedBy.length) continue;
      if (!all && !(ANONYMOUS_VOLUME_LABEL in r.labels)) continue;
      if (Date.parse(r.created) >= until) continue;
      if (!matchLabels(r.labels, filters.get('label')) || !matchNotLabels(r.labels, filters.get('label!'))) continue;
      try {
        await this.remove(r.name);
        deleted.push(r.name);
      } catch (e) {
        this.d.log.warn('prune: volume not removed', { volume: r.name, err: e });
      }
    }
    return { deleted, spaceReclaimed: 0 };
  }

  /** Mount for `callerId` (a sandbox id). Undone by unmount. */
  async mount(name: string, callerId: string): Promise<string> {
    return this.lock.run(name, async () => {
      const e = await this.d.records.getVolume(name);
      if (!e) throw new NotFoundError(`volume ${name}: no such volume`);
      const driver = await this.d.registry.get('VolumeDriver', e.record.driver);
      const p = await driver.mount(name, callerId);
      if (!e.record.mountedBy.includes(callerId)) {
        try {
          await this.d.records.putVolume({ ...e.record, mountedBy: [...e.record.mountedBy, callerId] }, e.revision);
        } catch (err) {
          await driver.unmount(name, callerId).catch(() => undefined);
          throw err;
        }
      }
      return p;
    });
  }

  async unmount(name: string, callerId: string): Promise<void> {
    await this.lock.run(name, async () => {
      const e = await this.d.records.getVolume(name);
      if (!e) throw new NotFoundError(`volume ${name}: no such volume`);
      const driver = await this.d.registry.get('VolumeDriver', e.record.driver);
      await driver.unmount(name, callerId);
      await this.d.records.putVolume({ ...e.record, mountedBy: e.record.mountedBy.filter((c) => c !== callerId) }, e.revision);
    });
  }

  /** Startup check: volumes whose driver no longer knows them are reported (not deleted: data may come back with a plugin). */
  async reconcile(): Promise<{ missing: string[] }> {
    const missing: string[] = [];
    for (const r of await this.d.records.listVolumes()) {
      try {
        const driver = await this.d.registry.get('VolumeDriver', r.driver);
        await driver.get(r.name);
      } catch (e) {
        missing.push(r.name);
        this.d.log.warn('reconcile: volume unavailable', { volume: r.name, driver: r.driver, err: e });
      }
    }
    return { missing };
  }
}
