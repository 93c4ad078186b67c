// drivers/graph/overlay2/overlay2-driver.ts — the overlay2 graph driver with moby's on-disk layout,
// so a /var/lib/docker/overlay2 tree and ours read the same:
//
//   <root>/<id>/diff/      the layer's own files (overlay upperdir; the base layer's only content)
//   <root>/<id>/link       26-char short name; <root>/l/<link> → ../<id>/diff
//   <root>/<id>/lower      "l/<parent link>:l/<grandparent link>:…" (only with a parent)
//   <root>/<id>/work/      overlay workdir (only with a parent)
//   <root>/<id>/merged/    mount point, exists while mounted
//   <root>/<id>/committed  written when a child is created: the layer is then mounted read-only
//
// <root> is the driver's DriverContext dataDir (tsd's <data-root>/drivers/tsd-overlay2), never the
// Home that dockerd's GraphDriver.Init sends: the same layers serve dockerd and tsd's own layer
// API, and dockerd's Home differs per dockerd (--data-root) while tsd's root is locked to one tsd.
// Everything that must survive a restart is on disk; mount refcounts live in memory and are
// rebuilt from /proc/self/mountinfo at init (a mounted merged/ counts as one reference).
// A first apply unpacks into <id>/diff-apply/ and renames it over the empty diff/ (one rename(2)),
// so a kill leaves the layer empty plus a diff-apply/ leftover, never a half-filled diff/;
// inspectLayers / interruptedApplies / removeInterruptedApply let tsd's reconcile and
// `tsctl layer check` find and remove such leftovers (peers.md #36).
// Long lower chains: when the option string with absolute paths exceeds a page, the mount runs in
// a child mount(8) process whose working directory is <root>, with relative l/ paths — moby forks
// a helper for the same reason (chdir is process-wide; Node cannot chdir one thread).
// Diff/Changes/ApplyDiff/DiffSize are native (the upper dir) when `parent` is the direct parent,
// naive (compare the mounted trees) otherwise, as in moby.

import crypto from 'node:crypto';
import fs from 'node:fs';
import type { Readable } from 'node:stream';
import type { DriverContext } from '../../../core/driver/context.js';
import type {
  AppliedDiff, CreateLayerOptions, DigestingApply, GraphDriver, GraphDriverCapabilities, GraphInitRequest, LayerChange,
  LayerFilesInspection, LayerFilesState,
} from '../../../core/driver/graph-driver.js';
import { ConflictError, InvalidArgumentError, NotFoundError, NotImplementedError, wrap } from '../../../core/errors.js';
import { UndoStack } from '../../../core/undo.js';
import { applyLayer } from '../archive/apply.js';
import { changesSize, naiveChanges, overlayChanges, treeSize } from '../archive/changes.js';
import { exportChanges, exportTree } from '../archive/export.js';
import { checkLayerId, KeyedLock } from '../archive/layer-id.js';

export const OVERLAY2_DRIVER_NAME = 'tsd-overlay2';
/** moby's maxDepth: more lower layers than this cannot be mounted reliably. */
export const MAX_DEPTH = 128;
const LINK_LEN = 26;
const PAGE = 4096;

function shortId(): string {
  // moby: base32 (std alphabet) of random bytes, cut to 26 characters.
  const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567';
  const bytes = crypto.randomBytes(LINK_LEN);
  let s = '';
  for (let i = 0; i < LINK_LEN; i++) s += alphabet[bytes[i]! & 31];
  return s;
}

function readOptional(p: string): string | undefined {
  try {
    return fs.readFileSync(p, 'utf8');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw e;
  }
}

export class Overlay2Driver implements GraphDriver, DigestingApply, LayerFilesInspection {
  readonly name = OVERLAY2_DRIVER_NAME;
  private readonly root: string;
  private readonly refs = new Map<string, number>();
  private readonly lock = new KeyedLock();
  /** Layers whose first apply is unpacking into diff-apply/ right now (not leftovers). */
  private readonly applying = new Set<string>();
  private initialised = false;

  constructor(private readonly ctx: DriverContext) {
    this.root = ctx.dataDir;
  }

  private dir(id: string): string {
    return `${this.root}/${checkLayerId(id)}`;
  }

  async init(req: GraphInitRequest): Promise<void> {
    for (const o of req.options ?? []) {
      const key = o.split('=')[0]!.trim().toLowerCase();
      throw new InvalidArgumentError(`storage option ${key}: not supported by ${this.name}`);
    }
    const remapped = [...(req.uidMaps ?? []), ...(req.gidMaps ?? [])].some((m) => m.containerId !== m.hostId);
    if (remapped) throw new NotImplementedError(`${this.name}: user namespace id maps are not supported yet`);
    if (!fs.readFileSync('/proc/filesystems', 'utf8').includes('\toverlay\n')) {
      throw new NotImplementedError(`${this.name}: the kernel has no overlay filesystem`);
    }
    fs.mkdirSync(this.root, { recursive: true, mode: 0o710 });
    fs.mkdirSync(`${this.root}/l`, { recursive: true, mode: 0o700 });
    // tsd inits at start and dockerd again on every GraphDriver.Init: only the first rebuilds refs,
    // a later one must not forget references taken in between.
    if (this.initialised) return;
    this.initialised = true;
    for (const m of this.ctx.kernel.mounts.mountsUnder(this.root)) {
      const rel = m.mountPoint.slice(this.root.length + 1).split('/');
      if (m.fsType === 'overlay' && rel.length === 2 && rel[1] === 'merged') this.refs.set(rel[0]!, 1);
    }
    this.ctx.log.debug('overlay2 ready', { root: this.root, mounted: this.refs.size });
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
    if (parent) checkLayerId(parent, 'parent');
    for (const k of Object.keys(opts?.storageOpt ?? {})) {
      throw new InvalidArgumentError(`create layer ${id}: storage option ${k} is not supported by ${this.name} (no quota support)`);
    }
    await this.lock.run(id, () => wrap(`create layer ${id}`, () => UndoStack.run(async (undo) => {
      let lower = '';
      if (parent) {
        const pdir = this.dir(parent);
        const plink = readOptional(`${pdir}/link`);
        if (plink === undefined) throw new NotFoundError(`parent layer ${parent}: not found`);
        const plower = readOptional(`${pdir}/lower`);
        lower = plower ? `l/${plink.trim()}:${plower}` : `l/${plink.trim()}`;
        if (lower.split(':').length > MAX_DEPTH) throw new InvalidArgumentError(`parent layer ${parent}: max depth of ${MAX_DEPTH} layers exceeded`);
      }
      try {
        fs.mkdirSync(dir, 0o710);
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code === 'EEXIST') throw new ConflictError(`layer ${id}: already exists`);
        throw e;
      }
      undo.push(`remove ${dir}`, () => fs.rmSync(dir, { recursive: true, force: true }));
      fs.mkdirSync(`${dir}/diff`, 0o755);
      fs.chmodSync(`${dir}/diff`, 0o755);
      const link = shortId();
      // The link file before the l/ symlink: a kill between them leaves a name remove() finds
      // (and rm -f's), never an l/ symlink no layer names.
      fs.writeFileSync(`${dir}/link`, link, { mode: 0o644 });
      fs.symlinkSync(`../${id}/diff`, `${this.root}/l/${link}`);
      undo.push(`remove l/${link}`, () => fs.rmSync(`${this.root}/l/${link}`, { force: true }));
      if (parent) {
        fs.writeFileSync(`${dir}/lower`, lower, { mode: 0o644 });
        fs.mkdirSync(`${dir}/work`, 0o700);
        fs.writeFileSync(`${this.dir(parent)}/committed`, '', { mode: 0o600 });
      }
    })));
  }

  async remove(id: string): Promise<void> {
    const dir = this.dir(id);
    await this.lock.run(id, () => wrap(`remove layer ${id}`, async () => {
      this.ctx.kernel.mounts.unmountIfMounted(`${dir}/merged`);
      this.refs.delete(id);
      const link = readOptional(`${dir}/link`);
      if (link) fs.rmSync(`${this.root}/l/${checkLayerId(link.trim(), 'link')}`, { force: true });
      else this.removeLinksTo(id);
      fs.rmSync(dir, { recursive: true, force: true });
    }));
  }

  /** The layer's link file is gone (its dir was damaged): find its l/ symlink by target instead. */
  private removeLinksTo(id: string): void {
    let names: string[] = [];
    try { names = fs.readdirSync(`${this.root}/l`); } catch { return; }
    for (const n of names) {
      try {
        if (fs.readlinkSync(`${this.root}/l/${n}`) === `../${id}/diff`) fs.rmSync(`${this.root}/l/${n}`, { force: true });
      } catch { /* not a symlink, or gone meanwhile */ }
    }
  }

  async get(id: string, _mountLabel?: string): Promise<string> {
    const dir = this.dir(id);
    return this.lock.run(id, () => wrap(`mount layer ${id}`, async () => {
      if (!fs.existsSync(dir)) throw new NotFoundError(`layer ${id}: not found`);
      const lowers = readOptional(`${dir}/lower`);
      if (lowers === undefined) return `${dir}/diff`;
      const merged = `${dir}/merged`;
      const n = this.refs.get(id) ?? 0;
      if (n > 0) {
        this.refs.set(id, n + 1);
        return merged;
      }
      const rel = lowers.trim().split(':');
      const readonly = fs.existsSync(`${dir}/committed`);
      fs.mkdirSync(merged, { mode: 0o700, recursive: true });
      const extra = ['index=off'];
      const abs = readonly
        ? { lowerdirs: [`${dir}/diff`, ...rel.map((l) => `${this.root}/${l}`)], extra }
        : { lowerdirs: rel.map((l) => `${this.root}/${l}`), upperdir: `${dir}/diff`, workdir: `${dir}/work`, extra };
      const m = this.ctx.kernel.mounts;
      try {
        const data = [...extra, `lowerdir=${abs.lowerdirs.join(':')}`, abs.upperdir ? `upperdir=${abs.upperdir},workdir=${abs.workdir}` : ''].join(',');
        if (Buffer.byteLength(data) < PAGE) {
          m.mountOverlay(merged, abs);
        } else {
          const relOpts = readonly
            ? { lowerdirs: [`${id}/diff`, ...rel], extra }
            : { lowerdirs: rel, upperdir: `${id}/diff`, workdir: `${id}/work`, extra };
          await m.mountOverlayFrom(this.root, `${id}/merged`, relOpts);
        }
      } catch (e) {
        fs.rmSync(merged, { recursive: true, force: true });
        throw e;
      }
      this.refs.set(id, 1);
      return merged;
    }));
  }

  async put(id: string): Promise<void> {
    const dir = this.dir(id);
    await this.lock.run(id, () => wrap(`unmount layer ${id}`, async () => {
      if (!fs.existsSync(dir)) throw new NotFoundError(`layer ${id}: not found`);
      const n = this.refs.get(id) ?? 0;
      if (n > 1) {
        this.refs.set(id, n - 1);
        return;
      }
      this.refs.delete(id);
      if (!fs.existsSync(`${dir}/lower`)) return;
      this.ctx.kernel.mounts.unmountIfMounted(`${dir}/merged`);
      try {
        fs.rmdirSync(`${dir}/merged`);
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e;
      }
    }));
  }

  async exists(id: string): Promise<boolean> {
    try {
      return fs.existsSync(this.dir(id));
    } catch {
      return false;
    }
  }

  async status(): Promise<Array<[string, string]>> {
    const mounts = this.ctx.kernel.mounts.readMountInfo();
    let backing = 'unknown';
    let best = -1;
    for (const m of mounts) {
      if ((this.root === m.mountPoint || this.root.startsWith(m.mountPoint === '/' ? '/' : m.mountPoint + '/')) && m.mountPoint.length > best) {
        best = m.mountPoint.length;
        backing = m.fsType === 'ext4' ? 'extfs' : m.fsType;
      }
    }
    return [
      ['Backing Filesystem', backing],
      ['Supports d_type', 'true'],
      ['Using metacopy', 'false'],
      ['Native Overlay Diff', 'true'],
      ['userxattr', 'false'],
    ];
  }

  /** Absolute diff dirs of the lower layers, nearest first. */
  private lowerDirs(id: string): string[] {
    const lower = readOptional(`${this.dir(id)}/lower`);
    if (!lower) return [];
    return lower.trim().split(':').map((l) => fs.realpathSync(`${this.root}/${l}`));
  }

  async getMetadata(id: string): Promise<Record<string, string>> {
    const dir = this.dir(id);
    if (!fs.existsSync(dir)) throw new NotFoundError(`layer ${id}: not found`);
    const md: Record<string, string> = { WorkDir: `${dir}/work`, MergedDir: `${dir}/merged`, UpperDir: `${dir}/diff` };
    const lowers = this.lowerDirs(id);
    if (lowers.length) md.LowerDir = lowers.join(':');
    return md;
  }

  async cleanup(): Promise<void> {
    const m = this.ctx.kernel.mounts;
    for (const mi of m.mountsUnder(this.root)) {
      if (mi.fsType === 'overlay' && mi.mountPoint.endsWith('/merged')) {
        m.unmountIfMounted(mi.mountPoint);
        try { fs.rmdirSync(mi.mountPoint); } catch { /* busy or gone: moby ignores this too */ }
      }
    }
    this.refs.clear();
  }

  /** moby's isParent: `parent` is the layer right below `id` ("" for a base layer). */
  private isParent(id: string, parent: string): boolean {
    const lowers = this.lowerDirs(id);
    if (!parent) return lowers.length === 0;
    if (lowers.length === 0) return false;
    return lowers[0] === fs.realpathSync(`${this.dir(parent)}/diff`);
  }

  private files() {
    return this.ctx.kernel.files;
  }

  async diff(id: string, parent: string): Promise<Readable> {
    const dir = this.dir(id);
    if (parent) checkLayerId(parent, 'parent');
    if (!fs.existsSync(dir)) throw new NotFoundError(`layer ${id}: not found`);
    if (this.isParent(id, parent)) return exportTree(`${dir}/diff`, { files: this.files(), whiteouts: 'overlay' });
    return this.withMounted(id, parent, (top, base) => exportChanges(top, naiveChanges(top, base, this.files()), this.files()), true);
  }

  /** Mount `id` (and `parent`), run `fn`; put both when fn's result (a stream) closes, or at once. */
  private async withMounted<T>(id: string, parent: string, fn: (top: string, base: string | undefined) => T, isStream = false): Promise<T> {
    const top = await this.get(id);
    let base: string | undefined;
    const release = async () => {
      await this.put(id).catch((e) => this.ctx.log.warn('put after naive diff failed', { id, err: e }));
      if (parent) await this.put(parent).catch((e) => this.ctx.log.warn('put after naive diff failed', { id: parent, err: e }));
    };
    try {
      if (parent) base = await this.get(parent);
      const out = fn(top, base);
      if (isStream) {
        (out as unknown as Readable).once('close', () => void release());
        return out;
      }
      await release();
      return out;
    } catch (e) {
      if (parent && base === undefined) await this.put(id).catch(() => {});
      else await release();
      throw e;
    }
  }

  async changes(id: string, parent: string): Promise<LayerChange[]> {
    const dir = this.dir(id);
    if (parent) checkLayerId(parent, 'parent');
    if (!fs.existsSync(dir)) throw new NotFoundError(`layer ${id}: not found`);
    if (this.isParent(id, parent)) return overlayChanges(`${dir}/diff`, this.lowerDirs(id), this.files());
    return this.withMounted(id, parent, (top, base) => naiveChanges(top, base, this.files()));
  }

  async applyDiff(id: string, parent: string, tar: Readable): Promise<number> {
    return (await this.applyDiffWithDigest(id, parent, tar)).size;
  }

  async applyDiffWithDigest(id: string, parent: string, tar: Readable): Promise<AppliedDiff> {
    const dir = this.dir(id);
    if (parent) checkLayerId(parent, 'parent');
    if (!fs.existsSync(dir)) throw new NotFoundError(`layer ${id}: not found`);
    if (!this.isParent(id, parent)) {
      // Naive path: apply with AUFS semantics through the mounted layer.
      return this.withMountedAsync(id, (top) => applyLayer(tar, top, { files: this.files(), whiteouts: 'aufs' }));
    }
    return this.lock.run(id, async () => {
      const diff = `${dir}/diff`;
      const fresh = fs.readdirSync(diff).length === 0 && !(this.refs.get(id) ?? 0);
      if (!fresh) return applyLayer(tar, diff, { files: this.files(), whiteouts: 'overlay' });
      // Unpack next to diff/ and swap it in on success, so a refused or broken tar leaves the
      // layer exactly as it was (empty).
      // rename(2) replaces the empty diff/ in one step: a kill at any instant leaves either the
      // empty diff/ plus a diff-apply/ (a leftover removed by interruptedApplies' caller) or the
      // complete diff/.
      const staging = `${dir}/diff-apply`;
      this.applying.add(id);
      try {
        fs.rmSync(staging, { recursive: true, force: true });
        fs.mkdirSync(staging, 0o755);
        fs.chmodSync(staging, 0o755);
        const r = await applyLayer(tar, staging, { files: this.files(), whiteouts: 'overlay' });
        fs.renameSync(staging, diff);
        return r;
      } catch (e) {
        fs.rmSync(staging, { recursive: true, force: true });
        throw e;
      } finally {
        this.applying.delete(id);
      }
    });
  }

  async inspectLayers(ids: readonly string[]): Promise<Array<LayerFilesState | undefined>> {
    const merged = new Set(this.ctx.kernel.mounts.mountsUnder(this.root).filter((m) => m.fsType === 'overlay').map((m) => m.mountPoint));
    return ids.map((id) => this.inspectLayer(id, merged));
  }

  private inspectLayer(id: string, mergedMounts: ReadonlySet<string>): LayerFilesState | undefined {
    const dir = this.dir(id);
    if (!fs.existsSync(dir)) return undefined;
    const missing: string[] = [];
    const isDir = (p: string) => { try { return fs.statSync(p).isDirectory(); } catch { return false; } };
    if (!isDir(`${dir}/diff`)) missing.push('diff/');
    const link = readOptional(`${dir}/link`)?.trim();
    if (!link) missing.push('link');
    else if (!isDir(`${this.root}/l/${link}`)) missing.push(`l/${link}`);
    const lower = readOptional(`${dir}/lower`)?.trim();
    if (lower !== undefined) {
      if (!isDir(`${dir}/work`)) missing.push('work/');
      // isDir follows the l/ symlink: a parent whose diff/ is gone shows here too.
      for (const l of lower.split(':')) if (!isDir(`${this.root}/${l}`)) missing.push(`lower ${l}`);
    }
    const kernelMount = lower === undefined ? 'none' : mergedMounts.has(`${dir}/merged`) ? 'mounted' : 'unmounted';
    return { missing, kernelMount };
  }

  async interruptedApplies(): Promise<string[]> {
    let entries: string[] = [];
    try { entries = fs.readdirSync(this.root); } catch { return []; }
    return entries.filter((e) => e !== 'l' && !this.applying.has(e) && fs.existsSync(`${this.root}/${e}/diff-apply`)).sort();
  }

  async removeInterruptedApply(id: string): Promise<boolean> {
    const dir = this.dir(id);
    // The lock waits out an apply under way; after it, diff-apply/ is a leftover.
    return this.lock.run(id, () => wrap(`remove the interrupted apply of layer ${id}`, async () => {
      if (this.applying.has(id) || !fs.existsSync(`${dir}/diff-apply`)) return false;
      if (!fs.existsSync(`${dir}/diff`)) {
        // Left by an older tsd, killed between removing the empty diff/ and the rename: the
        // unpack had finished, so roll forward.
        fs.renameSync(`${dir}/diff-apply`, `${dir}/diff`);
        this.ctx.log.warn('interrupted apply finished (diff-apply/ renamed to diff/)', { id });
      } else {
        fs.rmSync(`${dir}/diff-apply`, { recursive: true, force: true });
      }
      return true;
    }));
  }

  private async withMountedAsync<T>(id: string, fn: (top: string) => Promise<T>): Promise<T> {
    const top = await this.get(id);
    try {
      return await fn(top);
    } finally {
      await this.put(id);
    }
  }

  async diffSize(id: string, parent: string): Promise<number> {
    const dir = this.dir(id);
    if (parent) checkLayerId(parent, 'parent');
    if (!fs.existsSync(dir)) throw new NotFoundError(`layer ${id}: not found`);
    if (this.isParent(id, parent)) return treeSize(`${dir}/diff`);
    return this.withMounted(id, parent, (top, base) => changesSize(top, naiveChanges(top, base, this.files())));
  }
}

export function createOverlay2Driver(ctx: DriverContext): Overlay2Driver {
  return new Overlay2Driver(ctx);
}
