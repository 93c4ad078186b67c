// integration/volume/local.test.ts — tsd-local against the real kernel (root, inside the private
// mount namespace of scripts/test-integration.sh): tmpfs and bind volumes checked with
// `findmnt -J`, refcounts across two callers, a restart that reconciles (kept / restored / stray
// removed), force-remove while mounted, and bad options leaving nothing behind.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { execa } from 'execa';
import { createKernel } from '../../core/kernel/index.js';
import { createMemoryLogger, silentLogger, type Logger } from '../../core/log.js';
import { MemoryStore } from '../../core/store/memory.js';
import { scopeStore } from '../../core/store/scoped.js';
import type { Store } from '../../core/store/store.js';
import { createLocalVolumeDriver } from '../../drivers/volume/local/local-driver.js';
import { BAD_OPTION_CASES } from '../../test/drivers/volume/local/bad-options.js';

interface FindmntFs { target: string; source: string; fstype: string; options: string }

/** The mount at exactly `target`, from findmnt (undefined when nothing is mounted there). */
async function findmnt(target: string): Promise<FindmntFs | undefined> {
  const r = await execa('findmnt', ['-J', '--mountpoint', target], { reject: false });
  if (r.exitCode !== 0 || !r.stdout) return undefined;
  const fss = (JSON.parse(r.stdout) as { filesystems: FindmntFs[] }).filesystems;
  return fss.at(-1);
}

async function mountsBelow(dir: string): Promise<string[]> {
  const r = await execa('findmnt', ['-J', '-l', '-o', 'TARGET'], { reject: false });
  const all = (JSON.parse(r.stdout) as { filesystems: Array<{ target: string }> }).filesystems.map((f) => f.target);
  return all.filter((t) => t.startsWith(dir + '/'));
}

describe('tsd-local on the real kernel', function () {
  this.timeout(30000);
  let base: string;
  let dataDir: string;
  let backing: MemoryStore;
  let store: Store;
  const kernel = createKernel();
  const make = (log: Logger = silentLogger) => createLocalVolumeDriver({ log, store, kernel, dataDir, config: {} });

  before(async function () {
    if (process.getuid?.() !== 0) this.skip();
    // Refuse to run where a mount could leak to the host: the runner makes / private.
    const r = await execa('findmnt', ['-J', '-o', 'TARGET,PROPAGATION', '/']);
    assert.doesNotMatch(r.stdout, /"shared"/, 'run inside unshare --mount --propagation private');
  });

  beforeEach(() => {
    base = fs.realpathSync(fs.mkdtempSync(path.join(os.tmpdir(), 'tsdvol-it-')));
    dataDir = path.join(base, 'volumes');
    backing = new MemoryStore();
    store = scopeStore(backing, 'drivers/tsd-local');
  });

  afterEach(async () => {
    for (const m of kernel.mounts.mountsUnder(base)) kernel.mounts.unmountIfMounted(m.mountPoint);
    assert.deepEqual(await mountsBelow(base), [], 'test left mounts behind');
    fs.rmSync(base, { recursive: true, force: true });
  });

  it('mounts a tmpfs volume for the first caller and unmounts after the last', async () => {
    const d = make();
    await d.create('cache', { type: 'tmpfs', device: 'tmpfs', o: 'size=2m,mode=0750,noexec' }, { app: 'web' });
    const p = await d.path('cache');
    assert.equal(p, path.join(dataDir, 'cache', '_data'));
    assert.equal(await findmnt(p), undefined, 'create mounts nothing');

    assert.equal(await d.mount('cache', 'ctr-1'), p);
    const m = await findmnt(p);
    assert.equal(m?.fstype, 'tmpfs');
    assert.match(m!.options, /size=2048k/);
    assert.match(m!.options, /mode=750/);
    assert.match(m!.options, /noexec/);
    fs.writeFileSync(path.join(p, 'hello'), 'hi');

    assert.equal(await d.mount('cache', 'ctr-2'), p);
    await d.unmount('cache', 'ctr-1');
    assert.equal((await findmnt(p))?.fstype, 'tmpfs', 'still mounted for ctr-2');
    assert.equal(fs.readFileSync(path.join(p, 'hello'), 'utf8'), 'hi');
    await d.unmount('cache', 'ctr-1');
    assert.ok(await findmnt(p), 'a repeated unmount of a released caller does nothing');
    await d.unmount('cache', 'ctr-2');
    assert.equal(await findmnt(p), undefined);
    assert.equal(fs.existsSync(path.join(p, 'hello')), false, 'tmpfs contents went with the mount');
    await d.remove('cache');
    assert.equal(fs.existsSync(path.join(dataDir, 'cache')), false);
  });

  it('bind-mounts a host directory read-only and never deletes the source', async () => {
    const src = path.join(base, 'src');
    fs.mkdirSync(src);
    fs.writeFileSync(path.join(src, 'keep.txt'), 'precious');
    const d = make();
    await d.create('shared', { type: 'none', device: src, o: 'bind,ro' });
    const p = await d.mount('shared', 'sb-1');
    const m = await findmnt(p);
    assert.ok(m, 'bind mount present');
    assert.match(m.options, /(^|,)ro(,|$)/);
    assert.equal(fs.readFileSync(path.join(p, 'keep.txt'), 'utf8'), 'precious');
    assert.throws(() => fs.writeFileSync(path.join(p, 'new'), 'x'), /EROFS/);
    await d.remove('shared', { force: true });
    assert.equal(await findmnt(p), undefined);
    assert.equal(fs.readFileSync(path.join(src, 'keep.txt'), 'utf8'), 'precious', 'bind source untouched');
  });

  it('rbind carries the source\'s submounts; bind,rprivate does not, and sets propagation', async () => {
    const src = path.join(base, 'src');
    fs.mkdirSync(path.join(src, 'sub'), { recursive: true });
    await execa('mount', ['-t', 'tmpfs', 'tmpfs', path.join(src, 'sub')]);
    fs.writeFileSync(path.join(src, 'sub', 'inner'), 'x');
    const d = make();
    await d.create('rec', { type: 'none', device: src, o: 'rbind' });
    await d.create('flat', { type: 'none', device: src, o: 'bind,rprivate' });
    const rec = await d.mount('rec', 'a');
    const flat = await d.mount('flat', 'a');
    assert.equal((await findmnt(path.join(rec, 'sub')))?.fstype, 'tmpfs');
    assert.equal(fs.readFileSync(path.join(rec, 'sub', 'inner'), 'utf8'), 'x');
    assert.equal(await findmnt(path.join(flat, 'sub')), undefined, 'plain bind is not recursive');
    const prop = await execa('findmnt', ['-J', '-o', 'TARGET,PROPAGATION', '--mountpoint', flat]);
    assert.match(prop.stdout, /"propagation":\s*"private"/);
    await d.unmount('rec', 'a');
    assert.equal(await findmnt(path.join(rec, 'sub')), undefined, 'submount released with the volume');
    assert.equal(await findmnt(rec), undefined);
    await d.remove('rec');
    await d.remove('flat', { force: true });
    assert.equal(fs.readFileSync(path.join(src, 'sub', 'inner'), 'utf8'), 'x', 'source and its submount untouched');
  });

  it('force-remove of a mounted volume unmounts it; plain remove is refused', async () => {
    const d = make();
    await d.create('busy', { type: 'tmpfs', device: 'tmpfs' });
    const p = await d.mount('busy', 'c1');
    await assert.rejects(d.remove('busy'), /volume busy: in use by 1 caller\(s\) \(c1\); unmount first or remove with force/);
    assert.ok(await findmnt(p));
    await d.remove('busy', { force: true });
    assert.equal(await findmnt(p), undefined);
    assert.equal(fs.existsSync(path.join(dataDir, 'busy')), false);
    assert.deepEqual(await backing.list(''), []);
  });

  it('after a restart a new driver reconciles: kept, restored, stray removed, refcounts kept', async () => {
    const d1 = make();
    for (const n of ['kept', 'gone', 'idle']) await d1.create(n, { type: 'tmpfs', device: 'tmpfs', o: 'size=1m' });
    const kept = await d1.mount('kept', 'a');
    await d1.mount('kept', 'b');
    const gone = await d1.mount('gone', 'a');
    fs.writeFileSync(path.join(kept, 'data'), 'survives');
    // Behind tsd's back, with the system tools: one mount is lost, two stray mounts appear.
    await execa('umount', [gone]);
    const idle = path.join(dataDir, 'idle', '_data');
    await execa('mount', ['-t', 'tmpfs', 'tmpfs', idle]);
    const junk = path.join(dataDir, 'junk');
    fs.mkdirSync(junk);
    await execa('mount', ['-t', 'tmpfs', 'tmpfs', junk]);

    const log = createMemoryLogger();
    const d2 = make(log);
    const report = await d2.reconcile();
    assert.deepEqual(report.kept, ['kept']);
    assert.deepEqual(report.restored, ['gone']);
    assert.deepEqual(report.dropped, []);
    assert.deepEqual(report.strayUnmounted.sort(), [idle, junk].sort());
    assert.equal((await findmnt(kept))?.fstype, 'tmpfs');
    assert.equal(fs.readFileSync(path.join(kept, 'data'), 'utf8'), 'survives', 'the kept mount is the same one');
    assert.equal((await findmnt(gone))?.fstype, 'tmpfs');
    assert.equal(await findmnt(idle), undefined);
    assert.equal(await findmnt(junk), undefined);

    await d2.unmount('kept', 'a');
    assert.ok(await findmnt(kept), 'refcount survived the restart: b still holds it');
    await d2.unmount('kept', 'b');
    assert.equal(await findmnt(kept), undefined);
    await d2.unmount('gone', 'a');
    assert.equal(await findmnt(gone), undefined);
  });

  it('drops the callers of a volume whose mount cannot be restored, and says why', async () => {
    const src = path.join(base, 'src');
    fs.mkdirSync(src);
    const d1 = make();
    await d1.create('lost', { type: 'none', device: src, o: 'bind' });
    const p = await d1.mount('lost', 'a');
    await execa('umount', [p]);
    fs.rmdirSync(src);
    const log = createMemoryLogger();
    const report = await make(log).reconcile();
    assert.deepEqual(report.dropped.map((x) => x.name), ['lost']);
    assert.match(report.dropped[0]!.reason, /bind source .*src does not exist/);
    assert.ok(log.lines.some((l) => l.level === 'warn' && l.volume === 'lost'));
    assert.equal(await findmnt(p), undefined);
    assert.equal((await d1.get('lost')).status!.refCount, 0);
  });

  it('a mount the kernel refuses leaves the store and the mount table as they were', async () => {
    const d = make();
    await d.create('blk', { type: 'ext4', device: '/dev/null' });
    const before = await store.get('volumes/blk');
    await assert.rejects(d.mount('blk', 'c1'), /volume blk: mount ext4 \/dev\/null: mount ext4 .*: Block device required \(ENOTBLK\)/);
    assert.deepEqual(await store.get('volumes/blk'), before);
    assert.deepEqual(await mountsBelow(base), []);
  });

  it('rejects every bad option naming it, leaving nothing in the store or on disk', async () => {
    const d = make();
    for (const c of BAD_OPTION_CASES) await assert.rejects(d.create('vol1', c.options), c.names, JSON.stringify(c.options));
    await assert.rejects(d.create('../escape', {}), /contains a path separator/);
    assert.deepEqual(fs.readdirSync(dataDir), []);
    assert.deepEqual(fs.readdirSync(base), ['volumes']);
    assert.deepEqual(await backing.list(''), []);
    assert.deepEqual(await mountsBelow(base), []);
  });
});
