// integration/daemon/daemon.test.ts — tsd as a child process on a temp socket, driven by the
// real tsctl binary: exit codes, table and JSON output, sandboxes checked with independent
// tools (nsenter, findmnt, stat), hostile API input answered with 4xx while tsd lives on, the
// data-root lock refusing a second daemon, and SIGTERM shutting down cleanly (socket removed).
// Runs as root inside the private net+mount namespace of scripts/test-integration.sh.
import assert from 'node:assert/strict';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { ApiClient } from '../../cli/api-client.js';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../..');
const TSD = path.join(root, 'bin/tsd');
const TSCTL = path.join(root, 'bin/tsctl');

interface Daemon { proc: ChildProcess; log: () => string; exited: Promise<number | null> }

function startTsd(dataRoot: string, execRoot: string, extra: string[] = []): Daemon {
  let log = '';
  const proc = spawn(TSD, ['--data-root', dataRoot, '--exec-root', execRoot, '--store', 'memory', '--firewall-backend', 'none', '--plugin-dir', path.join(execRoot, 'plugins'), '--log-level', 'info', ...extra], { stdio: ['ignore', 'ignore', 'pipe'] });
  proc.stderr!.on('data', (c: Buffer) => { log += c.toString(); });
  const exited = new Promise<number | null>((r) => proc.on('exit', (code) => r(code)));
  return { proc, log: () => log, exited };
}

async function waitForSocket(p: string, d: Daemon): Promise<void> {
  for (let i = 0; i < 200; i++) {
    if (fs.existsSync(p)) return;
    if (d.proc.exitCode !== null) throw new Error(`tsd exited ${d.proc.exitCode}: ${d.log()}`);
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`tsd socket ${p} did not appear: ${d.log()}`);
}

describe('tsd daemon + tsctl (child process)', function () {
  this.timeout(60_000);
  let dir: string;
  let sock: string;
  let tsd: Daemon;
  let api: ApiClient;
  const tsctl = (...args: string[]) => {
    const r = spawnSync(TSCTL, args, { env: { ...process.env, TSD_HOST: `unix://${sock}` }, encoding: 'utf8', timeout: 30_000 });
    return { code: r.status, out: r.stdout, err: r.stderr };
  };

  before(async function () {
    if (process.getuid?.() !== 0) this.skip();
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tsdit-daemon-'));
    sock = path.join(dir, 'run', 'tsd.sock');
    tsd = startTsd(path.join(dir, 'data'), path.join(dir, 'run'));
    await waitForSocket(sock, tsd);
    api = new ApiClient(sock);
  });

  after(async () => {
    if (tsd && tsd.proc.exitCode === null) { tsd.proc.kill('SIGKILL'); await tsd.exited; }
    // Unpin any namespace a failed test left behind, then remove the tree.
    if (dir) {
      const ns = path.join(dir, 'run', 'netns');
      for (const f of fs.existsSync(ns) ? fs.readdirSync(ns) : []) spawnSync('umount', ['-l', path.join(ns, f)]);
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  it('tsctl network create/ls/inspect/rm: exit codes, docker table, json', () => {
    const c = tsctl('network', 'create', '-d', 'none', '--ipam-driver', 'null', '--label', 'env=it', 'itnet');
    assert.equal(c.code, 0, c.err);
    const id = c.out.trim();
    assert.match(id, /^[0-9a-f]{64}$/);
    const ls = tsctl('network', 'ls');
    assert.equal(ls.code, 0);
    assert.equal(ls.out, `NETWORK ID     NAME      DRIVER    SCOPE\n${id.slice(0, 12)}   itnet     none      local\n`);
    const js = JSON.parse(tsctl('network', 'ls', '--format', 'json').out.trim()) as Record<string, unknown>;
    assert.deepEqual([js.Name, js.Driver, js.Labels], ['itnet', 'none', 'env=it']);
    const insp = JSON.parse(tsctl('network', 'inspect', 'itnet').out) as Array<{ Id: string; IPAM: { Driver: string } }>;
    assert.equal(insp[0]!.Id, id);
    assert.equal(insp[0]!.IPAM.Driver, 'null');
    const dup = tsctl('network', 'create', '-d', 'none', '--ipam-driver', 'null', 'itnet');
    assert.equal(dup.code, 1);
    assert.equal(dup.err, 'Error: network with name itnet already exists\n');
    const usage = tsctl('network', 'create', '--subnet', '10.0.0.0/24', '--gateway', '10.9.9.9', 'x');
    assert.equal(usage.code, 2);
    assert.equal(usage.err, 'Error: no matching subnet for gateway 10.9.9.9\n');
    assert.equal(tsctl('network', 'ls', '--bogus').code, 2);
    for (const group of ['network', 'volume', 'sandbox']) assert.equal(tsctl(group, '--help').code, 0);
    const rm = tsctl('network', 'rm', 'itnet', 'nope');
    assert.equal(rm.code, 1);
    assert.equal(rm.out, 'itnet\n');
    assert.equal(rm.err, 'Error: network nope not found\n');
    assert.equal(tsctl('network', 'ls', '-q').out, '');
  });

  it('sandboxes: a real pinned netns (checked with findmnt/nsenter), exec, connect, rm removes it', () => {
    assert.equal(tsctl('network', 'create', '-d', 'none', '--ipam-driver', 'null', 'sbnet').code, 0);
    const c = tsctl('sandbox', 'create', '--dns', '192.0.2.1', 'box1');
    assert.equal(c.code, 0, c.err);
    const netns = tsctl('sandbox', 'inspect', 'box1', '--format', '{{.NetnsPath}}').out.trim();
    const fm = JSON.parse(spawnSync('findmnt', ['-J', netns], { encoding: 'utf8' }).stdout) as { filesystems: Array<{ fstype: string }> };
    assert.equal(fm.filesystems[0]!.fstype, 'nsfs');
    const links = JSON.parse(spawnSync('nsenter', [`--net=${netns}`, '--', 'ip', '-j', 'link'], { encoding: 'utf8' }).stdout) as Array<{ ifname: string; flags: string[] }>;
    assert.deepEqual(links.map((l) => l.ifname), ['lo']);
    assert.ok(links[0]!.flags.includes('UP'));
    const ex = tsctl('sandbox', 'exec', 'box1', 'sh', '-c', 'ip -br link; exit 7');
    assert.equal(ex.code, 7);
    assert.match(ex.out, /^lo\s+UNKNOWN/);
    const resolv = tsctl('sandbox', 'inspect', 'box1', '--format', '{{.ResolvConfPath}}').out.trim();
    assert.match(fs.readFileSync(resolv, 'utf8'), /^nameserver 192\.0\.2\.1$/m);
    // exec sees the sandbox's resolv.conf and hosts at /etc (as `ip netns exec` does), the host keeps its own.
    const hostResolv = fs.readFileSync('/etc/resolv.conf', 'utf8');
    const seen = tsctl('sandbox', 'exec', 'box1', 'cat', '/etc/resolv.conf', '/etc/hosts');
    assert.equal(seen.code, 0, seen.err);
    assert.equal(seen.out, fs.readFileSync(resolv, 'utf8') + fs.readFileSync(tsctl('sandbox', 'inspect', 'box1', '--format', '{{.HostsPath}}').out.trim(), 'utf8'));
    assert.equal(fs.readFileSync('/etc/resolv.conf', 'utf8'), hostResolv);
    assert.equal(tsctl('sandbox', 'exec', 'box1', 'sh', '-c', 'exit 3', 'x y').code, 3);
    assert.equal(tsctl('network', 'connect', 'sbnet', 'box1', '--alias', 'db').code, 0);
    assert.match(tsctl('sandbox', 'ls').out, /box1\s+\S+\s+sbnet\n$/);
    const refused = tsctl('network', 'rm', 'sbnet');
    assert.equal(refused.code, 1);
    assert.match(refused.err, /^Error: error while removing network: network sbnet id [0-9a-f]{64} has active endpoints \(box1\)\n$/);
    assert.equal(tsctl('sandbox', 'rm', 'box1').code, 0);
    assert.equal(fs.existsSync(netns), false);
    assert.equal(spawnSync('findmnt', [netns]).status, 1);
    assert.equal(tsctl('network', 'rm', 'sbnet').code, 0);
  });

  it('adopts the netns of a running process by PID', async () => {
    const holder = spawn('unshare', ['--net', 'sleep', '60'], { stdio: 'ignore' });
    try {
      // unshare(1) enters its new netns only after exec: wait for it (bounded) on a loaded machine.
      const own = fs.statSync('/proc/self/ns/net').ino;
      let ino = own;
      for (let i = 0; i < 100 && ino === own; i++) {
        await new Promise((r) => setTimeout(r, 50));
        ino = fs.statSync(`/proc/${holder.pid}/ns/net`).ino;
      }
      assert.notEqual(ino, own);
      const c = tsctl('sandbox', 'create', '--pid', String(holder.pid), 'adopted');
      assert.equal(c.code, 0, c.err);
      const p = tsctl('sandbox', 'inspect', 'adopted', '--format', '{{.NetnsPath}} {{.Origin}}').out.trim().split(' ');
      assert.equal(p[1], `pid:${holder.pid}`);
      assert.equal(fs.statSync(p[0]!).ino, ino);
      assert.equal(tsctl('sandbox', 'rm', 'adopted').code, 0);
      assert.equal(fs.existsSync(p[0]!), false);
      assert.equal(holder.exitCode, null, 'the adopted process is left alone');
    } finally {
      holder.kill('SIGKILL');
    }
  });

  it('hostile API input gets 4xx naming the problem, and tsd stays up', async () => {
    const cases: Array<[string, string, unknown, number, RegExp]> = [
      ['POST', '/networks/create', '{"Name":', 400, /invalid JSON/],
      ['POST', '/v1.41/networks/create', { Name: ['x'] }, 400, /Name: Invalid input: expected string/],
      ['POST', '/networks/create', { Name: 'x', Driver: 'none', Surprise: true }, 400, /Surprise: unknown field/],
      ['POST', '/volumes/create', { Labels: { a: 1 } }, 400, /Labels.a/],
      ['POST', '/sandboxes/create', { Name: 'x', Pid: -4 }, 400, /Pid/],
      ['POST', '/networks/create', JSON.stringify({ Name: 'big', Labels: { x: 'y'.repeat(10 * 1024 * 1024) } }), 413, /too large/],
    ];
    for (const [m, p, body, status, re] of cases) {
      const r = await api.raw(m, p, body);
      assert.equal(r.status, status, `${m} ${p}: ${r.body.slice(0, 200)}`);
      assert.match((JSON.parse(r.body) as { message: string }).message, re);
    }
    assert.equal((await api.raw('GET', '/_ping')).body, 'OK');
    assert.equal(tsd.proc.exitCode, null);
  });

  it('a second daemon on the same data root is refused by the lock', async () => {
    const second = startTsd(path.join(dir, 'data'), path.join(dir, 'run2'));
    const code = await second.exited;
    assert.equal(code, 1);
    assert.match(second.log(), new RegExp(`tsd: Error: data root ${dir}/data is in use by another tsd \\(pid ${tsd.proc.pid}\\)`));
    assert.equal((await api.raw('GET', '/_ping')).status, 200);
    assert.ok(fs.existsSync(sock), 'the first daemon keeps its socket');
  });

  it('SIGTERM: clean exit 0, socket removed, lock released for the next daemon', async () => {
    tsd.proc.kill('SIGTERM');
    assert.equal(await tsd.exited, 0, tsd.log());
    assert.equal(fs.existsSync(sock), false);
    assert.match(tsd.log(), /"msg":"tsd stopped"/);
    const next = startTsd(path.join(dir, 'data'), path.join(dir, 'run'));
    await waitForSocket(sock, next);
    next.proc.kill('SIGTERM');
    assert.equal(await next.exited, 0);
  });
});
