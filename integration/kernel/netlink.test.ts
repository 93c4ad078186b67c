// integration/kernel/netlink.test.ts — every rtnetlink object type through `linksIn()`, created in
// throwaway namespaces and checked with `ip -j` / `bridge -j`; errors carry errno, op and object.
import assert from 'node:assert/strict';
import { execa } from 'execa';
import { KernelError } from '../../core/kernel/kernel-error.js';
import { linksIn, type Links } from '../../core/kernel/netlink/index.js';
import { createNetns, deleteNetns, type Netns } from '../../core/kernel/netns.js';
import { bridgeJson, ipJson, prefix, requireRoot, run } from './helpers.js';

describe('kernel/netlink (real kernel)', function () {
  // "host" here is a throwaway netns too, so nothing touches the test runner's namespace.
  const hostName = `${prefix}-nlh`;
  const sbName = `${prefix}-nls`;
  let hostNs: Netns;
  let sbNs: Netns;
  let host: Links;
  let sb: Links;
  const link = <T = any>(name: string, ns = hostName) => ipJson<T[]>(['-d', 'link', 'show', 'dev', name], ns).then((l) => l[0]!);

  before(function () {
    requireRoot(this);
    hostNs = createNetns(hostName);
    sbNs = createNetns(sbName);
    host = linksIn(hostNs);
    sb = linksIn(sbNs);
  });
  after(async () => {
    hostNs?.close();
    sbNs?.close();
    for (const n of [hostName, sbName]) { deleteNetns(n); await execa('ip', ['netns', 'del', n], { reject: false }); }
  });

  it('creates a bridge with MTU, MAC, STP off and ageing time; the MTU survives enslaving', async () => {
    await host.createBridge('br0', { mtu: 1400, mac: '02:00:00:00:00:01', stp: false, ageingTime: 60, up: true, group: 9 });
    await host.createVeth('vbr', 'vbrp', { mtu: 1500 });
    await host.setMaster('vbr', 'br0');
    const l = await link('br0');
    assert.equal(l.linkinfo.info_kind, 'bridge');
    assert.equal(l.mtu, 1400);
    assert.equal(l.address, '02:00:00:00:00:01');
    assert.equal(l.group, '9');
    assert.equal(l.linkinfo.info_data.stp_state, 0);
    assert.equal(l.linkinfo.info_data.ageing_time, 6000);
    assert.ok(l.flags.includes('UP'));
    const got = await host.getLink('br0');
    assert.deepEqual([got.kind, got.mtu, got.mac, got.up, got.group], ['bridge', 1400, '02:00:00:00:00:01', true, 9]);
    assert.equal((await link('vbr')).master, 'br0');
  });

  it('a bridge asked for MTU 1500 (the default) keeps it when a smaller port joins (user-set in the kernel)', async () => {
    await host.createBridge('br15', { mtu: 1500, up: true });
    await host.createVeth('v15', 'v15p', { mtu: 1400, master: 'br15' });
    assert.equal((await link('br15')).mtu, 1500);
    // Control: without an MTU the bridge follows its smallest port (br_mtu_auto_adjust).
    await host.createBridge('brauto', { up: true });
    await host.createVeth('vauto', 'vautop', { mtu: 1400, master: 'brauto' });
    assert.equal((await link('brauto')).mtu, 1400);
    for (const l of ['v15', 'vauto', 'br15', 'brauto']) await host.deleteLinkIfExists(l);
  });

  it('creates a veth with one TX/RX queue per end (peer in another netns); rejects a bad count naming the field', async () => {
    await host.createVeth('vq', 'vqp', { peerNetns: sbNs, queues: 1 });
    for (const [name, ns] of [['vq', hostName], ['vqp', sbName]] as const) {
      const l = await link(name, ns);
      assert.deepEqual([l.num_tx_queues, l.num_rx_queues], [1, 1], name);
    }
    await host.deleteLinkIfExists('vq');
    await assert.rejects(host.createVeth('vq2', 'vq2p', { queues: 0 }), /queues: 0 must be an integer 1\.\.4096/);
    assert.equal(await host.findLink('vq2'), undefined);
  });

  it('creates a veth with the peer inside another netns, and attaches it (rename, address, up, default route)', async () => {
    await host.createVeth('veth1', 'tmp1', { peerNetns: sbNs, mtu: 1450, mac: '02:00:00:00:01:01', peerMac: '02:00:00:00:01:02', group: 7 });
    await host.setLink('veth1', { master: 'br0', up: true });
    assert.equal(await host.findLink('tmp1'), undefined);
    const peer = await link('tmp1', sbName);
    assert.equal(peer.mtu, 1450);
    assert.equal(peer.address, '02:00:00:00:01:02');
    await sb.setLink('tmp1', { name: 'eth0', up: true });
    await sb.addAddress('eth0', '10.77.0.2/24');
    await sb.addAddress('eth0', 'fd77::2/64');
    await host.addAddress('br0', '10.77.0.1/24');
    await sb.addRoute({ dst: 'default', gateway: '10.77.0.1' });
    const eth0 = await link('eth0', sbName);
    assert.ok(eth0.flags.includes('UP'));
    const v = await link('veth1');
    assert.equal(v.master, 'br0');
    assert.equal(v.group, '7');
    const addrs = await ipJson(['addr', 'show', 'dev', 'eth0'], sbName);
    const infos = addrs[0].addr_info.map((a: any) => `${a.local}/${a.prefixlen}`);
    assert.ok(infos.includes('10.77.0.2/24') && infos.includes('fd77::2/64'), infos.join());
    // nodad: not tentative
    assert.ok(!addrs[0].addr_info.some((a: any) => a.local === 'fd77::2' && a.tentative));
    const routes = await ipJson(['route', 'show', 'default'], sbName);
    assert.deepEqual([routes[0].gateway, routes[0].dev], ['10.77.0.1', 'eth0']);
    // the wire works: ping the bridge's address from the sandbox
    await run('ip', ['netns', 'exec', sbName, 'busybox', 'ping', '-c1', '-W2', '10.77.0.1']);
    const ours = await sb.listAddresses({ link: 'eth0', family: 4 });
    assert.deepEqual(ours.map((a) => a.cidr), ['10.77.0.2/24']);
    const r = await sb.listRoutes({ family: 4 });
    assert.ok(r.some((x) => x.dst === 'default' && x.gateway === '10.77.0.1'));
  });

  it('changes MTU, MAC, name, group and master; moves a link between namespaces', async () => {
    await host.createVeth('chg0', 'chg0p');
    await host.setMtu('chg0', 1300);
    await host.setMac('chg0', '02:00:00:00:02:01');
    await host.setGroup('chg0', 11);
    await host.rename('chg0', 'chg1');
    await host.setMaster('chg1', 'br0');
    let l = await link('chg1');
    assert.deepEqual([l.mtu, l.address, l.group, l.master], [1300, '02:00:00:00:02:01', '11', 'br0']);
    await host.noMaster('chg1');
    await host.setUp('chg1');
    l = await link('chg1');
    assert.equal(l.master, undefined);
    assert.ok(l.flags.includes('UP'));
    await host.setDown('chg1');
    assert.ok(!(await link('chg1')).flags.includes('UP'));
    await host.moveToNetns('chg0p', sbNs);
    assert.equal((await link('chg0p', sbName)).ifname, 'chg0p');
    assert.equal(await host.findLink('chg0p'), undefined);
  });

  it('sets bridge-port flags (hairpin, isolated, learning)', async () => {
    await host.setBridgePort('veth1', { hairpin: true, isolated: true, learning: false });
    const ports = await bridgeJson(['-d', 'link', 'show', 'dev', 'veth1'], hostName);
    assert.equal(ports[0].hairpin, true);
    assert.equal(ports[0].isolated, true);
    assert.equal(ports[0].learning, false);
    await host.setBridgePort('veth1', { hairpin: false, isolated: false, learning: true });
    const again = await bridgeJson(['-d', 'link', 'show', 'dev', 'veth1'], hostName);
    assert.deepEqual([again[0].hairpin, again[0].isolated, again[0].learning], [false, false, true]);
  });

  it('creates a macvlan on a parent, directly inside another netns', async () => {
    await host.createMacvlan('mv0', 'br0', 'bridge', { netns: sbNs, mtu: 1400 });
    const l = await link('mv0', sbName);
    assert.equal(l.linkinfo.info_kind, 'macvlan');
    assert.equal(l.linkinfo.info_data.mode, 'bridge');
    assert.equal(l.mtu, 1400);
    await assert.rejects(host.createMacvlan('mv1', 'br0', 'nope' as any), /mode: "nope" must be one of/);
  });

  it('refuses a vlan with a typed error naming the missing kernel feature', async () => {
    await assert.rejects(host.createVlan('vl0', 'br0', { id: 10 }), (e: any) =>
      e.code === 'NotImplemented' && /CONFIG_VLAN_8021Q/.test(e.message) && e.missingKernelFeature === 'CONFIG_VLAN_8021Q');
    await assert.rejects(host.createVlan('vl0', 'br0', { id: 5000 }), /id: 5000 must be a VLAN id/);
  });

  it('creates a vxlan and programs FDB flood entries and a neighbour', async () => {
    await host.addAddress('br0', '10.78.0.1/24');
    await host.createVxlan('vx0', { vni: 4242, local: '10.78.0.1', port: 4789, dev: 'br0', learning: false, ttl: 16 });
    const l = await link('vx0');
    assert.equal(l.linkinfo.info_kind, 'vxlan');
    const d = l.linkinfo.info_data;
    assert.deepEqual([d.id, d.local, d.port, d.learning, d.ttl, d.link], [4242, '10.78.0.1', 4789, false, 16, 'br0']);
    await host.addFdb('vx0', { mac: '00:00:00:00:00:00', dst: '10.78.0.5', append: true });
    await host.addFdb('vx0', { mac: '00:00:00:00:00:00', dst: '10.78.0.6', append: true });
    await host.addFdb('vx0', { mac: '02:00:00:00:03:01', dst: '10.78.0.5' });
    const fdb = await bridgeJson(['fdb', 'show', 'dev', 'vx0'], hostName);
    const perm = fdb.filter((f: any) => f.dst).map((f: any) => `${f.mac} ${f.dst}`).sort();
    assert.deepEqual(perm, ['00:00:00:00:00:00 10.78.0.5', '00:00:00:00:00:00 10.78.0.6', '02:00:00:00:03:01 10.78.0.5']);
    const ours = (await host.listFdb({ link: 'vx0' })).filter((f) => f.dst);
    assert.equal(ours.length, 3);
    assert.ok(ours.every((f) => f.self && f.permanent));
    await host.deleteFdb('vx0', { mac: '00:00:00:00:00:00', dst: '10.78.0.6' });
    const after = await bridgeJson(['fdb', 'show', 'dev', 'vx0'], hostName);
    assert.ok(!after.some((f: any) => f.dst === '10.78.0.6'));
    // permanent neighbour
    await host.addNeighbour('br0', '10.78.0.9', '02:00:00:00:03:09');
    await host.addNeighbour('br0', 'fd78::9', '02:00:00:00:03:0a');
    const neigh = await ipJson(['neigh', 'show', 'dev', 'br0'], hostName);
    const n4 = neigh.find((n: any) => n.dst === '10.78.0.9');
    assert.equal(n4.lladdr, '02:00:00:00:03:09');
    assert.ok(n4.state.includes('PERMANENT'));
    assert.ok(neigh.some((n: any) => n.dst === 'fd78::9'));
    assert.equal((await host.listNeighbours({ link: 'br0', family: 4 })).find((n) => n.address === '10.78.0.9')?.mac, '02:00:00:00:03:09');
    await host.deleteNeighbour('br0', '10.78.0.9');
    assert.ok(!(await ipJson(['neigh', 'show', 'dev', 'br0'], hostName)).some((n: any) => n.dst === '10.78.0.9'));
  });

  it('adds and deletes dev routes and gateway routes, v4 and v6', async () => {
    await host.addRoute({ dst: '10.90.0.0/16', dev: 'br0' });
    await host.addRoute({ dst: '10.91.0.0/16', gateway: '10.77.0.2', metric: 50 });
    await host.addRoute({ dst: 'fd90::/48', dev: 'br0' });
    const routes = await ipJson(['route', 'show'], hostName);
    const r1 = routes.find((r: any) => r.dst === '10.90.0.0/16');
    assert.deepEqual([r1.dev, r1.scope], ['br0', 'link']);
    const r2 = routes.find((r: any) => r.dst === '10.91.0.0/16');
    assert.deepEqual([r2.gateway, r2.metric], ['10.77.0.2', 50]);
    assert.ok((await ipJson(['-6', 'route', 'show'], hostName)).some((r: any) => r.dst === 'fd90::/48'));
    await assert.rejects(host.addRoute({ dst: '10.90.0.0/16', dev: 'br0' }), /add route 10.90.0.0\/16: File exists \(EEXIST\)/);
    await host.addRoute({ dst: '10.90.0.0/16', dev: 'veth1', replace: true });
    assert.equal((await ipJson(['route', 'show', '10.90.0.0/16'], hostName))[0].dev, 'veth1');
    await assert.rejects(host.addRoute({ dst: '10.96.0.0/16', dev: 'chg1' }), /add route 10.96.0.0\/16: Network is down \(ENETDOWN\): Device for nexthop is not up/);
    await host.deleteRoute({ dst: '10.91.0.0/16', gateway: '10.77.0.2', metric: 50 });
    assert.equal(await host.deleteRouteIfExists({ dst: '10.91.0.0/16', gateway: '10.77.0.2', metric: 50 }), false);
    await host.deleteAddress('br0', '10.78.0.1/24');
    assert.equal(await host.deleteAddressIfExists('br0', '10.78.0.1/24'), false);
    assert.ok(!(await ipJson(['route', 'show'], hostName)).some((r: any) => r.dst === '10.91.0.0/16'));
  });

  it('turns kernel errors into typed errors with errno, operation and object', async () => {
    const e = await host.createBridge('br0').catch((x) => x);
    assert.ok(e instanceof KernelError);
    assert.equal(e.message, 'create bridge br0: File exists (EEXIST)');
    assert.deepEqual([e.errno, e.errnoName, e.op, e.object, e.code], [17, 'EEXIST', 'create bridge', 'br0', 'Conflict']);
    await assert.rejects(host.setUp('nosuch0'), /set up nosuch0: No such device \(ENODEV\)/);
    await assert.rejects(host.getLink('nosuch0'), /link nosuch0: no such link/);
    await assert.rejects(host.createVeth('way-too-long-name', 'p'), /name: "way-too-long-name" is not a valid interface name/);
    await assert.rejects(host.createBridge('brx', { mtu: 20 }), /mtu: 20 must be/);
    await assert.rejects(host.addAddress('br0', '10.0.0.1/40'), /address: "10.0.0.1\/40" is not a valid CIDR/);
    await assert.rejects(host.deleteLinkGroup(0), /group: 0 must be an integer ≥ 1/);
  });

  it('deletes one link, idempotently, and a whole link group in one request', async () => {
    for (let i = 0; i < 5; i++) await host.createVeth(`grp${i}`, `grp${i}p`, { group: 42, peerNetns: sbNs });
    assert.equal((await host.listLinks({ group: 42 })).length, 5);
    await host.deleteLinkGroup(42);
    // (iproute2 6.1 prints {} for every non-matching link in `-j link show group N`)
    assert.equal((await ipJson(['link', 'show', 'group', '42'], hostName)).filter((l: any) => l.ifname).length, 0);
    assert.ok(!(await ipJson(['link'], sbName)).some((l: any) => /^grp/.test(l.ifname)));
    await host.deleteLink('vx0');
    assert.equal(await host.deleteLinkIfExists('vx0'), false);
    assert.equal(await host.findLink('vx0'), undefined);
    const all = await host.listLinks();
    const names = (await ipJson(['link'], hostName)).map((l: any) => l.ifname).sort();
    assert.deepEqual(all.map((l) => l.name).sort(), names);
  });
  it('creates many veths in one pipelined call (peers born in the sandbox), checked with ip -j', async () => {
    const specs = Array.from({ length: 150 }, (_, i) => ({ name: `pv${i}`, peerName: `pv${i}p`, peerNetns: sbNs, group: 51, up: true, mtu: 1400 }));
    await host.createVeths(specs);
    const hostEnds = (await ipJson(['link', 'show', 'group', '51'], hostName)).filter((l: any) => l.ifname);
    assert.equal(hostEnds.length, 150);
    assert.ok(hostEnds.every((l: any) => l.flags.includes('UP')));
    const peers = (await ipJson(['link'], sbName)).filter((l: any) => /^pv\d+p$/.test(l.ifname));
    assert.equal(peers.length, 150);
    assert.ok(peers.every((l: any) => l.mtu === 1400 && !l.flags.includes('UP')));
    await host.deleteLinkGroup(51);
    assert.equal((await ipJson(['link'], sbName)).filter((l: any) => /^pv/.test(l.ifname)).length, 0);
  });

  it('createVeths is all or nothing: a failure names its veth and the others are removed', async () => {
    await host.createVeth('pvx5', 'pvx5p');
    const specs = Array.from({ length: 70 }, (_, i) => ({ name: `pvx${i}`, peerName: `pvy${i}`, peerNetns: sbNs }));
    const e = await host.createVeths(specs).catch((x) => x);
    assert.ok(e instanceof KernelError, String(e));
    assert.deepEqual([e.op, e.object, e.errnoName], ['create veth', 'pvx5', 'EEXIST']);
    assert.equal(e.message, 'create veth pvx5: File exists (EEXIST)');
    const left = (await ipJson(['link'], hostName)).map((l: any) => l.ifname).filter((n: string) => /^pvx\d+$/.test(n));
    assert.deepEqual(left, ['pvx5']);
    assert.equal((await ipJson(['link'], sbName)).filter((l: any) => /^pvy/.test(l.ifname)).length, 0);
    // bad input: nothing is sent at all
    await assert.rejects(host.createVeths([{ name: 'pvz0', peerName: 'pvz0p' }, { name: 'pvz1', peerName: 'bad name' }]), /peerName: "bad name" is not a valid interface name/);
    await assert.rejects(host.createVeths([{ name: 'pvz0', peerName: 'pvz0p' }, { name: 'pvz0', peerName: 'pvz1p' }]), /name: "pvz0" appears twice/);
    assert.equal(await host.findLink('pvz0'), undefined);
    await host.deleteLink('pvx5');
  });

  it('deletes links off the main thread: the event loop keeps running, call order is kept', async () => {
    for (let i = 0; i < 8; i++) await host.createVeth(`od${i}`, `od${i}p`, { peerNetns: sbNs });
    let ticks = 0;
    const timer = setInterval(() => ticks++, 1);
    const t0 = performance.now();
    const dels = Array.from({ length: 8 }, (_, i) => host.deleteLink(`od${i}`));
    const issuedIn = performance.now() - t0;
    // not awaited on purpose: the create must wait for the delete of the same name
    const recreate = host.createVeth('od0', 'od0p');
    await Promise.all([...dels, recreate]);
    const took = performance.now() - t0;
    clearInterval(timer);
    assert.ok(issuedIn < 5, `issuing 8 deletes blocked for ${issuedIn.toFixed(1)} ms`);
    assert.ok(ticks >= 3, `timer ticked ${ticks} times in ${took.toFixed(0)} ms of deletes`);
    assert.equal((await ipJson(['link'], hostName)).filter((l: any) => /^od\d+$/.test(l.ifname)).map((l: any) => l.ifname).join(), 'od0');
    assert.equal((await ipJson(['link'], sbName)).filter((l: any) => /^od/.test(l.ifname)).length, 0);
    await assert.rejects(host.deleteLink('od7'), /delete link od7: No such device \(ENODEV\)/);
    assert.equal(await host.deleteLinkIfExists('od0'), true);
    assert.equal(await host.findLink('od0'), undefined);
  });
});
