// integration/daemon/layers.test.ts — tsctl layer … against a real tsd child: tars made by GNU
// tar are imported as layers (diff ID checked with sha256sum), stacked with a whiteout, mounted
// (an overlay checked with findmnt, contents read from the mount), exported (listed with tar -t),
// refused while mounted or a parent, removed without a trace; a tar bigger than the API's JSON
// body limit streams through; an escaping tar is refused and leaves nothing; vfs works the same.
// Runs as root inside the private net+mount namespace of scripts/test-integration.sh.
import assert from 'node:assert/strict';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { ApiClient } from '../../cli/api-client.js';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../..');
const TSD = path.join(root, 'bin/tsd');
const TSCTL = path.join(root, 'bin/tsctl');

interface FindMnt { target: string; fstype: string; options: string }
function findmnt(target: string): FindMnt | undefined {
  const r = spawnSync('findmnt', ['-J', '--mountpoint', target], { encoding: 'utf8' });
  if (r.status !== 0 || !r.stdout) return undefined;
  return (JSON.parse(r.stdout) as { filesystems: FindMnt[] }).filesystems.at(-1);
}

function mountsUnder(dir: string): string[] {
  return fs.readFileSync('/proc/self/mountinfo', 'utf8').split('\n').filter(Boolean).map((l) => l.split(' ')[4]!)
    .filter((m) => m === dir || m.startsWith(dir + '/'));
}

function sha256File(p: string): string {
  return 'sha256:' + crypto.createHash('sha256').update(fs.readFileSync(p)).digest('hex');
}

function tarList(p: string): string[] {
  const r = spawnSync('tar', ['-tf', p], { encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
  return r.stdout.split('\n').filter(Boolean);
}

describe('tsctl layer (tsd child, real overlay mounts)', function () {
  this.timeout(120_000);
  let dir: string;
  let sock: string;
  let proc: ChildProcess | undefined;
  let log = '';
  let api: ApiClient;
  const dataRoot = () => path.join(dir, 'data');
  const driverDir = (d = 'tsd-overlay2') => path.join(dataRoot(), 'drivers', d);
  const layerDirs = () => fs.readdirSync(driverDir()).filter((e) => e !== 'l');
  const tsctl = (...args: string[]) => {
    const r = spawnSync(TSCTL, args, { env: { ...process.env, TSD_HOST: `unix://${sock}` }, encoding: 'utf8', timeout: 60_000 });
    return { code: r.status, out: r.stdout, err: r.stderr };
  };
  const mk = (rel: string, content: string) => {
    const p = path.join(dir, rel);
    fs.mkdirSync(path.dirname(p), { recursive: true });
    fs.writeFileSync(p, content);
  };
  const tarOf = (src: string, out: string, extra: string[] = []) => {
    const r = spawnSync('tar', ['-C', path.join(dir, src), '-cf', path.join(dir, out), ...extra, '.'], { encoding: 'utf8' });
    assert.equal(r.status, 0, r.stderr);
    return path.join(dir, out);
  };

  before(async function () {
    if (process.getuid?.() !== 0) this.skip();
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tsdit-layers-'));
    sock = path.join(dir, 'run', 'tsd.sock');
    proc = spawn(TSD, ['--data-root', dataRoot(), '--exec-root', path.join(dir, 'run'), '--store', 'embedded', '--firewall-backend', 'none',
      '--plugin-dir', path.join(dir, 'plugins'), '--no-serve-plugins', '--log-level', 'info'], { stdio: ['ignore', 'ignore', 'pipe'] });
    proc.stderr!.on('data', (c: Buffer) => { log += c.toString(); });
    for (let i = 0; i < 300 && !log.includes('"msg":"tsd started"'); i++) {
      if (proc.exitCode !== null) throw new Error(`tsd exited ${proc.exitCode}: ${log}`);
      await new Promise((r) => setTimeout(r, 50));
    }
    assert.ok(fs.existsSync(sock), `tsd did not start: ${log}`);
    api = new ApiClient(sock);

    // base: a file, a symlink, a hard link, a file the child deletes, a 3 MB file (> the JSON limit).
    mk('base/etc/hostname', 'tsdtest\n');
    mk('base/etc/old.txt', 'to be deleted\n');
    mk('base/bin/tool', '#!/bin/sh\necho tool\n');
    fs.chmodSync(path.join(dir, 'base/bin/tool'), 0o755);
    fs.symlinkSync('tool', path.join(dir, 'base/bin/alias'));
    fs.linkSync(path.join(dir, 'base/bin/tool'), path.join(dir, 'base/bin/tool-hard'));
    fs.writeFileSync(path.join(dir, 'base/big.bin'), crypto.randomBytes(3 << 20));
    // child: adds a file, deletes old.txt with an AUFS whiteout.
    mk('child/etc/new.txt', 'added by child\n');
    mk('child/etc/.wh.old.txt', '');
  });

  afterEach(function () {
    if (this.currentTest?.state === 'failed') console.log(`--- tsd log ---\n${log.slice(-4000)}`);
  });

  after(async () => {
    if (proc && proc.exitCode === null) {
      proc.kill('SIGTERM');
      await new Promise((r) => { proc!.once('exit', r); setTimeout(r, 10_000); });
      if (proc.exitCode === null && proc.signalCode === null) proc.kill('SIGKILL');
    }
    if (dir) {
      for (const m of mountsUnder(dir).sort((a, b) => b.length - a.length)) spawnSync('umount', ['-l', m]);
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  let base = '';
  let child = '';

  it('import: GNU tar files become layers; the diff ID is the sha256 of the bytes sent; ls and inspect show them', () => {
    const baseTar = tarOf('base', 'base.tar');
    const b = tsctl('layer', 'import', baseTar);
    assert.equal(b.code, 0, b.err);
    base = b.out.trim();
    assert.match(base, /^[0-9a-f]{64}$/);
    assert.equal(b.err, '', 'no progress bar when stderr is not a terminal');
    const childTar = tarOf('child', 'child.tar');
    // From stdin this time.
    const c = spawnSync(TSCTL, ['layer', 'import', '--parent', base.slice(0, 12), '-'], {
      env: { ...process.env, TSD_HOST: `unix://${sock}` }, input: fs.readFileSync(childTar), encoding: 'utf8',
    });
    assert.equal(c.status, 0, c.stderr);
    child = c.stdout.trim();

    const insp = JSON.parse(tsctl('layer', 'inspect', base, child).out) as Array<Record<string, unknown>>;
    assert.deepEqual(insp.map((l) => [l.Id, l.Parent, l.DiffId, l.Driver, l.Mounts]), [
      [base, '', sha256File(baseTar), 'tsd-overlay2', 0],
      [child, base, sha256File(childTar), 'tsd-overlay2', 0],
    ]);
    assert.ok((insp[0]!.Size as number) >= 3 << 20);
    assert.equal(tsctl('layer', 'inspect', '--format', '{{.DiffId}}', child).out, `${sha256File(childTar)}\n`);

    // The files are in the driver's tree, as moby lays it out.
    const diff = path.join(driverDir(), base, 'diff');
    assert.equal(fs.readFileSync(path.join(diff, 'etc/hostname'), 'utf8'), 'tsdtest\n');
    assert.equal(fs.readlinkSync(path.join(diff, 'bin/alias')), 'tool');
    assert.equal(fs.statSync(path.join(diff, 'bin/tool')).ino, fs.statSync(path.join(diff, 'bin/tool-hard')).ino);
    assert.ok(fs.readFileSync(path.join(diff, 'big.bin')).equals(fs.readFileSync(path.join(dir, 'base/big.bin'))));
    const wh = fs.statSync(path.join(driverDir(), child, 'diff/etc/old.txt'));
    assert.ok(wh.isCharacterDevice() && wh.rdev === 0, 'the whiteout is an overlay 0/0 char device on disk');

    const ls = tsctl('layer', 'ls');
    assert.equal(ls.code, 0);
    const lines = ls.out.trimEnd().split('\n');
    assert.match(lines[0]!, /^LAYER ID\s+PARENT\s+DRIVER\s+SIZE\s+MOUNTS\s+CREATED$/);
    assert.equal(lines.length, 3);
    assert.match(lines[1]!, new RegExp(`^${base.slice(0, 12)}\\s+<none>\\s+tsd-overlay2\\s+3\\.\\d+MB\\s+0\\s+(Less than a second|1 second|\\d+ seconds) ago$`));
    assert.match(lines[2]!, new RegExp(`^${child.slice(0, 12)}\\s+${base.slice(0, 12)}\\s+tsd-overlay2\\s+`));
    const js = tsctl('layer', 'ls', '--format', 'json').out.trim().split('\n').map((l) => JSON.parse(l) as { Id: string });
    assert.deepEqual(js.map((l) => l.Id), [base, child]);
    assert.equal(tsctl('layer', 'ls', '-q', '--no-trunc').out, `${base}\n${child}\n`);
  });

  it('mount: an overlay (findmnt) showing base + child with the whiteout applied; rm refused while mounted or a parent', () => {
    const m = tsctl('layer', 'mount', child);
    assert.equal(m.code, 0, m.err);
    const mnt = m.out.trim();
    const fm = findmnt(mnt);
    assert.ok(fm, `${mnt} is a mount point`);
    assert.equal(fm.fstype, 'overlay');
    assert.match(fm.options, new RegExp(`upperdir=${driverDir()}/${child}/diff`));
    assert.equal(fs.readFileSync(path.join(mnt, 'etc/new.txt'), 'utf8'), 'added by child\n');
    assert.equal(fs.readFileSync(path.join(mnt, 'etc/hostname'), 'utf8'), 'tsdtest\n');
    assert.equal(fs.existsSync(path.join(mnt, 'etc/old.txt')), false);
    assert.equal(JSON.parse(tsctl('layer', 'inspect', '--format', 'json', child).out).Mounts, 1);

    const busy = tsctl('layer', 'rm', child);
    assert.equal(busy.code, 1);
    assert.match(busy.err, /^Error: layer [0-9a-f]{64} is mounted 1 time\(s\): unmount it first\n$/);
    const parent = tsctl('layer', 'rm', base);
    assert.equal(parent.code, 1);
    assert.equal(parent.err, `Error: layer ${base} is the parent of ${child.slice(0, 12)}\n`);

    assert.equal(tsctl('layer', 'unmount', child).code, 0);
    assert.equal(findmnt(mnt), undefined, 'unmounted');
    const again = tsctl('layer', 'unmount', child);
    assert.equal(again.code, 1);
    assert.match(again.err, /is not mounted/);
  });

  it('export: the child\'s changes as a tar with the AUFS whiteout; -o and stdout give the same bytes', () => {
    const out = path.join(dir, 'child-export.tar');
    const e = tsctl('layer', 'export', child, '-o', out);
    assert.equal(e.code, 0, e.err);
    const names = tarList(out);
    assert.ok(names.includes('etc/new.txt'), names.join(','));
    assert.ok(names.includes('etc/.wh.old.txt'), names.join(','));
    assert.ok(!names.includes('etc/hostname'), 'only the changes');
    const piped = spawnSync(TSCTL, ['layer', 'export', child], { env: { ...process.env, TSD_HOST: `unix://${sock}` }, maxBuffer: 64 << 20 });
    assert.equal(piped.status, 0, String(piped.stderr));
    assert.ok(Buffer.from(piped.stdout).equals(fs.readFileSync(out)));
    const exists = tsctl('layer', 'export', child, '-o', out);
    assert.equal(exists.code, 2);
    assert.equal(exists.err, `Error: ${out}: already exists\n`);
    // Round trip: the export re-imported on the same parent shows the same tree.
    const re = tsctl('layer', 'import', '--parent', base, out);
    assert.equal(re.code, 0, re.err);
    const id = re.out.trim();
    const m = tsctl('layer', 'mount', id).out.trim();
    assert.deepEqual(fs.readdirSync(path.join(m, 'etc')).sort(), ['hostname', 'new.txt']);
    assert.equal(tsctl('layer', 'unmount', id).code, 0);
    assert.equal(tsctl('layer', 'rm', id).code, 0);
  });

  it('bad input: an escaping tar, an unknown parent, an unknown parameter, a JSON body: clear errors, nothing left', async () => {
    const before = layerDirs().sort();
    mk('evil/x', 'pwned');
    const evil = tarOf('evil', 'evil.tar', ['--transform', 's,^\\./x,../../escaped,']);
    const r = tsctl('layer', 'import', evil);
    assert.equal(r.code, 1);
    assert.match(r.err, /^Error: .*\.\.\/\.\.\/escaped.*\n$/);
    assert.deepEqual(layerDirs().sort(), before, 'the half-made layer was removed');
    assert.equal(fs.existsSync(path.join(driverDir(), 'escaped')), false);
    assert.equal(tsctl('layer', 'ls', '-q').out.split('\n').filter(Boolean).length, 2);

    const np = tsctl('layer', 'import', '--parent', 'abcdef', path.join(dir, 'child.tar'));
    assert.equal(np.code, 1);
    assert.equal(np.err, 'Error: layer abcdef not found\n');
    const bogus = await api.raw('POST', '/layers/import?bogus=1', '');
    assert.equal(bogus.status, 400);
    assert.match(bogus.body, /query bogus: unknown parameter/);
    const json = await api.raw('POST', '/layers/import', { not: 'a tar' });
    assert.equal(json.status, 400);
    assert.match(json.body, /Content-Type application\/json: a layer import takes application\/x-tar/);
    const badId = tsctl('layer', 'inspect', '../etc');
    assert.equal(badId.code, 1);
    assert.match(badId.err, /an id is 1 to 64 lowercase hex digits/);
    // JSON routes keep their size limit.
    const big = await api.raw('POST', '/volumes/create', JSON.stringify({ Name: 'x'.repeat(2 << 20) }));
    assert.equal(big.status, 413);
    assert.equal(proc!.exitCode, null, 'tsd lives on');
  });

  it('vfs: import and mount through tsd-vfs; rm removes everything; nothing stays mounted', () => {
    const v = tsctl('layer', 'import', '--driver', 'tsd-vfs', path.join(dir, 'base.tar'));
    assert.equal(v.code, 0, v.err);
    const id = v.out.trim();
    const m = tsctl('layer', 'mount', id).out.trim();
    assert.equal(m, path.join(driverDir('tsd-vfs'), 'dir', id));
    assert.equal(fs.readFileSync(path.join(m, 'etc/hostname'), 'utf8'), 'tsdtest\n');
    const wrong = tsctl('layer', 'import', '--parent', id, '--driver', 'tsd-overlay2', path.join(dir, 'child.tar'));
    assert.equal(wrong.code, 1);
    assert.match(wrong.err, /is on driver tsd-vfs, not tsd-overlay2/);
    assert.equal(tsctl('layer', 'unmount', id).code, 0);

    const rm = tsctl('layer', 'rm', child, base, id);
    assert.equal(rm.code, 0, rm.err);
    assert.equal(tsctl('layer', 'ls', '-q').out, '');
    assert.deepEqual(layerDirs(), []);
    assert.deepEqual(fs.readdirSync(path.join(driverDir(), 'l')), []);
    assert.deepEqual(fs.readdirSync(path.join(driverDir('tsd-vfs'), 'dir')), []);
    assert.deepEqual(mountsUnder(dataRoot()), []);
  });
});
