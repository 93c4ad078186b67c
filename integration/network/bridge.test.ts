// integration/network/bridge.test.ts — tsd-bridge end to end on the real kernel, driven through
// the NetworkService/SandboxService with kernel-backed sandboxes and the nftables firewall.
// Checks with independent tools: ip -j, bridge -j, nft -j, ping, socat. Runs inside
// `unshare --net --mount` (this netns plays the host); everything is removed in after().

import assert from 'node:assert/strict';
import fs from 'node:fs';
import { execa } from 'execa';
import type { ApiSandbox } from '../../core/model/sandbox.js';
import { MemoryStore } from '../../core/store/memory.js';
import { createBridgeDriver, GROUP_BASE, MAX_BRIDGE_PORTS } from '../../drivers/network/bridge/index.js';
import { scopeStore } from '../../core/store/scoped.js';
import { silentLogger } from '../../core/log.js';
import { dial, inNs, ipJ, makeStack, nftElements, ping, run, serve, stopServers, type Stack } from './stack.js';

const OPT = 'com.docker.network.';

describe('tsd-bridge (real kernel)', function () {
  this.timeout(120_000);
  let store: MemoryStore;
  let s: Stack;
  const sb: Record<string, ApiSandbox> = {};

  before(async function () {
    if (process.getuid?.() !== 0) this.skip();
    store = new MemoryStore();
    s = await makeStack(store);
  });

  after(async () => {
    await stopServers();
    if (!s) return;
    for (const x of await s.services.sandboxes.list()) await s.services.sandboxes.remove(x.Id).catch(() => undefined);
    for (const n of await s.services.networks.list()) await s.services.networks.remove(n.Id, { force: true }).catch(() => undefined);
    fs.rmSync(s.root, { recursive: true, force: true });
  });

  async function sandbox(name: string): Promise<ApiSandbox> {
    await s.services.sandboxes.create({ name });
    return (sb[name] = await s.services.sandboxes.inspect(name));
  }
  const ns = (name: string) => sb[name]!.NetnsPath;

  it('two sandboxes on one network: addresses, MAC, MTU, gateway and routes as asked; they ping each other', async () => {
    const { record } = await s.services.networks.create({
      name: 'n1', driver: 'bridge', options: { [`${OPT}driver.mtu`]: '1400' },
      ipam: { config: [{ subnet: '10.88.1.0/24', gateway: '10.88.1.1' }] },
    });
    const br = `tsd-${record.id.slice(0, 11)}`;
    await sandbox('a');
    await sandbox('b');
    await s.services.networks.connect({ network: 'n1', sandbox: 'a', macAddress: '02:aa:bb:cc:dd:01' });
    const epB = await s.services.networks.connect({ network: 'n1', sandbox: 'b', ipv4: '10.88.1.77' });

    const [bridge] = await ipJ([ 'addr', 'show', 'dev', br]);
    assert.equal(bridge.mtu, 1400);
    assert.ok(bridge.addr_info.some((a: any) => a.local === '10.88.1.1' && a.prefixlen === 24), 'gateway on the bridge');
    const [ethA] = await ipJ(['addr', 'show', 'dev', 'eth0'], ns('a'));
    assert.equal(ethA.address, '02:aa:bb:cc:dd:01');
    assert.equal(ethA.mtu, 1400);
    assert.ok(ethA.addr_info.some((a: any) => a.local === '10.88.1.2' && a.prefixlen === 24));
    assert.equal(ethA.operstate, 'UP');
    const [ethB] = await ipJ(['addr', 'show', 'dev', 'eth0'], ns('b'));
    assert.ok(ethB.addr_info.some((a: any) => a.local === '10.88.1.77'));
    assert.equal(ethB.address, epB.macAddress);
    assert.match(epB.macAddress, /^02:42:0a:58:01:4d$/, 'Docker MAC scheme 02:42 + IPv4');
    const routes = await ipJ(['route', 'show', 'default'], ns('a'));
    assert.deepEqual(routes.map((r: any) => r.gateway), ['10.88.1.1']);
    // Host side: veths are ports of the bridge, in the network's link group, hairpin on.
    const ports = await ipJ(['link', 'show', 'master', br]);
    assert.equal(ports.length, 2);
    for (const p of ports) assert.ok(p.ifname.startsWith('veth') && p.mtu === 1400);
    // Host ends: the bridge's MAC (one static FDB entry for all), no IPv6, one queue each
    // (docs/kernel-notes.md "Bridge attach cost"); the sandbox end keeps its own MAC.
    const [brLink] = await ipJ(['-d', 'link', 'show', 'dev', br]);
    for (const p of await ipJ(['-d', 'link', 'show', 'master', br])) {
      assert.equal(p.address, brLink.address, `${p.ifname} has the bridge's MAC`);
      assert.deepEqual([p.num_tx_queues, p.num_rx_queues], [1, 1], `${p.ifname} queues`);
      assert.equal(fs.readFileSync(`/proc/sys/net/ipv6/conf/${p.ifname}/disable_ipv6`, 'utf8').trim(), '1', `${p.ifname} IPv6 off`);
      const [a6] = await ipJ(['-6', 'addr', 'show', 'dev', p.ifname]);
      assert.deepEqual(a6?.addr_info ?? [], [], `${p.ifname} has no IPv6 address`);
    }
    const [bridgeLink] = await ipJ(['-d', 'link', 'show', 'dev', br]);
    assert.equal(bridgeLink.mtu, 1400, 'the bridge MTU as asked');
    // A port with its own MAC would add a permanent (local) entry { ifname: port, master: br }.
    const fdbLocal = JSON.parse(String((await run('bridge', ['-j', 'fdb', 'show', 'br', br])).stdout))
      .filter((f: any) => f.master === br && f.state === 'permanent' && f.ifname !== br);
    assert.deepEqual(fdbLocal, [], 'no per-port local FDB entries');
    const bl = JSON.parse(String((await run('bridge', ['-j', '-d', 'link', 'show', 'master', br])).stdout));
    assert.ok(bl.every((p: any) => p.hairpin === false), 'no hairpin without published ports');
    const sysctl = fs.readFileSync(`/proc/sys/net/ipv4/conf/${br}/route_localnet`, 'utf8').trim();
    assert.equal(sysctl, '1');

    assert.ok(await ping(ns('a'), '10.88.1.77'), 'a → b');
    assert.ok(await ping(ns('b'), '10.88.1.2'), 'b → a');
    assert.ok(await ping(ns('a'), '10.88.1.1'), 'a → gateway');
  });

  it('publishes tcp and udp ports: reachable via a host address and 127.0.0.1, and from the sandbox itself (hairpin)', async () => {
    await sandbox('web');
    const before = (await nftElements('pub4any')).length;
    // Connecting without ports changes nothing in the firewall.
    assert.equal(before, 0);
    await s.services.networks.connect({
      network: 'n1', sandbox: 'web',
      portBindings: [
        { proto: 'tcp', ip: '', port: 80, hostIp: '', hostPort: 18080, hostPortEnd: 18080 },
        { proto: 'udp', ip: '', port: 7000, hostIp: '', hostPort: 17000, hostPortEnd: 17000 },
        { proto: 'tcp', ip: '', port: 80, hostIp: '127.0.0.1', hostPort: 18081, hostPortEnd: 18081 },
      ],
    });
    assert.equal((await nftElements('pub4any')).length, 2);
    const web = (await s.services.sandboxes.inspect('web')).Networks['n1']!.EndpointID;
    const bl = JSON.parse(String((await run('bridge', ['-j', '-d', 'link'])).stdout));
    assert.equal(bl.find((p: any) => p.ifname === `veth${web.slice(0, 11)}`)?.hairpin, true, 'hairpin on the publishing port');
    assert.equal((await nftElements('pub4')).length, 1);
    await serve(ns('web'), 'tcp', 80);
    await serve(ns('web'), 'udp', 7000);
    assert.ok(await dial(undefined, 'tcp', '10.88.1.1', 18080), 'host address');
    assert.ok(await dial(undefined, 'tcp', '127.0.0.1', 18080), '127.0.0.1');
    assert.ok(await dial(undefined, 'tcp', '127.0.0.1', 18081), 'bound to 127.0.0.1');
    assert.equal(await dial(undefined, 'tcp', '10.88.1.1', 18081), undefined, 'the 127.0.0.1-only port is not on other addresses');
    assert.equal(await dial(undefined, 'udp', '127.0.0.1', 17000), 'udp-ok');
    assert.equal(await dial(undefined, 'udp', '10.88.1.1', 17000), 'udp-ok');
    assert.ok(await dial(ns('web'), 'tcp', '10.88.1.1', 18080), 'hairpin: the sandbox reaches its own published port');
    assert.ok(await dial(ns('a'), 'tcp', '10.88.1.1', 18080), 'a neighbour reaches it through the host address');
  });

  it('isolates networks, keeps internal networks without egress, and blocks icc=false neighbours', async () => {
    await s.services.networks.create({ name: 'n2', ipam: { config: [{ subnet: '10.88.2.0/24' }] } });
    await s.services.networks.create({ name: 'nint', internal: true, ipam: { config: [{ subnet: '10.88.3.0/24' }] } });
    await s.services.networks.create({ name: 'noicc', options: { [`${OPT}bridge.enable_icc`]: 'false' }, ipam: { config: [{ subnet: '10.88.4.0/24' }] } });
    await sandbox('c');
    await sandbox('d');
    await sandbox('e');
    await sandbox('f');
    await s.services.networks.connect({ network: 'n2', sandbox: 'c' });
    await s.services.networks.connect({ network: 'nint', sandbox: 'd' });
    await s.services.networks.connect({ network: 'noicc', sandbox: 'e' });
    await s.services.networks.connect({ network: 'noicc', sandbox: 'f' });

    assert.ok(await ping(ns('c'), '10.88.2.1'), 'c reaches its gateway');
    assert.equal(await ping(ns('c'), '10.88.1.2'), false, 'n2 → n1 is isolated');
    assert.equal(await ping(ns('a'), '10.88.2.2'), false, 'n1 → n2 is isolated');
    assert.deepEqual(await ipJ(['route', 'show', 'default'], ns('d')), [], 'internal: no default route');
    await inNs(ns('d'), ['ip', 'route', 'add', 'default', 'via', '10.88.3.1']);
    assert.equal(await ping(ns('d'), '10.88.1.2'), false, 'internal: no egress even with a route');
    assert.ok(await ping(ns('e'), '10.88.4.1'), 'icc=false still reaches the gateway');
    assert.equal(await ping(ns('e'), '10.88.4.3'), false, 'icc=false: e cannot reach f');
    const bl = JSON.parse(String((await run('bridge', ['-j', '-d', 'link'])).stdout));
    const isolated = bl.filter((p: any) => p.isolated === true).length;
    assert.ok(isolated >= 2, 'port isolation on the icc=false ports');
  });

  it('a sandbox on two networks: one default route (the first network), handed to the second on disconnect', async () => {
    await s.services.networks.create({ name: 'ma', ipam: { config: [{ subnet: '10.88.11.0/24', gateway: '10.88.11.1' }] } });
    await s.services.networks.create({ name: 'mb', ipam: { config: [{ subnet: '10.88.12.0/24', gateway: '10.88.12.1' }] } });
    await sandbox('m');
    await s.services.networks.connect({ network: 'ma', sandbox: 'm' });
    await s.services.networks.connect({ network: 'mb', sandbox: 'm' }); // EEXIST before: a second default route
    const defaults = async () => (await ipJ(['route', 'show', 'default'], ns('m'))).map((r: any) => `${r.gateway} ${r.dev}`);
    assert.deepEqual(await defaults(), ['10.88.11.1 eth0']);
    assert.ok(await ping(ns('m'), '10.88.12.1'), 'the second network is reachable on its own subnet');
    await s.services.networks.disconnect('ma', 'm');
    assert.deepEqual(await defaults(), ['10.88.12.1 eth1']);
    await s.services.networks.connect({ network: 'ma', sandbox: 'm' });
    assert.deepEqual(await defaults(), ['10.88.12.1 eth1'], 'a reconnect does not take the route back');
    await s.services.networks.disconnect('mb', 'm');
    assert.deepEqual((await defaults()).map((d: string) => d.split(' ')[0]), ['10.88.11.1']);
  });

  it('network rm -f of the network holding the default route: the sandbox keeps one, via its other network', async () => {
    await s.services.networks.create({ name: 'rfa', ipam: { config: [{ subnet: '10.88.13.0/24', gateway: '10.88.13.1' }] } });
    await s.services.networks.create({ name: 'rfb', ipam: { config: [{ subnet: '10.88.14.0/24', gateway: '10.88.14.1' }] } });
    await sandbox('rmf');
    await s.services.networks.connect({ network: 'rfa', sandbox: 'rmf' });
    await s.services.networks.connect({ network: 'rfb', sandbox: 'rmf' });
    const routes = async () => (await ipJ(['route'], ns('rmf'))).map((r: any) => `${r.dst} ${r.gateway ?? '-'} ${r.dev}`).sort();
    assert.deepEqual(await routes(), ['10.88.13.0/24 - eth0', '10.88.14.0/24 - eth1', 'default 10.88.13.1 eth0']);
    await s.services.networks.remove('rfa', { force: true });
    assert.deepEqual(await routes(), ['10.88.14.0/24 - eth1', 'default 10.88.14.1 eth1']);
    assert.ok(await ping(ns('rmf'), '10.88.14.1'), 'the gateway of rfb answers');
    await s.services.networks.remove('rfb', { force: true });
    assert.deepEqual(await routes(), [], 'the last network gone: no route left');
  });

  it('IPv6: sandboxes ping each other over a v6 subnet with a v6 default route', async () => {
    await s.services.networks.create({
      name: 'n6', enableIpv6: true,
      ipam: { config: [{ subnet: '10.88.6.0/24' }, { subnet: 'fd00:88:6::/64', gateway: 'fd00:88:6::1' }] },
    });
    await sandbox('g');
    await sandbox('h');
    const g = await s.services.networks.connect({ network: 'n6', sandbox: 'g' });
    const h = await s.services.networks.connect({ network: 'n6', sandbox: 'h' });
    assert.match(g.ipv6, /^fd00:88:6::/);
    const r6 = await ipJ(['-6', 'route', 'show', 'default'], ns('g'));
    assert.equal(r6[0]?.gateway, 'fd00:88:6::1');
    assert.ok(await ping(ns('g'), h.ipv6.split('/')[0]!, true), 'g → h over IPv6');
    assert.ok(await ping(ns('h'), 'fd00:88:6::1', true), 'h → v6 gateway');
  });

  it('rejects bad and unsupported bridge options, naming the option', async () => {
    await assert.rejects(s.services.networks.create({ name: 'bad1', options: { [`${OPT}driver.mtu`]: 'big' } }), /com\.docker\.network\.driver\.mtu: "big" is not an integer/);
    await assert.rejects(s.services.networks.create({ name: 'bad2', options: { [`${OPT}bridge.enable_icc`]: 'maybe' } }), /enable_icc: "maybe" is not a boolean/);
    await assert.rejects(s.services.networks.create({ name: 'bad3', options: { [`${OPT}bridge.name`]: 'much-too-long-bridge' } }), /bridge\.name: .* not a valid interface name/);
    await assert.rejects(s.services.networks.create({ name: 'bad4', options: { [`${OPT}bridge.gateway_mode_ipv4`]: 'isolated' } }), /gateway_mode_ipv4/);
    assert.equal((await s.services.networks.list()).filter((n) => n.Name.startsWith('bad')).length, 0);
  });

  it('disconnect retires the veth at once and reaps it in a batch; an immediate reconnect gets eth0 again', async () => {
    const veths = async () => (await ipJ(['link', 'show', 'type', 'veth'])).map((l: any) => l.ifname as string);
    const before = await veths();
    const t0 = performance.now();
    await s.services.networks.disconnect('n1', 'b');
    const ms = performance.now() - t0;
    const eth = (await ipJ(['link', 'show'], ns('b'))).find((l: any) => l.ifname === 'eth0');
    assert.ok(!eth || !eth.flags.includes('UP'), 'out of service at once (down, or already reaped)');
    await s.services.networks.connect({ network: 'n1', sandbox: 'b', ipv4: '10.88.1.77' });
    assert.ok(await ping(ns('a'), '10.88.1.77'), 'reconnected b answers on eth0');
    await new Promise((r) => setTimeout(r, 100));
    assert.equal((await veths()).length, before.length, 'the retired veth was reaped, the new one is there');
    assert.ok(ms < 1000, `disconnect took ${ms} ms`);
  });

  it('disconnect and rm leave no link, address or nft element behind', async () => {
    const nets = await s.services.networks.list();
    const bridges = nets.map((n) => `tsd-${n.Id.slice(0, 11)}`);
    for (const x of await s.services.sandboxes.list()) await s.services.sandboxes.remove(x.Id);
    await stopServers();
    assert.equal((await nftElements('pub4any')).length, 0);
    assert.equal((await nftElements('pub4')).length, 0);
    for (const n of nets) await s.services.networks.remove(n.Id);
    const left = await ipJ(['link', 'show']);
    assert.deepEqual(left.filter((l: any) => bridges.includes(l.ifname) || l.ifname.startsWith('veth')).map((l: any) => l.ifname), []);
    const addrs = await ipJ(['addr', 'show']);
    assert.deepEqual(addrs.flatMap((l: any) => l.addr_info).filter((a: any) => /^10\.88\.|^fd00:88/.test(a.local)), []);
    for (const set of ['bridges', 'pub4', 'pub4any', 'masq4', 'net4', 'noicc', 'internal', 'isolated']) {
      assert.deepEqual(await nftElements(set), [], `nft ${set} is empty`);
    }
    assert.deepEqual(fs.readdirSync(`${s.root}/run/netns`), [], 'no sandbox netns pinned');
  });

  it(`refuses endpoint ${MAX_BRIDGE_PORTS + 1} with a clear error before the kernel's`, async () => {
    const local = new MemoryStore();
    const bridge = createBridgeDriver({ log: silentLogger, store: scopeStore(local, 'b/'), kernel: s.kernel, dataDir: s.root, config: {} });
    const id = 'f'.repeat(64);
    await bridge.createNetwork({ networkId: id, options: { generic: {}, enableIpv4: true, enableIpv6: false, internal: true }, ipv4Data: [{ addressSpace: 'x', pool: '10.89.0.0/16', gateway: '10.89.0.1/16' }], ipv6Data: [] });
    const nsPath = `${s.root}/full-ns`;
    await execa('touch', [nsPath]);
    await execa('unshare', [`--net=${nsPath}`, 'true']);
    try {
      for (let i = 0; i < MAX_BRIDGE_PORTS; i++) {
        const ep = i.toString(16).padStart(12, '0') + 'e'.repeat(52);
        await bridge.createEndpoint({ networkId: id, endpointId: ep, interface: { address: `10.89.${(i + 2) >> 8}.${(i + 2) & 255}/16` }, options: {} });
        await bridge.join({ networkId: id, endpointId: ep, sandboxKey: nsPath, options: {}, sandboxIfname: `e${i}` });
      }
      const br = `tsd-${id.slice(0, 11)}`;
      assert.equal((await ipJ(['link', 'show', 'master', br])).length, MAX_BRIDGE_PORTS);
      await assert.rejects(
        bridge.createEndpoint({ networkId: id, endpointId: 'a'.repeat(64), interface: {}, options: {} }),
        (e: Error) => /bridge tsd-f+ is full \(a Linux bridge holds at most 1023 ports\)/.test(e.message) && (e as any).code === 'Forbidden',
      );
      const t0 = Date.now();
      await bridge.deleteNetwork(id);
      const ms = Date.now() - t0;
      assert.deepEqual((await ipJ(['link', 'show'])).filter((l: any) => l.ifname === br || l.ifname.startsWith('vethfff') || l.ifname.startsWith('veth0')), []);
      assert.ok(ms < 5000, `teardown of ${MAX_BRIDGE_PORTS} veths as one batch took ${ms} ms`);
      assert.ok(GROUP_BASE > 0);
    } finally {
      await bridge.deleteNetwork(id).catch(() => undefined);
      await execa('umount', [nsPath], { reject: false });
      fs.rmSync(nsPath, { force: true });
    }
  });
});
