// drivers/volume/local/local-driver.ts — tsd-local (alias "local"): named volumes under the
// driver's data dir in Docker's layout (<dataDir>/<name>/_data), optionally backed by one mount
// (`type`/`device`/`o`: tmpfs, bind, or any filesystem the kernel offers).
//
// State lives in the store under `volumes/<name>` (options, labels, callers, createdAt) and every
// change is a compare-and-swap on that key, so refcounts survive a restart. A volume's mount is
// made for its first caller and removed after its last; `reconcile()` repairs the kernel from the
// store at daemon start.
//
// Seam for sandboxes: `mount(name, callerId)` returns the host path of the volume's data; the
// sandbox service bind-mounts that path into the container root and calls
// `unmount(name, callerId)` when the sandbox goes away (callerId = sandbox id + mount point, so
// one sandbox mounting a volume twice holds two references). See docs/volumes.md.

import fs from 'node:fs';
import path from 'node:path';
import { lookup } from 'node:dns/promises';
import type { DriverContext } from '../../../core/driver/context.js';
import type { VolumeDriver, VolumeInfo, VolumeReconcileReport } from '../../../core/driver/volume-driver.js';
import { ConflictError, InternalError, InvalidArgumentError, NotFoundError, messageOf, withContext } from '../../../core/errors.js';
import { UndoStack } from '../../../core/undo.js';
import type { StoreEntry } from '../../../core/store/store.js';
import {
  NETWORK_FILESYSTEMS,
  redact,
  validateLabels,
  validateOptions,
  validateVolumeName,
  type MountSpec,
} from './validate.js';

export const LOCAL_VOLUME_DRIVER_NAME = 'tsd-local';
export const LOCAL_VOLUME_DRIVER_ALIASES: readonly string[] = ['local'];

/** The stored shape of one volume (`volumes/<name>`). */
export interface LocalVolumeRecord {
  name: string;
  options: Record<string, string>;
  labels: Record<string, string>;
  /** Caller IDs holding a mount, in the order they came. */
  callers: string[];
  createdAt: string;
}

export interface LocalVolumeDriverOptions {
  /** Host name → IP for nfs/cifs `addr=` and CIFS device hosts (default: the system resolver). */
  resolveHost?: (host: string) => Promise<string>;
}

export interface LocalVolumeDriver extends VolumeDriver {
  reconcile(): Promise<VolumeReconcileReport>;
}

const KEY_PREFIX = 'volumes/';
const isIPv4 = (s: string) => /^\d{1,3}(\.\d{1,3}){3}$/.test(s);

export function createLocalVolumeDriver(ctx: DriverContext, opts: LocalVolumeDriverOptions = {}): LocalVolumeDriver {
  const mounts = ctx.kernel.mounts;
  const log = ctx.log;
  const store = ctx.store;
  const resolveHost = opts.resolveHost ?? (async (host: string) => (await lookup(host)).address);
  fs.mkdirSync(ctx.dataDir, { recursive: true, mode: 0o701 });
  // mountinfo shows resolved paths; compare against the real one.
  const root = fs.realpathSync(ctx.dataDir);

  const volumeDir = (name: string) => path.join(root, name);
  const dataPath = (name: string) => path.join(root, name, '_data');
  const key = (name: string) => KEY_PREFIX + name;

  // The kernel's filesystem list only grows (a module loads); re-read it only on a miss.
  let filesystems: ReadonlySet<string> | undefined;
  const env = {
    filesystems: () => (filesystems = mounts.supportedFilesystems()),
    knowsFilesystem: (type: string) => filesystems?.has(type) || env.filesystems().has(type),
    parseMountOptions: (o: string) => mounts.parseMountOptions(o),
    pathExists: (p: string) => fs.existsSync(p),
  };
  const specOf = (rec: LocalVolumeRecord): MountSpec | undefined => validateOptions(rec.options, env);

  // One operation per volume at a time in this process; the store's CAS guards against others.
  const chains = new Map<string, Promise<unknown>>();
  function serialised<T>(name: string, fn: () => Promise<T>): Promise<T> {
    const prev = chains.get(name) ?? Promise.resolve();
    const next = prev.then(fn, fn);
    const tail = next.then(() => undefined, () => undefined);
    chains.set(name, tail);
    void tail.then(() => {
      if (chains.get(name) === tail) chains.delete(name);
    });
    return next;
  }

  async function load(name: string): Promise<StoreEntry<LocalVolumeRecord>> {
    const e = await store.get<LocalVolumeRecord>(key(name));
    if (!e) throw new NotFoundError(`volume ${name}: not found`);
    return e;
  }

  /** Resolve host names in `addr=` and CIFS device URLs (Docker does this at mount time). */
  async function resolved(spec: MountSpec): Promise<MountSpec> {
    if (!NETWORK_FILESYSTEMS.has(spec.type)) return spec;
    let { o, device } = spec;
    const addr = /(?:^|,)addr=([^,]*)/.exec(o)?.[1];
    if (addr && !isIPv4(addr) && !addr.includes(':')) {
      const ip = await wrapResolve(addr);
      o = o.replace(`addr=${addr}`, `addr=${ip}`);
    } else if (spec.type === 'cifs' || spec.type === 'smb3') {
      const host = /^\/\/([^/]+)/.exec(device)?.[1];
      if (host && !isIPv4(host) && !host.startsWith('[')) device = device.replace(`//${host}`, `//${await wrapResolve(host)}`);
    }
    return { ...spec, o, device };
  }

  async function wrapResolve(host: string): Promise<string> {
    try {
      return await resolveHost(host);
    } catch (e) {
      throw new InvalidArgumentError(`option "o": cannot resolve address ${host}: ${messageOf(e)}`, { cause: e });
    }
  }

  async function mountVolume(name: string, spec: MountSpec): Promise<void> {
    const target = dataPath(name);
    fs.mkdirSync(target, { recursive: true, mode: 0o755 });
    const r = await resolved(spec);
    try {
      mounts.mountWithOptions(r.type, r.device, target, r.o);
    } catch (e) {
      throw withContext(`volume ${name}: mount ${r.type} ${r.device}${r.o ? ` (o=${redact(r.o)})` : ''}`, e);
    }
  }

  function unmountVolume(name: string): void {
    const target = dataPath(name);
    // Submounts first (an rbind brings the source's mounts along), then the volume's own.
    for (const m of mounts.mountsUnder(target)) {
      try {
        mounts.unmountIfMounted(m.mountPoint);
      } catch (e) {
        throw withContext(`volume ${name}: unmount ${m.mountPoint}`, e);
      }
    }
  }

  function info(rec: LocalVolumeRecord, table: ReturnType<typeof mounts.readMountInfo>): VolumeInfo {
    const p = dataPath(rec.name);
    return {
      name: rec.name,
      mountpoint: p,
      createdAt: rec.createdAt,
      labels: { ...rec.labels },
      options: { ...rec.options },
      status: { refCount: rec.callers.length, mounted: mounts.isMountPoint(p, table) },
    };
  }

  const sameMap = (a: Record<string, string>, b: Record<string, string>) =>
    Object.keys(a).length === Object.keys(b).length && Object.entries(a).every(([k, v]) => b[k] === v);

  const driver: LocalVolumeDriver = {
    name: LOCAL_VOLUME_DRIVER_NAME,

    async create(name, options, labels) {
      validateVolumeName(name);
      const lbls = validateLabels(labels);
      validateOptions(options ?? {}, env);
      const optsCopy: Record<string, string> = { ...(options ?? {}) };
      await serialised(name, async () => {
        const existing = await store.get<LocalVolumeRecord>(key(name));
        if (existing) {
          // Docker re-sends Create for a volume it already knows; the same request is a no-op.
          if (sameMap(existing.value.options, optsCopy) && sameMap(existing.value.labels, lbls)) return;
          throw new ConflictError(`volume ${name}: already exists with different options or labels`);
        }
        await UndoStack.run(async (undo) => {
          const dir = volumeDir(name);
          if (fs.existsSync(dir)) {
            // Left by an earlier tsd (or a crash between mkdir and commit): adopt it, keep its data.
            if (mounts.mountsUnder(dir).length) throw new ConflictError(`volume ${name}: ${dir} has mounts on it; not adopting it`);
          } else {
            fs.mkdirSync(dir, { mode: 0o701 });
            undo.push(`remove ${dir}`, () => fs.rmSync(dir, { recursive: true, force: true }));
          }
          fs.mkdirSync(path.join(dir, '_data'), { recursive: true, mode: 0o755 });
          const rec: LocalVolumeRecord = { name, options: optsCopy, labels: lbls, callers: [], createdAt: new Date().toISOString() };
          try {
            await store.put(key(name), rec, { ifRevision: 0 });
          } catch (e) {
            throw withContext(`volume ${name}`, e);
          }
        });
        log.info('volume created', { volume: name, type: optsCopy.type });
      });
    },

    async remove(name, removeOpts = {}) {
      validateVolumeName(name);
      await serialised(name, async () => {
        const e = await load(name);
        const rec = e.value;
        if (rec.callers.length && !removeOpts.force) {
          throw new ConflictError(
            `volume ${name}: in use by ${rec.callers.length} caller(s) (${rec.callers.join(', ')}); unmount first or remove with force`,
          );
        }
        unmountVolume(name);
        const dir = volumeDir(name);
        const left = mounts.mountsUnder(dir);
        if (left.length) {
          // Never delete through a mount: a bind volume's source would go with it.
          throw new InternalError(`volume ${name}: ${left[0]!.mountPoint} is still mounted; not deleting ${dir}`);
        }
        await store.delete(key(name), { ifRevision: e.revision });
        if (rec.callers.length) log.warn('volume force-removed while mounted', { volume: name, callers: rec.callers });
        try {
          fs.rmSync(dir, { recursive: true, force: true });
        } catch (err) {
          throw withContext(`volume ${name}: removed from the store, but deleting ${dir} failed`, err);
        }
        log.info('volume removed', { volume: name });
      });
    },

    async mount(name, callerId) {
      validateVolumeName(name);
      if (typeof callerId !== 'string' || callerId === '') throw new InvalidArgumentError(`volume ${name}: mount caller ID is empty`);
      return serialised(name, async () => {
        const e = await load(name);
        const rec = e.value;
        const target = dataPath(name);
        const spec = specOf(rec);
        return UndoStack.run(async (undo) => {
          // Mount when nothing is mounted yet, also if the mount vanished behind our back.
          if (spec && !mounts.isMountPoint(target)) {
            await mountVolume(name, spec);
            undo.push(`unmount ${target}`, () => unmountVolume(name));
          } else if (!spec) {
            fs.mkdirSync(target, { recursive: true, mode: 0o755 });
          }
          if (!rec.callers.includes(callerId)) {
            await store.put(key(name), { ...rec, callers: [...rec.callers, callerId] }, { ifRevision: e.revision });
          }
          return target;
        });
      });
    },

    async unmount(name, callerId) {
      validateVolumeName(name);
      await serialised(name, async () => {
        const e = await load(name);
        const rec = e.value;
        if (!rec.callers.includes(callerId)) return; // unknown caller: nothing to release
        const rest = rec.callers.filter((c) => c !== callerId);
        const spec = specOf(rec);
        await UndoStack.run(async (undo) => {
          if (rest.length === 0 && spec && mounts.isMountPoint(dataPath(name))) {
            unmountVolume(name);
            undo.push(`remount ${dataPath(name)}`, () => mountVolume(name, spec));
          }
          await store.put(key(name), { ...rec, callers: rest }, { ifRevision: e.revision });
        });
      });
    },

    async path(name) {
      validateVolumeName(name);
      await load(name);
      return dataPath(name);
    },

    async get(name) {
      validateVolumeName(name);
      return info((await load(name)).value, mounts.readMountInfo());
    },

    async list() {
      const table = mounts.readMountInfo();
      return (await store.list<LocalVolumeRecord>(KEY_PREFIX)).map((e) => info(e.value, table));
    },

    async capabilities() {
      return { scope: 'local' };
    },

    async reconcile() {
      const report: VolumeReconcileReport = { kept: [], restored: [], dropped: [], strayUnmounted: [] };
      const claimed: string[] = [];
      const before = mounts.readMountInfo();
      for (const entry of await store.list<LocalVolumeRecord>(KEY_PREFIX)) {
        const name = entry.value.name;
        await serialised(name, async () => {
          const e = await store.get<LocalVolumeRecord>(key(name));
          if (!e || e.value.callers.length === 0) return;
          const target = dataPath(name);
          let spec: MountSpec | undefined;
          try {
            spec = specOf(e.value);
            if (!spec) {
              fs.mkdirSync(target, { recursive: true, mode: 0o755 });
              report.kept.push(name);
              return;
            }
            if (mounts.isMountPoint(target, before)) {
              report.kept.push(name);
            } else {
              await mountVolume(name, spec);
              report.restored.push(name);
              log.info('volume mount restored', { volume: name, callers: e.value.callers.length });
            }
            claimed.push(target);
          } catch (err) {
            const reason = messageOf(err);
            report.dropped.push({ name, reason });
            log.warn('volume mount cannot be restored; dropping its callers', { volume: name, callers: e.value.callers, reason });
            await store.put(key(name), { ...e.value, callers: [] }, { ifRevision: e.revision });
          }
        });
      }
      const isClaimed = (p: string) => claimed.some((c) => p === c || p.startsWith(c + '/'));
      for (const m of mounts.mountsUnder(root)) {
        if (m.mountPoint === root || isClaimed(m.mountPoint)) continue;
        try {
          mounts.unmountIfMounted(m.mountPoint);
        } catch (err) {
          log.warn('stray mount cannot be removed', { mountPoint: m.mountPoint, err });
          continue;
        }
        if (!report.strayUnmounted.includes(m.mountPoint)) report.strayUnmounted.push(m.mountPoint);
        log.info('stray mount removed', { mountPoint: m.mountPoint, fsType: m.fsType });
      }
      return report;
    },
  };
  return driver;
}
