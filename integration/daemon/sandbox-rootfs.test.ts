// integration/daemon/sandbox-rootfs.test.ts — sandboxes with a root filesystem and volumes, on a
// real tsd child (real overlay, real tsd-local volumes): a busybox layer (Debian's static busybox
// + symlinks, tarred by GNU tar) becomes s1's root; a volume is bound at /data; `tsctl sandbox
// exec` runs chrooted (ls / shows the layer, not the host); a file written there is read back by
// a second sandbox after s1 is removed; findmnt shows nothing left after rm; the volume and the
// layer cannot be removed while held; a restart puts a vanished bind back; bad specs, an unknown
// layer or volume, and a target that escapes through a symlink fail clearly and leave nothing.
// Runs as root inside the private net+mount namespace of scripts/test-integration.sh.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import type { ApiSandbox } from '../../core/model/sandbox.js';
import { mountsUnder, tsdChild, type TsdChild } from './tsd-child.js';

interface FindMnt { target: string; fstype: string; options: string }
function findmnt(target: string): FindMnt | undefined {
  const r = spawnSync('findmnt', ['-J', '--mountpoint', target], { encoding: 'utf8' });
  if (r.status !== 0 || !r.stdout) return undefined;
  return (JSON.parse(r.stdout) as { filesystems: FindMnt[] }).filesystems.at(-1);
}

describe('sandbox root filesystems and volumes (tsd child, real overlay)', function () {
  this.timeout(120_000);
  let t: TsdChild;
  let layer = '';
  let evil = '';
  const rwDirs = () => fs.readdirSync(path.join(t.dataRoot, 'drivers', 'tsd-overlay2')).filter((e) => e !== 'l' && e !== layer && e !== evil);
  const inspect = (ref: string) => (JSON.parse(t.tsctl('sandbox', 'inspect', ref).out) as ApiSandbox[])[0]!;
  const volumeRefs = (name: string) => (JSON.parse(t.tsctl('volume', 'inspect', name).out) as Array<{ UsageData: { RefCount: number } }>)[0]!.UsageData.RefCount;
  /** Mounts tsd holds under its dirs (not counting the netns pins of live sandboxes). */
  const fsMounts = () => mountsUnder(t.dir).filter((m) => !m.includes('/run/netns/'));

  before(async function () {
    if (process.getuid?.() !== 0) this.skip();
    t = tsdChild('tsdit-sbfs-', ['--firewall-backend', 'none']);
    await t.start();
    const rootfs = path.join(t.dir, 'rootfs');
    fs.mkdirSync(path.join(rootfs, 'bin'), { recursive: true });
    fs.mkdirSync(path.join(rootfs, 'etc'));
    fs.copyFileSync('/bin/busybox', path.join(rootfs, 'bin/busybox'));
    fs.chmodSync(path.join(rootfs, 'bin/busybox'), 0o755);
    for (const a of ['sh', 'cat', 'ls', 'echo', 'touch']) fs.symlinkSync('busybox', path.join(rootfs, 'bin', a));
    fs.writeFileSync(path.join(rootfs, 'etc/os-release'), 'NAME=tsdtest-busybox\n');
    const tar = path.join(t.dir, 'busybox.tar');
    assert.equal(spawnSync('tar', ['-C', rootfs, '-cf', tar, '.']).status, 0);
    const imp = t.tsctl('layer', 'import', tar);
    assert.equal(imp.code, 0, imp.err);
    layer = imp.out.trim();
    // A layer whose /escape is a symlink to the host's /tmp.
    const evilDir = path.join(t.dir, 'evil');
    fs.mkdirSync(evilDir);
    fs.symlinkSync('/tmp', path.join(evilDir, 'escape'));
    assert.equal(spawnSync('tar', ['-C', evilDir, '-cf', path.join(t.dir, 'evil.tar'), '.']).status, 0);
    evil = t.tsctl('layer', 'import', '--parent', layer, path.join(t.dir, 'evil.tar')).out.trim();
    assert.match(evil, /^[0-9a-f]{64}$/);
    assert.equal(t.tsctl('volume', 'create', 'sbdata').code, 0);
  });

  afterEach(function () {
    if (this.currentTest?.state === 'failed') console.log(`--- tsd log ---\n${t.log().slice(-4000)}`);
  });

  after(async () => {
    if (!t) return;
    for (const s of ['s1', 's2', 'bad1', 'bad2', 'bad3', 'bad4']) t.tsctl('sandbox', 'rm', s);
    await t.destroy();
  });

  it('s1: the layer is the root, the volume is at /data, exec runs chrooted and writes into the volume', () => {
    const c = t.tsctl('sandbox', 'create', '--rootfs', layer.slice(0, 12), '--volume', 'sbdata:/data', 's1');
    assert.equal(c.code, 0, c.err);
    const sb = inspect('s1');
    assert.ok(sb.RootPath.startsWith(path.join(t.dataRoot, 'drivers', 'tsd-overlay2')), sb.RootPath);
    assert.deepEqual(sb.RootFs && [sb.RootFs.Layer, sb.RootFs.Driver], [layer, 'tsd-overlay2']);
    assert.deepEqual(sb.Mounts.map((m) => [m.Type, m.Name, m.Destination, m.RW]), [['volume', 'sbdata', '/data', true]]);
    assert.equal(findmnt(sb.RootPath)?.fstype, 'overlay');
    assert.match(findmnt(path.join(sb.RootPath, 'data'))?.options ?? '', /^rw/);
    assert.equal(volumeRefs('sbdata'), 1);

    const root = t.tsctl('sandbox', 'exec', 's1', 'ls', '/');
    assert.equal(root.code, 0, root.err);
    assert.deepEqual(root.out.split(/\s+/).filter(Boolean).sort(), ['bin', 'data', 'etc'], 'chrooted into the layer');
    assert.equal(t.tsctl('sandbox', 'exec', 's1', 'cat', '/etc/os-release').out, 'NAME=tsdtest-busybox\n');
    const w = t.tsctl('sandbox', 'exec', 's1', 'sh', '-c', 'echo hi > /data/f');
    assert.equal(w.code, 0, w.err);
    const mp = (JSON.parse(t.tsctl('volume', 'inspect', 'sbdata').out) as Array<{ Mountpoint: string }>)[0]!.Mountpoint;
    assert.equal(fs.readFileSync(path.join(mp, 'f'), 'utf8'), 'hi\n', 'the write landed in the volume');
  });

  it('while s1 holds them, the volume and the layer cannot be removed', () => {
    const v = t.tsctl('volume', 'rm', 'sbdata');
    assert.equal(v.code, 1);
    assert.match(v.err, /volume is in use/);
    const l = t.tsctl('layer', 'rm', layer);
    assert.equal(l.code, 1);
    assert.match(l.err, new RegExp(`layer ${layer} is the root filesystem of sandbox\\(es\\) ${inspect('s1').Id.slice(0, 12)}`));
  });

  it('rm s1 unmounts everything and removes its read-write layer; s2 reads the file back read-only', () => {
    const rootPath = inspect('s1').RootPath;
    assert.equal(t.tsctl('sandbox', 'rm', 's1').code, 0);
    assert.deepEqual(fsMounts(), [], 'findmnt: nothing left under tsd\'s dirs');
    assert.equal(findmnt(rootPath), undefined);
    assert.deepEqual(rwDirs(), [], 'the read-write layer is gone');
    assert.equal(volumeRefs('sbdata'), 0);

    const c = t.tsctl('sandbox', 'create', '--rootfs', layer, '-v', 'sbdata:/mnt/vol:ro', 's2');
    assert.equal(c.code, 0, c.err);
    assert.equal(t.tsctl('sandbox', 'exec', 's2', 'cat', '/mnt/vol/f').out, 'hi\n');
    const ro = t.tsctl('sandbox', 'exec', 's2', 'touch', '/mnt/vol/g');
    assert.notEqual(ro.code, 0, 'read-only');
    assert.match(findmnt(path.join(inspect('s2').RootPath, 'mnt/vol'))?.options ?? '', /^ro/);
  });

  it('a tsd restart puts a vanished volume bind back, and a vanished root with its bind', async () => {
    const sb = inspect('s2');
    await t.stop();
    assert.equal(spawnSync('umount', [path.join(sb.RootPath, 'mnt/vol')]).status, 0);
    await t.start();
    assert.match(findmnt(path.join(sb.RootPath, 'mnt/vol'))?.options ?? '', /^ro/);
    assert.equal(t.tsctl('sandbox', 'exec', 's2', 'cat', '/mnt/vol/f').out, 'hi\n');
    assert.equal(volumeRefs('sbdata'), 1);
    // As after a reboot of the mounts: the whole root (overlay + bind) is gone.
    await t.stop();
    assert.equal(spawnSync('umount', ['-R', sb.RootPath]).status, 0);
    assert.equal(findmnt(sb.RootPath), undefined);
    await t.start();
    assert.equal(findmnt(sb.RootPath)?.fstype, 'overlay');
    assert.equal(t.tsctl('sandbox', 'exec', 's2', 'cat', '/mnt/vol/f').out, 'hi\n');
    assert.equal(t.tsctl('sandbox', 'rm', 's2').code, 0);
    assert.deepEqual(fsMounts(), []);
    assert.deepEqual(rwDirs(), []);
  });

  it('bad volume specs, an unknown layer or volume, and a symlink escape fail clearly and leave nothing', () => {
    const bad = (args: string[], code: number, re: RegExp) => {
      const r = t.tsctl('sandbox', 'create', ...args);
      assert.equal(r.code, code, `${args.join(' ')}: ${r.out}${r.err}`);
      assert.match(r.err, re);
    };
    bad(['--rootfs', layer, '-v', 'sbdata:relative', 'bad1'], 2, /invalid --volume "sbdata:relative": expected NAME:\/PATH\[:ro\|rw\]/);
    bad(['-v', 'sbdata:/data', 'bad1'], 2, /--volume needs --rootfs/);
    bad(['--rootfs', layer, '-v', 'sbdata:/a/../b', 'bad1'], 1, /Volumes: invalid volume specification "sbdata:\/a\/..\/b": mount path "\/a\/..\/b" must not contain/);
    bad(['--rootfs', 'ffffffffffff', 'bad2'], 1, /RootFs: layer ffffffffffff not found/);
    bad(['--rootfs', layer, '-v', 'nosuchvol:/data', 'bad3'], 1, /Volumes: nosuchvol:\/data: volume nosuchvol: no such volume/);
    bad(['--rootfs', evil, '-v', 'sbdata:/escape/x', 'bad4'], 1, /escape is a symbolic link/);
    assert.deepEqual(fs.readdirSync('/tmp').filter((e) => e === 'x'), [], 'nothing made through the symlink');
    assert.equal(t.tsctl('sandbox', 'ls', '-q').out, '');
    assert.deepEqual(mountsUnder(t.dir), [], 'no mounts, no netns pins');
    assert.deepEqual(rwDirs(), []);
    assert.equal(volumeRefs('sbdata'), 0);
    assert.equal(t.tsctl('volume', 'rm', 'sbdata').code, 0);
    assert.equal(t.tsctl('layer', 'rm', evil).code, 0);
    assert.equal(t.tsctl('layer', 'rm', layer).code, 0);
  });
});
