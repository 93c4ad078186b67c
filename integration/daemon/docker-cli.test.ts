// integration/daemon/docker-cli.test.ts — issue 2 item 5: the docker CLI itself drives tsd's API
// (`DOCKER_HOST=unix://<tsd api socket> docker network|volume …`), no dockerd involved. Runs as
// root inside the private net+mount namespace of scripts/test-integration.sh (tsd's bridge and
// nft table live there). Both Debian's CLI (20.10, API 1.41) and a newer one (negotiating down
// to tsd's API version) when installed. Output fields are checked against what was asked, and
// the kernel against the output (ip -j).
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { execa } from 'execa';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../..');
const TSD = path.join(root, 'bin/tsd');
const CLIS = ['/usr/bin/docker', '/usr/local/bin/docker'].filter((p) => fs.existsSync(p));

interface Out { code: number; out: string; err: string }

async function ipAddrs(ifname: string): Promise<string[] | undefined> {
  const r = await execa('ip', ['-j', 'addr', 'show', 'dev', ifname], { reject: false });
  if (r.exitCode !== 0) return undefined;
  const links = JSON.parse(r.stdout) as Array<{ addr_info: Array<{ family: string; local: string; prefixlen: number }> }>;
  return links[0]!.addr_info.filter((a) => a.family === 'inet').map((a) => `${a.local}/${a.prefixlen}`);
}

CLIS.forEach((cli, n) => describe(`docker CLI (${cli}) against tsd's API`, function () {
  this.timeout(60_000);
  let dir: string;
  let sock: string;
  let proc: ChildProcess | undefined;
  let log = '';
  const br = `tsdtest-cli${n}`;
  const docker = async (...args: string[]): Promise<Out> => {
    const r = await execa(cli, args, { reject: false, env: { ...process.env, DOCKER_HOST: `unix://${sock}` }, timeout: 30_000 });
    return { code: r.exitCode ?? -1, out: r.stdout, err: r.stderr };
  };

  before(async function () {
    if (process.getuid?.() !== 0) this.skip();
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tsdtest-cli-'));
    sock = path.join(dir, 'run', 'tsd.sock');
    proc = spawn(TSD, ['--data-root', path.join(dir, 'data'), '--exec-root', path.join(dir, 'run'), '--store', 'memory',
      '--firewall-backend', 'nftables', '--no-serve-plugins', '--plugin-dir', path.join(dir, 'plugins')], { stdio: ['ignore', 'ignore', 'pipe'] });
    proc.stderr!.on('data', (c: Buffer) => { log += c.toString(); });
    for (let i = 0; i < 400 && !log.includes('"msg":"tsd started"'); i++) {
      if (proc.exitCode !== null) throw new Error(`tsd exited ${proc.exitCode}: ${log}`);
      await new Promise((r) => setTimeout(r, 50));
    }
    assert.ok(log.includes('"msg":"tsd started"'), `tsd did not start: ${log}`);
  });

  after(async () => {
    if (proc && proc.exitCode === null) {
      proc.kill('SIGTERM');
      await new Promise((r) => proc!.once('exit', r));
    }
    await execa('ip', ['link', 'del', br], { reject: false });
    await execa('nft', ['delete', 'table', 'inet', 'tsd'], { reject: false });
    if (dir) {
      for (const m of fs.readFileSync('/proc/self/mountinfo', 'utf8').split('\n').map((l) => l.split(' ')[4]).filter((p) => p?.startsWith(dir + '/'))) {
        await execa('umount', ['-l', m!], { reject: false });
      }
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  it('docker version: tsd answers as the server, the CLI negotiates its API version', async () => {
    const v = await docker('version', '--format', '{{.Server.Version}} {{.Server.APIVersion}} {{.Server.MinAPIVersion}}');
    assert.equal(v.code, 0, v.err);
    assert.match(v.out, /^\d+\.\d+\.\d+ 1\.\d+ 1\.24$/);
  });

  it('docker network create|ls|inspect|rm: fields as asked, bridge and gateway in the kernel, gone after rm', async () => {
    const c = await docker('network', 'create', '--subnet', '10.77.0.0/24', '--gateway', '10.77.0.1', '--ip-range', '10.77.0.128/25',
      '--label', 'suite=tsdtest', '-o', `com.docker.network.bridge.name=${br}`, 'tsdtest-net');
    assert.equal(c.code, 0, c.err);
    const id = c.out.trim();
    assert.match(id, /^[0-9a-f]{64}$/);
    assert.deepEqual(await ipAddrs(br), ['10.77.0.1/24'], 'the bridge carries the gateway');

    const ls = await docker('network', 'ls', '--format', '{{.ID}} {{.Name}} {{.Driver}} {{.Scope}} {{.Labels}}');
    assert.equal(ls.code, 0, ls.err);
    assert.equal(ls.out, `${id.slice(0, 12)} tsdtest-net bridge local suite=tsdtest`);
    assert.equal((await docker('network', 'ls', '-q', '--no-trunc', '--filter', 'label=suite=tsdtest')).out, id);
    assert.equal((await docker('network', 'ls', '-q', '--filter', 'driver=macvlan')).out, '');

    const insp = await docker('network', 'inspect', 'tsdtest-net');
    assert.equal(insp.code, 0, insp.err);
    const n = (JSON.parse(insp.out) as Array<Record<string, any>>)[0]!;
    assert.equal(n.Id, id);
    assert.equal(n.Name, 'tsdtest-net');
    assert.equal(n.Driver, 'bridge');
    assert.equal(n.Scope, 'local');
    assert.equal(n.Internal, false);
    assert.equal(n.EnableIPv6, false);
    assert.deepEqual(n.IPAM.Config, [{ Subnet: '10.77.0.0/24', IPRange: '10.77.0.128/25', Gateway: '10.77.0.1' }]);
    assert.deepEqual(n.Labels, { suite: 'tsdtest' });
    assert.deepEqual(n.Options, { 'com.docker.network.bridge.name': br });
    assert.deepEqual(n.Containers, {});
    // By ID prefix too, with a Go template.
    assert.equal((await docker('network', 'inspect', '-f', '{{.Name}} {{range .IPAM.Config}}{{.Subnet}}{{end}}', id.slice(0, 12))).out, 'tsdtest-net 10.77.0.0/24');

    const dup = await docker('network', 'create', 'tsdtest-net');
    assert.equal(dup.code, 1);
    assert.match(dup.err, /network with name tsdtest-net already exists/);

    const rm = await docker('network', 'rm', 'tsdtest-net');
    assert.equal(rm.code, 0, rm.err);
    assert.equal(rm.out, 'tsdtest-net');
    assert.equal(await ipAddrs(br), undefined, 'the bridge is gone');
    const gone = await docker('network', 'inspect', 'tsdtest-net');
    assert.equal(gone.code, 1);
    assert.match(gone.err, /No such network: tsdtest-net|network tsdtest-net not found/);
    assert.equal((await docker('network', 'ls', '-q')).out, '');
  });

  it('docker network create with a bad subnet: tsd\'s message naming the field', async () => {
    const bad = await docker('network', 'create', '--subnet', '10.77.0.0/33', 'tsdtest-bad');
    assert.equal(bad.code, 1);
    assert.match(bad.err, /10\.77\.0\.0\/33/);
    assert.equal((await docker('network', 'ls', '-q')).out, '');
  });

  it('docker volume create|ls|inspect|rm: driver, labels, options as asked; gone after rm', async () => {
    const c = await docker('volume', 'create', '--label', 'suite=tsdtest', '-o', 'type=tmpfs', '-o', 'device=tmpfs', '-o', 'o=size=1m', 'tsdtest-vol');
    assert.equal(c.code, 0, c.err);
    assert.equal(c.out, 'tsdtest-vol');
    const ls = await docker('volume', 'ls', '--format', '{{.Driver}} {{.Name}} {{.Labels}}');
    assert.equal(ls.out, 'local tsdtest-vol suite=tsdtest');
    assert.equal((await docker('volume', 'ls', '-q', '--filter', 'label=suite=tsdtest')).out, 'tsdtest-vol');
    assert.equal((await docker('volume', 'ls', '-q', '--filter', 'label=suite=other')).out, '');

    const insp = await docker('volume', 'inspect', 'tsdtest-vol');
    assert.equal(insp.code, 0, insp.err);
    const v = (JSON.parse(insp.out) as Array<Record<string, any>>)[0]!;
    assert.equal(v.Name, 'tsdtest-vol');
    assert.equal(v.Driver, 'local');
    assert.equal(v.Scope, 'local');
    assert.deepEqual(v.Labels, { suite: 'tsdtest' });
    assert.deepEqual(v.Options, { type: 'tmpfs', device: 'tmpfs', o: 'size=1m' });
    assert.ok(path.isAbsolute(v.Mountpoint) && v.Mountpoint.startsWith(dir + '/'), v.Mountpoint);
    assert.ok(!Number.isNaN(Date.parse(v.CreatedAt)), `CreatedAt ${v.CreatedAt} is a timestamp`);

    const bad = await docker('volume', 'create', '-o', 'colour=blue', 'tsdtest-bad');
    assert.equal(bad.code, 1);
    assert.match(bad.err, /option "colour": unknown/);

    const rm = await docker('volume', 'rm', 'tsdtest-vol');
    assert.equal(rm.code, 0, rm.err);
    assert.equal(rm.out, 'tsdtest-vol');
    assert.equal(fs.existsSync(v.Mountpoint), false);
    const gone = await docker('volume', 'inspect', 'tsdtest-vol');
    assert.equal(gone.code, 1);
    assert.match(gone.err, /No such volume: tsdtest-vol|no such volume/);
    assert.equal((await docker('volume', 'ls', '-q')).out, '');
  });

  it('docker network prune --filter and docker volume prune (with the client\'s API-version semantics)', async () => {
    assert.equal((await docker('network', 'create', '--label', 'keep=no', 'tsdtest-p1')).code, 0);
    assert.equal((await docker('network', 'create', 'tsdtest-p2')).code, 0);
    const np = await docker('network', 'prune', '-f', '--filter', 'label=keep=no');
    assert.equal(np.code, 0, np.err);
    assert.match(np.out, /^Deleted Networks:\ntsdtest-p1\n?$/);
    assert.equal((await docker('network', 'ls', '--format', '{{.Name}}')).out, 'tsdtest-p2');
    assert.equal((await docker('network', 'rm', 'tsdtest-p2')).code, 0);

    assert.equal((await docker('volume', 'create', 'tsdtest-pv')).code, 0);
    const apiVersion = (await docker('version', '--format', '{{.Client.APIVersion}}')).out.trim();
    const vp = await docker('volume', 'prune', '-f');
    assert.equal(vp.code, 0, vp.err);
    if (apiVersion === '1.41') {
      // API < 1.42: prune means every unused volume, named ones included (as dockerd does).
      assert.match(vp.out, /Deleted Volumes:\ntsdtest-pv\n/);
    } else {
      // API >= 1.42: anonymous volumes only, unless --all.
      assert.doesNotMatch(vp.out, /tsdtest-pv/);
      const all = await docker('volume', 'prune', '-f', '--all');
      assert.match(all.out, /Deleted Volumes:\ntsdtest-pv\n/);
    }
    assert.equal((await docker('volume', 'ls', '-q')).out, '');
  });
}));
