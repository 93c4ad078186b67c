// integration/daemon/sandbox-sweep.test.ts — peers.md #30 (libnetwork#786), end to end: a real tsd
// child with a short --sweep-interval; one sandbox adopts the netns of a `sleep` by PID (tsd's
// pin keeps that netns and its veth alive after the process exits), another adopts the
// /proc/PID/ns/net path of a second one; both join a bridge network with an alias and a static
// IP. Both processes are killed; within a bounded time, with no restart and no `network rm`,
// GET /networks/{id} lists only the live sandbox, the alias no longer resolves (dig @ the
// resolver, from the live sandbox), the pinned veth is gone (`ip -j link`), the pin is gone
// (findmnt), and the same static IPs can be connected again. With --sweep-interval 0 the
// endpoints stay: SWEEP_INTERVAL=0 shows this test failing.
// Runs as root inside the private net+mount namespace of scripts/test-integration.sh.
import assert from 'node:assert/strict';
import { spawnSync, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import { netnsHolder as holder, tsdChild, type TsdChild, call, must, vethsOnBridge } from './tsd-child.js';

const SUBNET = '10.234.7';
const BRIDGE = 'tsdsw0';
const INTERVAL = process.env.SWEEP_INTERVAL ?? '0.5';

interface ApiNet { Id: string; Containers: Record<string, { Name: string; IPv4Address: string }> }

/** veths enslaved to the test's bridge, seen by `ip -j -d link` on the host. */
const bridgePorts = () => vethsOnBridge(BRIDGE);

function dig(netns: string, name: string): string {
  const r = spawnSync('nsenter', [`--net=${netns}`, 'dig', '@127.0.0.11', '+short', '+time=1', '+tries=2', name, 'A'], { encoding: 'utf8' });
  return r.stdout.trim();
}

describe('sandbox sweep (peers.md #30, libnetwork#786): a real tsd child', function () {
  let t: TsdChild | undefined;
  const procs: ChildProcess[] = [];
  const sock = () => t!.sock;

  before(async function () {
    if (process.getuid?.() !== 0) this.skip();
    t = tsdChild('tsdit-sweep-', ['--firewall-backend', 'nftables', '--sweep-interval', INTERVAL]);
    await t.start();
  });

  after(async () => {
    for (const p of procs) p.kill('SIGKILL');
    await t?.destroy();
    spawnSync('ip', ['link', 'del', BRIDGE]);
    spawnSync('nft', ['delete', 'table', 'inet', 'tsd']);
  });

  it('removes the endpoints of sandboxes whose process exited, within a bounded time: API, DNS, veth, IPAM', async () => {
    const net = await must<{ Id: string }>(sock(), 'POST', '/networks/create', {
      Name: 'swnet', IPAM: { Config: [{ Subnet: `${SUBNET}.0/24` }] }, Options: { 'com.docker.network.bridge.name': BRIDGE },
    });
    await must(sock(), 'POST', '/sandboxes/create', { Name: 'watcher' });
    await must(sock(), 'POST', '/networks/swnet/connect', { Container: 'watcher' });
    const watcherNs = (await must<{ NetnsPath: string }>(sock(), 'GET', '/sandboxes/watcher')).NetnsPath;

    const byPid = await holder();
    const byPath = await holder();
    procs.push(byPid, byPath);
    await must(sock(), 'POST', '/sandboxes/create', { Name: 'bypid', Pid: byPid.pid });
    await must(sock(), 'POST', '/sandboxes/create', { Name: 'bypath', NetnsPath: `/proc/${byPath.pid}/ns/net` });
    const pin = (await must<{ NetnsPath: string }>(sock(), 'GET', '/sandboxes/bypid')).NetnsPath;
    await must(sock(), 'POST', '/networks/swnet/connect', { Container: 'bypid', EndpointConfig: { Aliases: ['db'], IPAMConfig: { IPv4Address: `${SUBNET}.50` } } });
    await must(sock(), 'POST', '/networks/swnet/connect', { Container: 'bypath', EndpointConfig: { Aliases: ['cache'], IPAMConfig: { IPv4Address: `${SUBNET}.51` } } });

    const ports0 = bridgePorts();
    assert.equal(ports0.length, 3, `three veths on ${BRIDGE}: ${ports0.join(' ')}`);
    assert.equal(dig(watcherNs, 'db'), `${SUBNET}.50`);
    assert.equal(dig(watcherNs, 'cache'), `${SUBNET}.51`);
    assert.equal(Object.keys((await must<ApiNet>(sock(), 'GET', `/networks/${net.Id}`)).Containers).length, 3);
    // A pass with every sandbox alive removes nothing.
    await new Promise((r) => setTimeout(r, Number(INTERVAL) * 1000 * 2 + 200));
    assert.equal(Object.keys((await must<ApiNet>(sock(), 'GET', `/networks/${net.Id}`)).Containers).length, 3);

    const t0 = Date.now();
    for (const p of [byPid, byPath]) {
      const exited = new Promise((r) => p.once('exit', r));
      p.kill('SIGKILL');
      await exited;
    }
    const bound = Number(INTERVAL) * 1000 + 10_000;
    let names: string[] = [];
    let statuses: number[] = [];
    // The sweep removes a sandbox's endpoints first, then its record: wait for both.
    for (; Date.now() - t0 < bound; await new Promise((r) => setTimeout(r, 100))) {
      names = Object.values((await must<ApiNet>(sock(), 'GET', `/networks/${net.Id}`)).Containers).map((c) => c.Name).sort();
      statuses = [(await call(sock(), 'GET', '/sandboxes/bypid')).status, (await call(sock(), 'GET', '/sandboxes/bypath')).status];
      if (names.length === 1 && statuses.every((x) => x === 404)) break;
    }
    const took = Date.now() - t0;
    assert.deepEqual(names, ['watcher'], `endpoints of the dead sandboxes still listed after ${took} ms`);
    assert.deepEqual(statuses, [404, 404], `dead sandboxes still listed after ${took} ms`);
    console.log(`      (endpoints and sandboxes gone ${took} ms after the kill, sweep interval ${INTERVAL} s)`);

    assert.equal(dig(watcherNs, 'db'), '', 'the alias of the dead sandbox no longer resolves');
    assert.equal(dig(watcherNs, 'cache'), '');
    const live = Object.values((await must<ApiNet>(sock(), 'GET', `/networks/${net.Id}`)).Containers)[0]!;
    assert.equal(dig(watcherNs, 'watcher'), live.IPv4Address.split('/')[0], 'the live one still resolves');
    assert.equal(bridgePorts().length, 1, 'only the live sandbox\'s veth is left on the bridge');
    assert.equal(fs.existsSync(pin), false, 'the pin of the PID-adopted netns is removed');
    assert.notEqual(spawnSync('findmnt', [pin]).status, 0);
    // The PID-adopted one is usually taken by the exit watch (pidfd) before the sweep's pass.
    assert.match(t!.log(), /"msg":"(sweep: sandbox vanished|sandbox process exited); removing it and its endpoints".*"sandbox":"bypid"/);
    assert.match(t!.log(), /"msg":"sweep: sandbox vanished; removing it and its endpoints".*"sandbox":"bypath"/);

    // The IPAM gave the static addresses back: a new sandbox takes them.
    await must(sock(), 'POST', '/sandboxes/create', { Name: 'again' });
    await must(sock(), 'POST', '/networks/swnet/connect', { Container: 'again', EndpointConfig: { Aliases: ['db'], IPAMConfig: { IPv4Address: `${SUBNET}.50` } } });
    await must(sock(), 'POST', '/sandboxes/create', { Name: 'again2' });
    await must(sock(), 'POST', '/networks/swnet/connect', { Container: 'again2', EndpointConfig: { IPAMConfig: { IPv4Address: `${SUBNET}.51` } } });
    assert.equal(dig(watcherNs, 'db'), `${SUBNET}.50`);

    for (const s of ['again', 'again2', 'watcher']) await must(sock(), 'DELETE', `/sandboxes/${s}`);
    await must(sock(), 'DELETE', '/networks/swnet');
  });

  it('SIGTERM with the sweep armed: stops promptly, "tsd stopped" logged, socket removed', async () => {
    const t0 = Date.now();
    await t!.stop();
    assert.ok(Date.now() - t0 < 5000, `stop took ${Date.now() - t0} ms`);
    assert.match(t!.log(), /"msg":"tsd stopped"/);
    assert.equal(fs.existsSync(sock()), false);
  });
});
