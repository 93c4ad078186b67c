// integration/docker/graph.test.ts — issue 6's acceptance test: a real dockerd 20.10 started with
// `--experimental -s tsd-overlay2` stores every image and container layer through tsd's
// GraphDriver socket in /run/docker/plugins. It imports a busybox image, runs containers on
// overlay mounts tsd made (checked with findmnt), shows a container's changes (docker diff =
// Changes, whiteouts included), commits one (Diff of the RW layer), runs the committed image
// (ApplyDiff), saves and exports it and finds the file in the output tars; after rmi and rm the
// driver's tree and the mount table hold nothing of it.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { execa } from 'execa';
import { BUSYBOX_IMAGE, PLUGIN_DIR, claimPluginDir, dockerPreconditions, importBusybox, makeTempRoot, mountsUnder, pluginCall, snapshotHost, startDockerd, startTsd, type Dockerd, type HostSnapshot, type TsdProc, logsOnFailure, finishSuite } from './harness.js';

interface FindmntFs { target: string; source: string; fstype: string; options: string }

async function findmnt(target: string): Promise<FindmntFs | undefined> {
  const r = await execa('findmnt', ['-J', '--mountpoint', target], { reject: false });
  if (r.exitCode !== 0 || !r.stdout) return undefined;
  return (JSON.parse(r.stdout) as { filesystems: FindmntFs[] }).filesystems.at(-1);
}

/** Names in a tar file, as GNU tar lists them. */
async function tarNames(file: string): Promise<string[]> {
  return (await execa('tar', ['-tf', file])).stdout.split('\n').filter(Boolean);
}

/** Content of one member of a tar file. */
async function tarMember(file: string, member: string): Promise<string> {
  return (await execa('tar', ['-xOf', file, member], { encoding: 'utf8', stripFinalNewline: false })).stdout;
}

describe('docker: dockerd -s tsd-overlay2 stores images and containers through tsd', function () {
  this.timeout(300_000);
  let root: string;
  let before0: HostSnapshot | undefined;
  let releasePlugins: (() => Promise<void>) | undefined;
  let tsd: TsdProc | undefined;
  let dockerd: Dockerd | undefined;
  const docker = (...args: string[]) => dockerd!.docker(args, { timeoutMs: 120_000 });
  const overlayRoot = () => path.join(tsd!.dataRoot, 'drivers', 'tsd-overlay2');
  /** Layer dirs in tsd's overlay2 tree (everything but l/). */
  const layerDirs = () => fs.readdirSync(overlayRoot()).filter((e) => e !== 'l').sort();
  const driverSock = path.join(PLUGIN_DIR, 'tsd-overlay2.sock');

  before(async function () {
    await dockerPreconditions(this);
    releasePlugins = await claimPluginDir(this);
    before0 = await snapshotHost();
    root = makeTempRoot('graph');
    tsd = await startTsd(path.join(root, 'tsd'), { firewall: 'none' });
    dockerd = await startDockerd(path.join(root, 'd'), ['--experimental', '-s', 'tsd-overlay2']);
  });

  afterEach(function () { logsOnFailure(this, dockerd, tsd); });

  after(async () => {
    await finishSuite({ what: 'graph', dockerd, tsd, releases: [releasePlugins], before0, root });
  });

  it('dockerd runs on tsd-overlay2 and docker import lands the layer in tsd\'s tree', async () => {
    const info = await docker('info', '--format', '{{.Driver}}|{{json .DriverStatus}}');
    assert.equal(info.code, 0, info.err);
    const [driver, status] = info.out.trim().split('|');
    assert.equal(driver, 'tsd-overlay2');
    assert.match(status!, /"Native Overlay Diff","true"/, 'docker info shows tsd\'s GraphDriver.Status');
    assert.deepEqual(layerDirs(), [], 'nothing before the first image');

    await importBusybox(dockerd!);
    const insp = JSON.parse((await docker('image', 'inspect', BUSYBOX_IMAGE)).out) as Array<{ GraphDriver: { Name: string; Data: Record<string, string> }; RootFS: { Layers: string[] } }>;
    assert.equal(insp[0]!.GraphDriver.Name, 'tsd-overlay2');
    assert.equal(insp[0]!.RootFS.Layers.length, 1);
    const upper = insp[0]!.GraphDriver.Data.UpperDir!;
    assert.equal(path.dirname(path.dirname(upper)), overlayRoot(), 'GetMetadata names a dir in tsd\'s own data root');
    const id = path.basename(path.dirname(upper));
    assert.deepEqual(layerDirs(), [id]);
    // The applied bytes are the real busybox, and the applet symlinks came through.
    assert.ok(fs.readFileSync(path.join(upper, 'bin/busybox')).equals(fs.readFileSync('/bin/busybox')));
    assert.equal(fs.readlinkSync(path.join(upper, 'bin/sh')), 'busybox');
    // dockerd's layerdb points at the same cache id (its own metadata, our storage).
    const layerdb = path.join(dockerd!.dir, 'data', 'image', 'tsd-overlay2', 'layerdb', 'sha256');
    const cacheIds = fs.readdirSync(layerdb).map((c) => fs.readFileSync(path.join(layerdb, c, 'cache-id'), 'utf8'));
    assert.deepEqual(cacheIds, [id]);
  });

  it('docker run --rm echo hi: the container root is an overlay mount tsd made, gone afterwards', async () => {
    const r = await docker('run', '--rm', BUSYBOX_IMAGE, 'echo', 'hi');
    assert.equal(r.code, 0, r.err);
    assert.equal(r.out, 'hi');

    const d = await docker('run', '-d', '--name', 'tsdtest-sleeper', BUSYBOX_IMAGE, 'sleep', '300');
    assert.equal(d.code, 0, d.err);
    const meta = JSON.parse((await docker('inspect', 'tsdtest-sleeper')).out) as Array<{ GraphDriver: { Name: string; Data: Record<string, string> } }>;
    const merged = meta[0]!.GraphDriver.Data.MergedDir!;
    assert.ok(merged.startsWith(overlayRoot() + '/'), merged);
    const m = await findmnt(merged);
    assert.ok(m, 'the container layer is mounted');
    assert.equal(m.fstype, 'overlay');
    assert.match(m.options, /lowerdir=/);
    assert.match(m.options, new RegExp(`upperdir=${overlayRoot()}/[0-9a-f]{64}/diff`));
    // init layer + image layer below the container's own layer.
    const lower = fs.readFileSync(path.join(path.dirname(merged), 'lower'), 'utf8').split(':');
    assert.equal(lower.length, 2);
    assert.equal((await docker('rm', '-f', 'tsdtest-sleeper')).code, 0);
    assert.equal(await findmnt(merged), undefined, 'Put unmounted it');
    assert.equal(layerDirs().length, 1, 'rm removed the container\'s layer and its -init layer');
  });

  it('a container writes and deletes; docker diff, commit, run the commit, save and export carry it', async () => {
    const w = await docker('run', '--name', 'tsdtest-writer', BUSYBOX_IMAGE, 'sh', '-c',
      'mkdir -p /srv/app && echo tsdtest-payload > /srv/app/hello.txt && rm /bin/vi');
    assert.equal(w.code, 0, w.err);
    const diff = (await docker('diff', 'tsdtest-writer')).out.split('\n').filter(Boolean).sort();
    for (const line of ['A /srv', 'A /srv/app', 'A /srv/app/hello.txt', 'C /bin', 'D /bin/vi']) assert.ok(diff.includes(line), `docker diff: ${line} in ${diff.join(', ')}`);

    const c = await docker('commit', 'tsdtest-writer', 'tsdtest-committed');
    assert.equal(c.code, 0, c.err);
    const layers = (JSON.parse((await docker('image', 'inspect', 'tsdtest-committed')).out) as Array<{ RootFS: { Layers: string[] } }>)[0]!.RootFS.Layers;
    assert.equal(layers.length, 2);

    // The committed image, run from layers tsd applied: the file is there, the whiteout holds.
    const cat = await docker('run', '--rm', 'tsdtest-committed', 'cat', '/srv/app/hello.txt');
    assert.equal(cat.code, 0, cat.err);
    assert.equal(cat.out, 'tsdtest-payload');
    const vi = await docker('run', '--rm', 'tsdtest-committed', 'ls', '/bin/vi');
    assert.notEqual(vi.code, 0, '/bin/vi was deleted in the committed layer');

    // docker save: the top layer's tar holds the file and the AUFS whiteout for /bin/vi.
    const saved = path.join(root, 'tsdtest-save.tar');
    const s = await docker('save', '-o', saved, 'tsdtest-committed');
    assert.equal(s.code, 0, s.err);
    const manifest = JSON.parse(await tarMember(saved, 'manifest.json')) as Array<{ Layers: string[] }>;
    const top = manifest[0]!.Layers.at(-1)!;
    const layerDir = path.join(root, 'tsdtest-layer');
    fs.mkdirSync(layerDir);
    await execa('tar', ['-xf', saved, '-C', layerDir, top]);
    const topTar = path.join(layerDir, top);
    const names = await tarNames(topTar);
    assert.ok(names.includes('srv/app/hello.txt'), names.join(', '));
    assert.ok(names.includes('bin/.wh.vi'), names.join(', '));
    assert.equal(await tarMember(topTar, 'srv/app/hello.txt'), 'tsdtest-payload\n');
    // The saved diff ID is the sha256 of exactly those bytes.
    const sha = (await execa('sha256sum', [topTar])).stdout.split(' ')[0];
    assert.equal(`sha256:${sha}`, layers[1]);

    // docker export of a container made from the commit: the flattened tree has the file, not vi.
    const mk = await docker('create', '--name', 'tsdtest-exp', 'tsdtest-committed', 'true');
    assert.equal(mk.code, 0, mk.err);
    const exported = path.join(root, 'tsdtest-export.tar');
    const e = await docker('export', '-o', exported, 'tsdtest-exp');
    assert.equal(e.code, 0, e.err);
    const flat = await tarNames(exported);
    assert.ok(flat.includes('srv/app/hello.txt'));
    assert.ok(flat.includes('bin/busybox'));
    assert.ok(!flat.includes('bin/vi'), 'the whiteout hides vi in the flattened export');
    assert.equal(await tarMember(exported, 'srv/app/hello.txt'), 'tsdtest-payload\n');
  });

  it('rm and rmi remove every layer from tsd\'s tree; nothing stays mounted', async () => {
    assert.equal((await docker('rm', '-f', 'tsdtest-writer', 'tsdtest-exp')).code, 0);
    assert.equal((await docker('rmi', 'tsdtest-committed', BUSYBOX_IMAGE)).code, 0);
    assert.equal((await docker('images', '-q')).out.trim(), '');
    assert.deepEqual(layerDirs(), []);
    assert.deepEqual(fs.readdirSync(path.join(overlayRoot(), 'l')), [], 'no short links left');
    assert.deepEqual(mountsUnder(tsd!.dataRoot), []);
    // The driver still answers dockerd's way after all that.
    const ex = await pluginCall<{ Exists: boolean }>(driverSock, 'GraphDriver.Exists', { ID: 'a'.repeat(64) });
    assert.deepEqual([ex.status, ex.body.Exists], [200, false]);
  });
});
