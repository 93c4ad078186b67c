// integration/daemon/exit-watch.test.ts — peers.md #30, the pidfd exit watch end to end: a real
// tsd child with the background sweep off (--sweep-interval 0); a sandbox adopts the netns of a
// `sleep` by PID and joins a bridge. The sleep is killed: within about a second the sandbox is
// gone from the API, its veth from the bridge (`ip -j -d link`) and its pin (findmnt) — only the
// exit watch can do that here. The watch is restored at start: after a restart, a second
// adopted process's exit is noticed too; and a process whose parent never reaps it counts as
// exited while still a zombie. Runs as root inside the private net+mount namespace of
// scripts/test-integration.sh.
import assert from 'node:assert/strict';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import { netnsHolder as holder, tsdChild, type TsdChild, call, must, vethsOnBridge } from './tsd-child.js';

const SUBNET = '10.234.9';
const BRIDGE = 'tsdxw0';
/** Kill → sandbox and veth gone, at most (the watch itself takes a few ms). */
const BOUND_MS = 1500;

const bridgeVeths = () => vethsOnBridge(BRIDGE);

describe('exit watch (pidfd): a PID-adopted sandbox goes at its process exit, sweep off', function () {
  this.timeout(60_000);
  let t: TsdChild | undefined;
  const procs: ChildProcess[] = [];
  const sock = () => t!.sock;

  before(async function () {
    if (process.getuid?.() !== 0) this.skip();
    t = tsdChild('tsdit-exitw-', ['--firewall-backend', 'nftables', '--sweep-interval', '0']);
    await t.start();
  });

  after(async () => {
    for (const p of procs) p.kill('SIGKILL');
    await t?.destroy();
    spawnSync('ip', ['link', 'del', BRIDGE]);
    spawnSync('nft', ['delete', 'table', 'inet', 'tsd']);
  });

  /** Kill `p` (a child, or a pid); resolves with the ms until `name` is 404 and the bridge holds `veths` veths. */
  async function killAndWait(p: ChildProcess | number, name: string, veths: number): Promise<number> {
    const t0 = Date.now();
    if (typeof p === 'number') {
      process.kill(p, 'SIGKILL');
    } else {
      const exited = new Promise((r) => p.once('exit', r));
      p.kill('SIGKILL');
      await exited;
    }
    let status = 0;
    for (; Date.now() - t0 < 10_000; await new Promise((r) => setTimeout(r, 20))) {
      status = (await call(sock(), 'GET', `/sandboxes/${name}`)).status;
      if (status === 404 && bridgeVeths().length === veths) break;
    }
    const took = Date.now() - t0;
    assert.equal(status, 404, `sandbox ${name} still listed ${took} ms after its process was killed`);
    assert.equal(bridgeVeths().length, veths, `veth of ${name} still on ${BRIDGE} after ${took} ms`);
    return took;
  }

  it('kill → sandbox, veth and pin gone within ~1 s; restored after a restart', async () => {
    await must(sock(), 'POST', '/networks/create', {
      Name: 'xwnet', IPAM: { Config: [{ Subnet: `${SUBNET}.0/24` }] }, Options: { 'com.docker.network.bridge.name': BRIDGE },
    });
    await must(sock(), 'POST', '/sandboxes/create', { Name: 'live' });
    await must(sock(), 'POST', '/networks/xwnet/connect', { Container: 'live' });
    const first = await holder();
    const second = await holder();
    procs.push(first, second);
    await must(sock(), 'POST', '/sandboxes/create', { Name: 'first', Pid: first.pid });
    await must(sock(), 'POST', '/sandboxes/create', { Name: 'second', Pid: second.pid });
    for (const c of ['first', 'second']) await must(sock(), 'POST', '/networks/xwnet/connect', { Container: c, EndpointConfig: { Aliases: [`${c}-db`] } });
    const pin = (await must<{ NetnsPath: string }>(sock(), 'GET', '/sandboxes/first')).NetnsPath;
    assert.equal(bridgeVeths().length, 3);

    const took = await killAndWait(first, 'first', 2);
    console.log(`      (sandbox and veth gone ${took} ms after the kill, sweep off)`);
    assert.ok(took < BOUND_MS, `took ${took} ms`);
    assert.equal(fs.existsSync(pin), false, 'the pin is removed');
    assert.notEqual(spawnSync('findmnt', [pin]).status, 0);
    assert.match(t!.log(), /"msg":"sandbox process exited; removing it and its endpoints".*"sandbox":"first"/);

    // A restart restores the watch of the sandbox that is left.
    await t!.stop();
    await t!.start();
    assert.match(t!.log(), /"msg":"reconciled".*"processesWatched":1/);
    const took2 = await killAndWait(second, 'second', 1);
    console.log(`      (after a restart: gone ${took2} ms after the kill)`);
    assert.ok(took2 < BOUND_MS, `took ${took2} ms`);
    const net = await must<{ Containers: Record<string, { Name: string }> }>(sock(), 'GET', '/networks/xwnet');
    assert.deepEqual(Object.values(net.Containers).map((c) => c.Name), ['live']);

    await must(sock(), 'DELETE', '/sandboxes/live');
    await must(sock(), 'DELETE', '/networks/xwnet');
  });

  it('a process whose parent never reaps it: the zombie is an exit too', async () => {
    // python3 forks `unshare --net sleep 120` and sleeps without wait(): killed, the child stays a
    // zombie (as under a runtime that reaps late). Its pidfd fires at exit; /proc/PID/ns/net is gone.
    const parent = spawn('python3', ['-c', [
      'import os, time',
      'pid = os.fork()',
      'if pid == 0: os.execvp("unshare", ["unshare", "--net", "sleep", "120"])',
      'print(pid, flush=True)',
      'time.sleep(300)',
    ].join('\n')], { stdio: ['ignore', 'pipe', 'ignore'] });
    procs.push(parent);
    const pid = Number(await new Promise<string>((r) => parent.stdout!.once('data', (c: Buffer) => r(c.toString().trim()))));
    const own = fs.statSync('/proc/self/ns/net').ino;
    for (let i = 0; i < 200; i++) {
      const st = fs.statSync(`/proc/${pid}/ns/net`, { throwIfNoEntry: false });
      if (st && st.ino !== own && fs.readFileSync(`/proc/${pid}/comm`, 'utf8').trim() === 'sleep') break;
      await new Promise((r) => setTimeout(r, 25));
    }
    await must(sock(), 'POST', '/networks/create', {
      Name: 'xwz', IPAM: { Config: [{ Subnet: `${SUBNET}.0/24` }] }, Options: { 'com.docker.network.bridge.name': BRIDGE },
    });
    await must(sock(), 'POST', '/sandboxes/create', { Name: 'zombie', Pid: pid });
    await must(sock(), 'POST', '/networks/xwz/connect', { Container: 'zombie' });
    assert.equal(bridgeVeths().length, 1);
    const took = await killAndWait(pid, 'zombie', 0);
    assert.match(fs.readFileSync(`/proc/${pid}/status`, 'utf8'), /^State:\s+Z/m, 'still a zombie: nobody reaped it');
    console.log(`      (zombie: sandbox and veth gone ${took} ms after the kill)`);
    assert.ok(took < BOUND_MS, `took ${took} ms`);
    await must(sock(), 'DELETE', '/networks/xwz');
  });
});
