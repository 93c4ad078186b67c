// integration/graph/overlay2.test.ts — the overlay2 graph driver on real overlay mounts (ext4 under
// /tmp, inside the test's private mount namespace). Kernel state is checked with findmnt, trees
// with an independent Python walker; tars are also produced by GNU tar.

import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Readable } from 'node:stream';
import { execa } from 'execa';
import { createKernel } from '../../core/kernel/index.js';
import { MemoryStore } from '../../core/store/memory.js';
import { silentLogger } from '../../core/log.js';
import { ChangeKind } from '../../core/driver/graph-driver.js';
import { createOverlay2Driver, type Overlay2Driver } from '../../drivers/graph/overlay2/overlay2-driver.js';
import { buildFixtureTree, streamToBuffer, findmnt, py, snapshotTree, wholeSecondTimes } from './tree-tools.js';

describe('graph driver overlay2 (real overlay mounts)', function () {
  this.timeout(120_000);
  let tmp: string;
  let root: string;
  let fixture: string;
  let d: Overlay2Driver;
  const kernel = createKernel();
  const newDriver = () => createOverlay2Driver({ log: silentLogger, store: new MemoryStore(), kernel, dataDir: root, config: {} });

  before(async function () {
    if (process.getuid?.() !== 0) this.skip();
    tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'tsdtest-ov2-'));
    root = path.join(tmp, 'overlay2');
    fixture = path.join(tmp, 'fixture');
    fs.mkdirSync(fixture);
    await buildFixtureTree(fixture);
    d = newDriver();
    await d.init({ home: root, options: [], uidMaps: [], gidMaps: [] });
  });

  after(async () => {
    if (!tmp) return;
    for (const m of kernel.mounts.mountsUnder(tmp)) kernel.mounts.unmountIfMounted(m.mountPoint);
    fs.rmSync(tmp, { recursive: true, force: true });
  });

  const gnuTar = async (dir: string) => Buffer.from((await execa('tar', ['--xattrs', '--xattrs-include=*', '--numeric-owner', '-C', dir, '-cf', '-', '.'], { encoding: 'buffer' })).stdout);

  it('creates a base layer with moby\'s layout and applies a GNU tar into it exactly', async () => {
    await d.create('base', '');
    const link = fs.readFileSync(path.join(root, 'base/link'), 'utf8');
    assert.match(link, /^[A-Z2-7]{26}$/);
    assert.equal(fs.readlinkSync(path.join(root, 'l', link)), '../base/diff');
    assert.equal(fs.existsSync(path.join(root, 'base/lower')), false);
    assert.equal(await d.exists('base'), true);
    assert.equal(await d.exists('nope'), false);
    const tar = await gnuTar(fixture);
    const r = await d.applyDiffWithDigest('base', '', Readable.from([tar]));
    const sha = (await execa('sha256sum', { input: tar })).stdout.split(' ')[0];
    assert.equal(r.diffId, `sha256:${sha}`);
    assert.deepEqual(await snapshotTree(path.join(root, 'base/diff')), await snapshotTree(fixture));
    assert.equal(await d.get('base'), path.join(root, 'base/diff'), 'a base layer is its diff dir, not a mount');
    await d.put('base');
  });

  it('mounts a read-write layer (refcounted), records changes through the mount, unmounts on the last put', async () => {
    await d.createReadWrite('top', 'base');
    const baseLink = fs.readFileSync(path.join(root, 'base/link'), 'utf8');
    assert.equal(fs.readFileSync(path.join(root, 'top/lower'), 'utf8'), `l/${baseLink}`);
    assert.ok(fs.existsSync(path.join(root, 'base/committed')));
    const merged = await d.get('top');
    assert.equal(merged, path.join(root, 'top/merged'));
    assert.equal(await d.get('top'), merged);
    const m = await findmnt(merged);
    assert.equal(m?.fstype, 'overlay');
    assert.match(m!.options, new RegExp(`upperdir=${path.join(root, 'top/diff')}`));
    assert.deepEqual(await snapshotTree(merged), await snapshotTree(fixture), 'merged view shows the base');
    await py(`
os.remove(os.path.join(root, 'etc/shadow'))                     # whiteout
shutil.rmtree(os.path.join(root, 'opt/app'))                     # whiteout of a dir
os.makedirs(os.path.join(root, 'opt/app'))                       # … re-created: opaque
open(os.path.join(root, 'opt/app/new'), 'w').write('new')
open(os.path.join(root, 'etc/passwd'), 'a').write('tsd:x:1000:1000::/home/tsd:/bin/sh\\n')
os.chown(os.path.join(root, 'etc/conf.d/a.conf'), 2000, 2000)
os.makedirs(os.path.join(root, 'home/tsd'))
open(os.path.join(root, 'home/tsd/f'), 'w').write('f')
os.link(os.path.join(root, 'home/tsd/f'), os.path.join(root, 'home/tsd/g'))
os.setxattr(os.path.join(root, 'home/tsd/f'), 'user.k', b'v')
os.mknod(os.path.join(root, 'home/tsd/zero'), 0o666 | 0o020000, os.makedev(1, 5))
`, merged);
    await d.put('top');
    assert.ok(await findmnt(merged), 'still mounted after the first put');
    await d.put('top');
    assert.equal(await findmnt(merged), undefined, 'unmounted after the last put');
    assert.equal(fs.existsSync(merged), false, 'merged/ removed');
    await wholeSecondTimes(path.join(root, 'top/diff'), 1_650_000_000);
    const st = fs.lstatSync(path.join(root, 'top/diff/etc/shadow'));
    assert.ok(st.isCharacterDevice() && st.rdev === 0, 'kernel wrote a whiteout');
  });

  it('Changes reports adds, modifications and deletions like moby', async () => {
    const ch = await d.changes('top', 'base');
    const by = new Map(ch.map((c) => [c.path, c.kind]));
    assert.equal(by.get('/etc/shadow'), ChangeKind.Delete);
    assert.equal(by.get('/etc/passwd'), ChangeKind.Modify);
    assert.equal(by.get('/home/tsd/f'), ChangeKind.Add);
    assert.equal(by.get('/home'), ChangeKind.Add);
    assert.equal(by.get('/etc'), ChangeKind.Modify);
    assert.ok(await d.diffSize('top', 'base') > 0);
  });

  it('apply(diff(x)) reproduces x: whiteouts, opaque dirs, hardlinks, xattrs, devices, owners, mtimes', async () => {
    const tar = await streamToBuffer(await d.diff('top', 'base'));
    const again = await streamToBuffer(await d.diff('top', 'base'));
    assert.ok(tar.equals(again), 'Diff is deterministic');
    // GNU tar sees the AUFS form: .wh. files and the opaque marker
    const names = (await execa('tar', ['-tf', '-'], { input: tar })).stdout.split('\n');
    assert.ok(names.includes('etc/.wh.shadow'), names.join(' '));
    assert.ok(names.includes('opt/app/.wh..wh..opq'));
    await d.create('copy', 'base');
    await d.applyDiff('copy', 'base', Readable.from([tar]));
    const x = await snapshotTree(path.join(root, 'top/diff'));
    assert.ok(x.some((l) => l.startsWith('opt/app ') && l.includes('trusted.overlay.opaque=79')), 'source has an opaque dir');
    assert.deepEqual(await snapshotTree(path.join(root, 'copy/diff')), x);
    assert.deepEqual(await d.changes('copy', 'base'), await d.changes('top', 'base'));
    // and the merged views agree
    const a = await d.get('top');
    const b = await d.get('copy');
    try {
      assert.deepEqual(await snapshotTree(b), await snapshotTree(a));
    } finally {
      await d.put('top');
      await d.put('copy');
    }
  });

  it('a whole-layer Diff of a child (naive path) reproduces the merged view as a base layer', async () => {
    const tar = await streamToBuffer(await d.diff('top', ''));
    await d.create('flat', '');
    await d.applyDiff('flat', '', Readable.from([tar]));
    const merged = await d.get('top');
    try {
      const want = (await snapshotTree(merged)).filter((l) => !l.startsWith('. '));
      const got = await snapshotTree(path.join(root, 'flat/diff'));
      // directory mtimes in the merged view of untouched lower dirs are the lower's; all else equal
      assert.deepEqual(got, want);
    } finally {
      await d.put('top');
    }
  });

  it('mounts a committed layer read-only and reports GetMetadata / Status', async () => {
    await d.create('mid', 'base');
    await d.create('leaf', 'mid');
    const mp = await d.get('mid');
    try {
      const m = await findmnt(mp);
      assert.ok(m && !m.options.includes('upperdir='), m?.options);
      assert.throws(() => fs.writeFileSync(path.join(mp, 'x'), 'x'), /EROFS/);
    } finally {
      await d.put('mid');
    }
    const md = await d.getMetadata('leaf');
    assert.equal(md.UpperDir, path.join(root, 'leaf/diff'));
    assert.equal(md.LowerDir, `${path.join(root, 'mid/diff')}:${path.join(root, 'base/diff')}`);
    const status = new Map(await d.status());
    assert.equal(status.get('Backing Filesystem'), 'extfs');
    assert.deepEqual(await d.capabilities(), { reproducesExactDiffs: false });
  });

  it('mounts lower chains longer than a page from the root with relative l/ paths; refuses depth > 128', async () => {
    let parent = 'base';
    for (let i = 0; i < 127; i++) {
      await d.create(`chain${i}`, parent);
      parent = `chain${i}`;
    }
    const lower = fs.readFileSync(path.join(root, `${parent}/lower`), 'utf8');
    assert.equal(lower.split(':').length, 127);
    assert.ok(lower.split(':').map((l) => path.join(root, l)).join(':').length > 4096, 'absolute option string would exceed a page');
    await d.createReadWrite('deep', parent);
    const mp = await d.get('deep');
    try {
      assert.equal((await findmnt(mp))?.fstype, 'overlay');
      assert.equal(fs.readFileSync(path.join(mp, 'etc/passwd'), 'utf8').split('\n')[0], 'root:x:0:0::/root:/bin/sh');
    } finally {
      await d.put('deep');
    }
    assert.equal(await findmnt(mp), undefined);
    await assert.rejects(d.create('toodeep', 'deep'), /max depth of 128/);
    assert.equal(await d.exists('toodeep'), false);
  });

  it('rebuilds refcounts from mountinfo after a restart; Cleanup unmounts everything', async () => {
    const mp = await d.get('copy');
    const d2 = newDriver();
    await d2.init({ home: root, options: [], uidMaps: [], gidMaps: [] });
    await d2.put('copy');
    assert.equal(await findmnt(mp), undefined, 'the new instance knew the mount');
    await d2.get('top');
    await d2.get('copy');
    await d2.cleanup();
    assert.deepEqual(kernel.mounts.mountsUnder(root).map((m) => m.mountPoint), []);
    d = d2;
  });

  it('refuses a malicious tar and leaves the layer empty', async () => {
    await d.create('evil', 'base');
    const good = await gnuTar(fixture);
    // a valid archive followed by an entry that climbs out: craft with GNU tar's --transform
    const evilDir = path.join(tmp, 'evil-src');
    fs.mkdirSync(evilDir);
    fs.writeFileSync(path.join(evilDir, 'x'), 'evil');
    const evil = Buffer.from((await execa('tar', ['-C', evilDir, '-cf', '-', '--transform', 's,^\\./x,../../escaped,', '--', './x'], { encoding: 'buffer' })).stdout);
    void good;
    await assert.rejects(d.applyDiff('evil', 'base', Readable.from([evil])), /climbs above the layer root/);
    assert.deepEqual(fs.readdirSync(path.join(root, 'evil/diff')), []);
    assert.equal(fs.existsSync(path.join(root, 'escaped')), false);
    assert.equal(fs.existsSync(path.join(tmp, 'escaped')), false);
    assert.equal(fs.existsSync(path.join(root, 'evil/diff-apply')), false);
  });

  it('removes layers idempotently (dir and l/ link gone)', async () => {
    const link = fs.readFileSync(path.join(root, 'copy/link'), 'utf8');
    await d.remove('copy');
    await d.remove('copy');
    assert.equal(fs.existsSync(path.join(root, 'copy')), false);
    assert.equal(fs.existsSync(path.join(root, 'l', link)), false);
    await assert.rejects(d.get('copy'), /not found/);
    await assert.rejects(d.create('../x', ''), /not a valid layer id/);
  });
});
