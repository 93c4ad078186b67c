// drivers/graph/vfs/vfs-driver.ts — the vfs graph driver: every layer is a full directory tree at
// <root>/dir/<id> (moby's layout), created as a copy of its parent (cp -a with reflinks where the
// file system has them: xattrs, owners, hardlinks and holes kept). Get returns the directory, Put
// does nothing. Diff/Changes/ApplyDiff/DiffSize are the naive ones: compare trees, AUFS whiteouts.
// Slow and big by design (moby/docker-cli#3741) but works on any file system, e.g. inside overlay.

import fs from 'node:fs';
import type { Readable } from 'node:stream';
import type { DriverContext } from '../../../core/driver/context.js';
import type {
  AppliedDiff, CreateLayerOptions, DigestingApply, GraphDriver, GraphDriverCapabilities, GraphInitRequest, LayerChange,
} from '../../../core/driver/graph-driver.js';
import { ConflictError, InvalidArgumentError, NotFoundError, NotImplementedError, wrap } from '../../../core/errors.js';
import { UndoStack } from '../../../core/undo.js';
import { applyLayer } from '../archive/apply.js';
import { changesSize, naiveChanges } from '../archive/changes.js';
import { exportChanges, exportTree } from '../archive/export.js';
import { checkLayerId, KeyedLock } from '../archive/layer-id.js';

export const VFS_DRIVER_NAME = 'tsd-vfs';

export class VfsDriver implements GraphDriver, DigestingApply {
  readonly name = VFS_DRIVER_NAME;
  private readonly home: string;
  private readonly lock = new KeyedLock();

  constructor(private readonly ctx: DriverContext) {
    this.home = `${ctx.dataDir}/dir`;
  }

  private dir(id: string): string {
    return `${this.home}/${checkLayerId(id)}`;
  }

  private existing(id: string): string {
    const d = this.dir(id);
    if (!fs.existsSync(d)) throw new NotFoundError(`layer ${id}: not found`);
    return d;
  }

  async init(req: GraphInitRequest): Promise<void> {
    for (const o of req.options ?? []) {
      throw new InvalidArgumentError(`storage option ${o.split('=')[0]}: not supported by ${this.name}`);
    }
    if ([...(req.uidMaps ?? []), ...(req.gidMaps ?? [])].some((m) => m.containerId !== m.hostId)) {
      throw new NotImplementedError(`${this.name}: user namespace id maps are not supported yet`);
    }
    fs.mkdirSync(this.home, { recursive: true, mode: 0o710 });
  }

  async capabilities(): Promise<GraphDriverCapabilities> {
    return { reproducesExactDiffs: false };
  }

  async create(id: string, parent: string, opts?: CreateLayerOptions): Promise<void> {
    return this.createLayer(id, parent, opts);
  }

  async createReadWrite(id: string, parent: string, opts?: CreateLayerOptions): Promise<void> {
    return this.createLayer(id, parent, opts);
  }

  private async createLayer(id: string, parent: string, opts?: CreateLayerOptions): Promise<void> {
    const dir = this.dir(id);
    for (const k of Object.keys(opts?.storageOpt ?? {})) {
      throw new InvalidArgumentError(`create layer ${id}: storage option ${k} is not supported by ${this.name}`);
    }
    await this.lock.run(id, () => wrap(`create layer ${id}`, () => UndoStack.run(async (undo) => {
      const pdir = parent ? this.dir(parent) : undefined;
      if (pdir && !fs.existsSync(pdir)) throw new NotFoundError(`parent layer ${parent}: not found`);
      try {
        fs.mkdirSync(dir, 0o755);
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code === 'EEXIST') throw new ConflictError(`layer ${id}: already exists`);
        throw e;
      }
      undo.push(`remove ${dir}`, () => fs.rmSync(dir, { recursive: true, force: true }));
      fs.chmodSync(dir, 0o755);
      if (pdir) await this.ctx.kernel.files.copyTree(pdir, dir);
    })));
  }

  async remove(id: string): Promise<void> {
    const dir = this.dir(id);
    await this.lock.run(id, () => fs.rmSync(dir, { recursive: true, force: true }));
  }

  async get(id: string): Promise<string> {
    return this.existing(id);
  }

  async put(id: string): Promise<void> {
    this.existing(id);
  }

  async exists(id: string): Promise<boolean> {
    try {
      return fs.existsSync(this.dir(id));
    } catch {
      return false;
    }
  }

  async status(): Promise<Array<[string, string]>> {
    return [];
  }

  async getMetadata(id: string): Promise<Record<string, string>> {
    this.existing(id);
    return {};
  }

  async cleanup(): Promise<void> {}

  private files() {
    return this.ctx.kernel.files;
  }

  async diff(id: string, parent: string): Promise<Readable> {
    const dir = this.existing(id);
    if (!parent) return exportTree(dir, { files: this.files(), whiteouts: 'none' });
    return exportChanges(dir, naiveChanges(dir, this.existing(parent), this.files()), this.files());
  }

  async changes(id: string, parent: string): Promise<LayerChange[]> {
    const dir = this.existing(id);
    return naiveChanges(dir, parent ? this.existing(parent) : undefined, this.files());
  }

  async applyDiff(id: string, parent: string, tar: Readable): Promise<number> {
    return (await this.applyDiffWithDigest(id, parent, tar)).size;
  }

  async applyDiffWithDigest(id: string, parent: string, tar: Readable): Promise<AppliedDiff> {
    const dir = this.existing(id);
    const pdir = parent ? this.existing(parent) : undefined;
    return this.lock.run(id, async () => {
      try {
        return await applyLayer(tar, dir, { files: this.files(), whiteouts: 'aufs' });
      } catch (e) {
        // Leave the layer as it was before the apply: a fresh copy of its parent (or empty).
        await wrap(`restore layer ${id} after a failed apply`, async () => {
          fs.rmSync(dir, { recursive: true, force: true });
          fs.mkdirSync(dir, 0o755);
          fs.chmodSync(dir, 0o755);
          if (pdir) await this.ctx.kernel.files.copyTree(pdir, dir);
        }).catch((re) => this.ctx.log.error('restore after failed apply', { id, err: re }));
        throw e;
      }
    });
  }

  async diffSize(id: string, parent: string): Promise<number> {
    const dir = this.existing(id);
    return changesSize(dir, naiveChanges(dir, parent ? this.existing(parent) : undefined, this.files()));
  }
}

export function createVfsDriver(ctx: DriverContext): VfsDriver {
  return new VfsDriver(ctx);
}
