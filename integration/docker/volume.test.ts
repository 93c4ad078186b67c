// integration/docker/volume.test.ts — issue 7, real Docker as the client of tsd-local: a
// dockerd 20.10 (own roots and socket) finds tsd's VolumeDriver socket in /run/docker/plugins,
// `docker volume create -d tsd-local` and `-v name:/data --volume-driver tsd-local` work, data
// written by one container is read back by the next, driver options (tmpfs with a size limit)
// pass through to the kernel (checked with findmnt), and a bad option comes back as tsd's own
// message naming it. Afterwards tsd's store, the mount table and the host hold nothing of it.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { execa } from 'execa';
import { BUSYBOX_IMAGE, PLUGIN_DIR, claimPluginDir, dockerPreconditions, importBusybox, makeTempRoot, mountsUnder, pluginCall, snapshotHost, startDockerd, startTsd, type Dockerd, type HostSnapshot, type TsdProc, logsOnFailure, finishSuite } from './harness.js';
import { TSCTL } from '../daemon/tsd-child.js';

interface FindmntFs { target: string; source: string; fstype: string; options: string }

async function findmnt(target: string): Promise<FindmntFs | undefined> {
  const r = await execa('findmnt', ['-J', '--mountpoint', target], { reject: false });
  if (r.exitCode !== 0 || !r.stdout) return undefined;
  return (JSON.parse(r.stdout) as { filesystems: FindmntFs[] }).filesystems.at(-1);
}

describe('docker: dockerd uses tsd-local over the VolumeDriver protocol', function () {
  this.timeout(180_000);
  let root: string;
  let before0: HostSnapshot | undefined;
  let releasePlugins: (() => Promise<void>) | undefined;
  let tsd: TsdProc | undefined;
  let dockerd: Dockerd | undefined;
  const docker = (...args: string[]) => dockerd!.docker(args);
  // What tsd-local holds, asked on its own plugin socket.
  const localSock = path.join(PLUGIN_DIR, 'tsd-local.sock');
  const tsdVolumes = async () => {
    const r = await pluginCall<{ Volumes: Array<{ Name: string }>; Err?: string }>(localSock, 'VolumeDriver.List');
    assert.equal(r.status, 200, r.body.Err);
    return r.body.Volumes.map((v) => v.Name).sort();
  };
  const tsdRefCount = async (name: string) => {
    const r = await pluginCall<{ Volume: { Status: { refCount: number } }; Err?: string }>(localSock, 'VolumeDriver.Get', { Name: name });
    assert.equal(r.status, 200, r.body.Err);
    return r.body.Volume.Status.refCount;
  };
  // tsd's own API (tsctl volume ls) merges tsd-local's List with its records, as dockerd does.
  const tsctlVolumes = async () => {
    const r = await execa(TSCTL, ['volume', 'ls', '--format', '{{.Name}} {{.Driver}}'], { env: { TSD_HOST: `unix://${tsd!.apiSocket}` }, reject: false });
    assert.equal(r.exitCode, 0, r.stderr);
    return r.stdout.split('\n').filter(Boolean).sort();
  };
  const volData = (name: string) => path.join(tsd!.dataRoot, 'drivers', 'tsd-local', name);

  before(async function () {
    await dockerPreconditions(this);
    releasePlugins = await claimPluginDir(this);
    before0 = await snapshotHost();
    root = makeTempRoot('vol');
    tsd = await startTsd(path.join(root, 'tsd'), { firewall: 'none' });
    dockerd = await startDockerd(path.join(root, 'd'));
    await importBusybox(dockerd);
  });

  afterEach(function () { logsOnFailure(this, dockerd, tsd); });

  after(async () => {
    await finishSuite({ what: 'volume', dockerd, tsd, releases: [releasePlugins], before0, root });
  });

  it('docker volume create -d tsd-local; one container writes, a second reads it back; rm leaves nothing', async () => {
    const c = await docker('volume', 'create', '-d', 'tsd-local', '--label', 'suite=tsdtest', 'tsdtest-v1');
    assert.equal(c.code, 0, c.err);
    assert.equal(c.out.trim(), 'tsdtest-v1');
    const insp = JSON.parse((await docker('volume', 'inspect', 'tsdtest-v1')).out) as Array<{ Driver: string; Name: string; Scope: string }>;
    assert.deepEqual([insp[0]!.Name, insp[0]!.Driver, insp[0]!.Scope], ['tsdtest-v1', 'tsd-local', 'local']);
    assert.deepEqual(await tsdVolumes(), ['tsdtest-v1'], 'tsd holds the volume dockerd created');
    assert.deepEqual(await tsctlVolumes(), ['tsdtest-v1 tsd-local'], 'tsctl volume ls lists the volume dockerd created');

    const w = await docker('run', '--name', 'tsdtest-writer', '-v', 'tsdtest-v1:/data', '--volume-driver', 'tsd-local', BUSYBOX_IMAGE,
      'sh', '-c', 'echo hello-from-writer > /data/msg');
    assert.equal(w.code, 0, w.err);
    assert.equal(fs.readFileSync(path.join(volData('tsdtest-v1'), '_data', 'msg'), 'utf8'), 'hello-from-writer\n', 'the file is in tsd\'s volume dir');
    assert.equal((await docker('rm', 'tsdtest-writer')).code, 0);

    // While a reader runs, tsd counts one mount; dockerd refuses to remove a volume in use.
    const r = await docker('run', '-d', '--name', 'tsdtest-reader', '-v', 'tsdtest-v1:/data', '--volume-driver', 'tsd-local', BUSYBOX_IMAGE, 'sleep', '300');
    assert.equal(r.code, 0, r.err);
    const cat = await docker('exec', 'tsdtest-reader', 'cat', '/data/msg');
    assert.equal(cat.out, 'hello-from-writer');
    assert.equal(await tsdRefCount('tsdtest-v1'), 1, 'tsd counts the running container\'s mount');
    const busy = await docker('volume', 'rm', 'tsdtest-v1');
    assert.notEqual(busy.code, 0);
    assert.match(busy.err, /in use/);
    assert.equal((await docker('rm', '-f', 'tsdtest-reader')).code, 0);
    assert.equal(await tsdRefCount('tsdtest-v1'), 0, 'Unmount reached tsd');

    const rm = await docker('volume', 'rm', 'tsdtest-v1');
    assert.equal(rm.code, 0, rm.err);
    assert.equal((await docker('volume', 'ls', '-q')).out.trim(), '');
    assert.deepEqual(await tsdVolumes(), [], 'tsd\'s store holds nothing');
    assert.deepEqual(await tsctlVolumes(), [], 'tsctl volume ls shows it gone');
    assert.equal(fs.existsSync(volData('tsdtest-v1')), false, 'the volume dir is gone');
    assert.deepEqual(mountsUnder(tsd!.dataRoot), []);
  });

  it('options pass through: -o type=tmpfs -o device=tmpfs -o o=size=1m is a 1 MiB tmpfs (findmnt), unmounted when the container goes', async () => {
    const c = await docker('volume', 'create', '-d', 'tsd-local', '-o', 'type=tmpfs', '-o', 'device=tmpfs', '-o', 'o=size=1m', 'tsdtest-tmp');
    assert.equal(c.code, 0, c.err);
    const r = await docker('run', '-d', '--name', 'tsdtest-tmpfs', '-v', 'tsdtest-tmp:/data', BUSYBOX_IMAGE, 'sleep', '300');
    assert.equal(r.code, 0, r.err);
    const m = await findmnt(path.join(volData('tsdtest-tmp'), '_data'));
    assert.ok(m, 'tsd mounted the volume on the host');
    assert.equal(m.fstype, 'tmpfs');
    assert.match(m.options, /(^|,)size=1024k(,|$)/);
    // Inside the container: the same tmpfs, and its limit holds.
    const mnt = await docker('exec', 'tsdtest-tmpfs', 'sh', '-c', 'grep " /data " /proc/mounts');
    assert.match(mnt.out, /^tmpfs \/data tmpfs .*size=1024k/m);
    const big = await docker('exec', 'tsdtest-tmpfs', 'dd', 'if=/dev/zero', 'of=/data/big', 'bs=1024', 'count=2048');
    assert.notEqual(big.code, 0);
    assert.match(big.err, /No space left on device/);
    assert.equal((await docker('rm', '-f', 'tsdtest-tmpfs')).code, 0);
    assert.equal(await findmnt(path.join(volData('tsdtest-tmp'), '_data')), undefined, 'unmounted after the last user left');
    assert.equal((await docker('volume', 'rm', 'tsdtest-tmp')).code, 0);
    assert.deepEqual(await tsdVolumes(), []);
    assert.deepEqual(mountsUnder(tsd!.dataRoot), []);
  });

  it('tsd killed (-9) and restarted while a container holds a tmpfs volume: the mount survives, the refcount is reconciled, dockerd\'s Unmount reaches the new tsd', async () => {
    assert.equal((await docker('volume', 'create', '-d', 'tsd-local', '-o', 'type=tmpfs', '-o', 'device=tmpfs', '-o', 'o=size=2m', 'tsdtest-rs')).code, 0);
    const r = await docker('run', '-d', '--name', 'tsdtest-holder', '-v', 'tsdtest-rs:/data', BUSYBOX_IMAGE, 'sh', '-c', 'echo kept > /data/f; sleep 600');
    assert.equal(r.code, 0, r.err);
    const data = path.join(volData('tsdtest-rs'), '_data');
    for (let i = 0; i < 50 && !fs.existsSync(path.join(data, 'f')); i++) await new Promise((res) => setTimeout(res, 100));
    assert.equal(await tsdRefCount('tsdtest-rs'), 1);

    const dir = tsd!.dir;
    await tsd!.kill('SIGKILL');
    assert.equal((await findmnt(data))?.fstype, 'tmpfs', 'the kernel keeps the mount while tsd is down');
    assert.equal((await docker('exec', 'tsdtest-holder', 'cat', '/data/f')).out, 'kept', 'the container keeps its data');

    tsd = await startTsd(dir, { firewall: 'none' });
    assert.equal(await tsdRefCount('tsdtest-rs'), 1, 'the mount reference survived the restart');
    assert.equal((await findmnt(data))?.fstype, 'tmpfs');
    // dockerd does not re-activate a restarted plugin: it just calls Unmount on the same socket.
    assert.equal((await docker('rm', '-f', 'tsdtest-holder')).code, 0);
    assert.equal(await tsdRefCount('tsdtest-rs'), 0);
    assert.equal(await findmnt(data), undefined, 'the new tsd unmounted it when the last user left');
    assert.equal((await docker('volume', 'rm', 'tsdtest-rs')).code, 0);
    assert.deepEqual(await tsdVolumes(), []);
    assert.deepEqual(mountsUnder(tsd.dataRoot), []);
  });

  it('a bad option: docker shows tsd\'s message naming the option, and nothing is created', async () => {
    const bad = await docker('volume', 'create', '-d', 'tsd-local', '-o', 'colour=blue', 'tsdtest-bad');
    assert.notEqual(bad.code, 0);
    assert.match(bad.err, /option "colour": unknown/);
    const badO = await docker('volume', 'create', '-d', 'tsd-local', '-o', 'type=tmpfs', '-o', 'device=tmpfs', '-o', 'o=size=1m,bogus=1', 'tsdtest-bad');
    assert.notEqual(badO.code, 0);
    assert.match(badO.err, /option "o": "bogus=1" is not a tmpfs option/);
    assert.equal((await docker('volume', 'ls', '-q')).out.trim(), '');
    assert.deepEqual(await tsdVolumes(), []);
    assert.equal(fs.existsSync(volData('tsdtest-bad')), false);
  });
});
