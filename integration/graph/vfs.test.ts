// integration/graph/vfs.test.ts — the vfs graph driver: full-copy layers, naive Changes/Diff with
// AUFS whiteouts, and the apply(diff(x)) round trip, checked with an independent Python walker.

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
import { createVfsDriver, type VfsDriver } from '../../drivers/graph/vfs/vfs-driver.js';
import { buildFixtureTree, streamToBuffer, py, snapshotTree, wholeSecondTimes } from './tree-tools.js';

describe('graph driver vfs', function () {
  this.timeout(120_000);
  let tmp: string;
  let root: string;
  let fixture: string;
  let d: VfsDriver;
  const layer = (id: string) => path.join(root, 'dir', id);

  before(async function () {
    if (process.getuid?.() !== 0) this.skip();
    tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'tsdtest-vfs-'));
    root = path.join(tmp, 'vfs');
    fixture = path.join(tmp, 'fixture');
    fs.mkdirSync(fixture);
    await buildFixtureTree(fixture);
    d = createVfsDriver({ log: silentLogger, store: new MemoryStore(), kernel: createKernel(), dataDir: root, config: {} });
    await d.init({ home: root, options: [], uidMaps: [], gidMaps: [] });
  });

  after(() => {
    if (tmp) fs.rmSync(tmp, { recursive: true, force: true });
  });

  it('applies a GNU tar into a base layer exactly, with the stream digest', async () => {
    await d.create('base', '');
    const tar = Buffer.from((await execa('tar', ['--xattrs', '--xattrs-include=*', '--numeric-owner', '-C', fixture, '-cf', '-', '.'], { encoding: 'buffer' })).stdout);
    const r = await d.applyDiffWithDigest('base', '', Readable.from([tar]));
    assert.match(r.diffId, /^sha256:[0-9a-f]{64}$/);
    assert.deepEqual(await snapshotTree(layer('base')), await snapshotTree(fixture));
    assert.equal(await d.get('base'), layer('base'));
    await d.put('base');
  });

  it('a child starts as a full copy (hardlinks, xattrs, devices, owners kept)', async () => {
    await d.createReadWrite('top', 'base');
    assert.deepEqual(await snapshotTree(layer('top')), await snapshotTree(layer('base')));
    const a = fs.lstatSync(path.join(layer('top'), 'usr/bin/tool'));
    assert.equal(a.nlink, 2);
    assert.notEqual(a.ino, fs.lstatSync(path.join(layer('base'), 'usr/bin/tool')).ino, 'a copy, not a link to the parent');
  });

  it('Changes, Diff and ApplyDiff round-trip a modified layer exactly', async () => {
    await py(`
os.remove(os.path.join(root, 'etc/shadow'))
shutil.rmtree(os.path.join(root, 'opt/app'))
os.makedirs(os.path.join(root, 'opt/app'))
open(os.path.join(root, 'opt/app/new'), 'w').write('new')
open(os.path.join(root, 'etc/passwd'), 'a').write('tsd:x:1000:1000::/home/tsd:/bin/sh\\n')
os.chown(os.path.join(root, 'etc/conf.d/a.conf'), 2000, 2000)
os.makedirs(os.path.join(root, 'home/tsd'))
open(os.path.join(root, 'home/tsd/f'), 'w').write('f')
os.link(os.path.join(root, 'home/tsd/f'), os.path.join(root, 'home/tsd/g'))
os.setxattr(os.path.join(root, 'home/tsd/f'), 'user.k', b'v')
os.remove(os.path.join(root, 'usr/bin/sh'))
os.makedirs(os.path.join(root, 'usr/bin/sh'))
`, layer('top'));
    await wholeSecondTimes(layer('top'), 1_650_000_000);
    const ch = await d.changes('top', 'base');
    const by = new Map(ch.map((c) => [c.path, c.kind]));
    assert.equal(by.get('/etc/shadow'), ChangeKind.Delete);
    assert.equal(by.get('/opt/app/data'), ChangeKind.Delete);
    assert.equal(by.get('/opt/app/new'), ChangeKind.Add);
    assert.equal(by.get('/etc/passwd'), ChangeKind.Modify);
    assert.equal(by.get('/etc/conf.d/a.conf'), ChangeKind.Modify);
    assert.equal(by.get('/home/tsd/g'), ChangeKind.Add);
    assert.ok(await d.diffSize('top', 'base') > 0);

    const tar = await streamToBuffer(await d.diff('top', 'base'));
    assert.ok(tar.equals(await streamToBuffer(await d.diff('top', 'base'))), 'Diff is deterministic');
    const names = (await execa('tar', ['-tf', '-'], { input: tar })).stdout.split('\n');
    assert.ok(names.includes('etc/.wh.shadow'), names.join(' '));
    await d.create('copy', 'base');
    await d.applyDiff('copy', 'base', Readable.from([tar]));
    assert.deepEqual(await snapshotTree(layer('copy')), await snapshotTree(layer('top')));
    assert.deepEqual(await d.changes('copy', 'base'), ch);
  });

  it('a whole-layer Diff ("" parent) reproduces the layer on an empty base', async () => {
    const tar = await streamToBuffer(await d.diff('top', ''));
    await d.create('flat', '');
    await d.applyDiff('flat', '', Readable.from([tar]));
    assert.deepEqual(await snapshotTree(layer('flat')), await snapshotTree(layer('top')));
  });

  it('a refused tar leaves the layer as it was (a copy of its parent)', async () => {
    await d.create('evil', 'base');
    const src = path.join(tmp, 'evil-src');
    fs.mkdirSync(src);
    fs.symlinkSync('/', path.join(src, 'root'));
    fs.mkdirSync(path.join(src, 'x'));
    fs.writeFileSync(path.join(src, 'x', 'planted'), 'evil');
    // root → /, then root/tmp/planted: writing through the symlink
    const evil = Buffer.from((await execa('tar', ['-C', src, '-cf', '-', '--transform', 's,^x,root/tmp,', 'root', 'x/planted'], { encoding: 'buffer' })).stdout);
    await assert.rejects(d.applyDiff('evil', 'base', Readable.from([evil])), /is a symlink/);
    assert.equal(fs.existsSync('/tmp/planted'), false);
    assert.deepEqual(await snapshotTree(layer('evil')), await snapshotTree(layer('base')));
  });

  it('removes idempotently and rejects bad ids', async () => {
    await d.remove('copy');
    await d.remove('copy');
    assert.equal(await d.exists('copy'), false);
    await assert.rejects(d.get('copy'), /not found/);
    await assert.rejects(d.create('a/b', ''), /not a valid layer id/);
    await assert.rejects(d.create('x', 'missing'), /parent layer missing: not found/);
    assert.equal(await d.exists('x'), false);
  });
});
