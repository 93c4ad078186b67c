// integration/network/macvlan.test.ts — tsd-macvlan on the real kernel, driven through the
// network service (default IPAM, DNS registry, sandbox networking on the kernel). Runs inside the
// private netns of scripts/test-integration.sh, which plays the host: the parents are veths whose
// other ends sit in an "upstream" netns (a switch: a bridge whose hairpin we toggle). Every check
// of kernel state uses `ip -j` / `busybox ping` from outside tsd.

import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { execa } from 'execa';
import { DriverRegistry } from '../../core/driver/registry.js';
import { createKernel, type Kernel } from '../../core/kernel/index.js';
import { silentLogger } from '../../core/log.js';
import { createServices, type Services } from '../../core/service/index.js';
import { MemoryStore } from '../../core/store/memory.js';
import { scopeStore } from '../../core/store/scoped.js';
import { createDefaultIpamDriver, DEFAULT_IPAM_ALIASES } from '../../drivers/ipam/default/index.js';
import { createMacvlanDriver, MACVLAN_DRIVER_ALIASES, type MacvlanDriver } from '../../drivers/network/macvlan/index.js';
import { NO_RETRY, PluginDriverSource } from '../../plugins/client/index.js';
import { servePlugin } from '../../plugins/server/index.js';
import { ipJson, requireRoot, run } from '../kernel/helpers.js';
import { createKernelNetnsProvider } from '../../core/sandbox/kernel-netns-provider.js';
import { createKernelSandboxNetworking } from '../../core/sandbox/kernel-sandbox-networking.js';
import { EmbeddedDnsRegistry } from './embedded-dns-registry.js';

const P = `mv${Math.floor(Math.random() * 36 ** 4).toString(36).padStart(4, '0')}`;
const UP = `${P}up`; // the upstream "switch" netns
const PAR_A = `${P}pa`; // parent for most tests; its peer is a port of the upstream bridge
const PAR_B = `${P}pb`; // parent for passthru (it must be alone on its parent)
const SW = `${P}sw`;

const code = (c: string, re?: RegExp) => (e: unknown) => (e as { code?: string }).code === c && (!re || re.test((e as Error).message));

/** One echo (a negative answer costs 1 s); positive checks retry a few times (ARP after a topology change). */
async function ping(ns: string | undefined, ip: string, attempts = 1): Promise<boolean> {
  const argv = ['busybox', 'ping', '-c', '1', '-W', '1', ip];
  for (let i = 0; i < attempts; i++) {
    const r = ns ? await execa('ip', ['netns', 'exec', ns, ...argv], { reject: false }) : await execa(argv[0]!, argv.slice(1), { reject: false });
    if (r.exitCode === 0) return true;
  }
  return false;
}

/** Reachable: up to 3 tries. */
const reach = (ns: string | undefined, ip: string) => ping(ns, ip, 3);

/** `dig +short` at the embedded resolver inside `ns` ('' = no answer). */
async function dig(ns: string, name: string): Promise<string> {
  const r = await execa('ip', ['netns', 'exec', ns, 'dig', '+short', '+time=1', '+tries=2', '@127.0.0.11', name, 'A'], { reject: false });
  return String(r.stdout).trim();
}

async function hairpin(on: boolean): Promise<void> {
  await run('ip', ['netns', 'exec', UP, 'bridge', 'link', 'set', 'dev', `${P}ua`, 'hairpin', on ? 'on' : 'off']);
  // Forget learned MACs/neighbours between scenarios.
  await execa('ip', ['netns', 'exec', UP, 'bridge', 'fdb', 'flush', 'dev', `${P}ua`], { reject: false });
}

/** Host links tsd-macvlan may have made (tme*, tms*, tmi*). */
async function tsdLinks(): Promise<string[]> {
  const l = await ipJson<Array<{ ifname: string }>>(['link']);
  return l.map((x) => x.ifname).filter((n) => /^tm[esi]/.test(n));
}

async function linkIn(ns: string, dev: string): Promise<any> {
  return (await ipJson<any[]>(['-d', 'link', 'show', 'dev', dev], ns))[0];
}

async function addrsIn(ns: string | undefined, dev: string): Promise<string[]> {
  const a = await ipJson<any[]>(['-4', 'addr', 'show', 'dev', dev], ns);
  return (a[0]?.addr_info ?? []).map((x: any) => `${x.local}/${x.prefixlen}`);
}

describe('tsd-macvlan on a veth parent (real kernel)', function () {
  this.timeout(60000);
  let kernel: Kernel;
  let store: MemoryStore;
  let svc: Services;
  let driver: MacvlanDriver;
  let dns: EmbeddedDnsRegistry;
  let tmp: string;
  const netnses: string[] = [];
  let n = 0;

  async function sandbox(): Promise<string> {
    const name = `${P}s${n++}`;
    await run('ip', ['netns', 'add', name]);
    netnses.push(name);
    await run('ip', ['-n', name, 'link', 'set', 'lo', 'up']);
    await svc.sandboxes.create({ name, netnsPath: `/run/netns/${name}` });
    return name;
  }

  async function ipOf(network: string, sb: string): Promise<string> {
    const eps = await svc.records.sandboxEndpoints((await svc.records.findSandbox(sb)).id);
    const netId = (await svc.records.findNetwork(network)).id;
    return eps.find((e) => e.networkId === netId)!.ipv4.split('/')[0]!;
  }

  /** Remove sandboxes (disconnecting them) and the network; then nothing of it may be left. */
  async function teardown(network: string, sandboxes: string[]): Promise<void> {
    for (const s of sandboxes) await svc.sandboxes.remove(s);
    await svc.networks.remove(network);
    for (const s of sandboxes) {
      await run('ip', ['netns', 'del', s]);
      netnses.splice(netnses.indexOf(s), 1);
    }
  }

  before(async function () {
    requireRoot(this);
    kernel = createKernel();
    store = new MemoryStore();
    dns = new EmbeddedDnsRegistry(kernel, async (id) => (await svc.records.findSandbox(id)).netnsPath);
    tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'tsd-macvlan-'));
    fs.writeFileSync(path.join(tmp, 'resolv.conf'), 'nameserver 192.0.2.53\n');
    driver = createMacvlanDriver({ log: silentLogger, store: scopeStore(store, 'drivers/tsd-macvlan/'), kernel, dataDir: tmp, config: {} });
    const registry = new DriverRegistry();
    registry.register('NetworkDriver', driver, MACVLAN_DRIVER_ALIASES);
    registry.register('IpamDriver', createDefaultIpamDriver({ store: scopeStore(store, 'drivers/tsd-ipam/'), config: {} }), DEFAULT_IPAM_ALIASES);
    svc = createServices({
      store, registry, netns: createKernelNetnsProvider(), sandboxNetworking: createKernelSandboxNetworking(kernel), dns, log: silentLogger,
      dataRoot: path.join(tmp, 'data'), execRoot: path.join(tmp, 'run'), embeddedDns: true, hostResolvConf: path.join(tmp, 'resolv.conf'),
    });

    await run('ip', ['netns', 'add', UP]);
    netnses.push(UP);
    await run('ip', ['-n', UP, 'link', 'add', SW, 'type', 'bridge']);
    await run('ip', ['-n', UP, 'link', 'set', SW, 'up']);
    for (const [par, peer] of [[PAR_A, `${P}ua`], [PAR_B, `${P}ub`]] as const) {
      await run('ip', ['link', 'add', par, 'type', 'veth', 'peer', 'name', peer]);
      await run('ip', ['link', 'set', peer, 'netns', UP]);
      await run('ip', ['link', 'set', par, 'up']);
      await run('ip', ['-n', UP, 'link', 'set', peer, 'up']);
    }
    await run('ip', ['-n', UP, 'link', 'set', `${P}ua`, 'master', SW]);
  });

  after(async () => {
    if (!svc) return;
    for (const sb of await svc.records.listSandboxes().catch(() => [])) await svc.sandboxes.remove(sb.id).catch(() => {});
    for (const nw of await svc.records.listNetworks().catch(() => [])) await svc.networks.remove(nw.id, { force: true }).catch(() => {});
    for (const ns of netnses) await execa('ip', ['netns', 'del', ns], { reject: false });
    for (const l of [PAR_A, PAR_B, ...(await tsdLinks().catch(() => []))]) await execa('ip', ['link', 'del', l], { reject: false });
    await dns?.dns.close();
    fs.rmSync(tmp, { recursive: true, force: true });
  });

  it('bridge mode: sandboxes ping each other and the wire; MAC, mode and gateway route as Docker; DNS records registered', async () => {
    const net = `${P}br`;
    const { record } = await svc.networks.create({
      name: net, driver: 'macvlan', options: { parent: PAR_A }, ipam: { config: [{ subnet: '10.71.0.0/24', gateway: '10.71.0.1' }] },
    });
    const [a, b] = [await sandbox(), await sandbox()];
    const epA = await svc.networks.connect({ network: net, sandbox: a });
    await svc.networks.connect({ network: net, sandbox: b });
    const [ipA, ipB] = [await ipOf(net, a), await ipOf(net, b)];

    const eth0 = await linkIn(a, 'eth0');
    assert.equal(eth0.linkinfo.info_kind, 'macvlan');
    assert.equal(eth0.linkinfo.info_data.mode, 'bridge');
    assert.equal(eth0.address, epA.macAddress);
    assert.match(epA.macAddress, /^[0-9a-f][26ae]:/, 'a locally administered unicast MAC');
    assert.deepEqual(await addrsIn(a, 'eth0'), [epA.ipv4]);
    const routes = await ipJson<any[]>(['route'], a);
    assert.ok(routes.some((r) => r.dst === 'default' && r.gateway === '10.71.0.1'), JSON.stringify(routes));
    assert.deepEqual(await tsdLinks(), [], 'the temporary macvlans moved into the sandboxes');

    assert.ok(await reach(a, ipB), 'a → b');
    assert.ok(await reach(b, ipA), 'b → a');
    // The sandboxes sit on the parent's segment: the switch reaches them directly.
    await hairpin(false);
    await run('ip', ['-n', UP, 'addr', 'add', '10.71.0.254/24', 'dev', SW]);
    assert.ok(await reach(UP, ipA), 'upstream → a');
    // The gateway is an upstream router's address: tsd assigns it to nothing.
    const hostAddrs = (await ipJson<any[]>(['addr'])).flatMap((l) => l.addr_info.map((x: any) => x.local));
    assert.ok(!hostAddrs.includes('10.71.0.1'));
    // DNS: the service registers names for macvlan endpoints like for any driver, and the
    // resolver at 127.0.0.11 inside the sandbox answers them (lo, whatever the driver).
    assert.deepEqual(dns.lookup(record.id, b), [ipB]);
    assert.deepEqual(dns.lookup(record.id, a), [ipA]);
    assert.equal(await dig(a, b), ipB, 'a resolves b by name');
    assert.equal(await dig(b, a), ipA, 'b resolves a by name');
    await svc.networks.disconnect(net, b);
    assert.equal(await dig(a, b), '', 'b no longer resolves once disconnected');
    await svc.networks.connect({ network: net, sandbox: b });

    await teardown(net, [a, b]);
    await run('ip', ['-n', UP, 'addr', 'del', '10.71.0.254/24', 'dev', SW]);
    assert.deepEqual(await tsdLinks(), []);
    assert.equal(dns.records.size, 0);
  });

  it('private mode blocks sandbox-to-sandbox, even through a hairpinning switch; the wire still reaches both', async () => {
    const net = `${P}pr`;
    await svc.networks.create({ name: net, driver: 'macvlan', options: { parent: PAR_A, macvlan_mode: 'private' }, ipam: { config: [{ subnet: '10.72.0.0/24' }] } });
    const [a, b] = [await sandbox(), await sandbox()];
    await svc.networks.connect({ network: net, sandbox: a });
    await svc.networks.connect({ network: net, sandbox: b });
    const [ipA, ipB] = [await ipOf(net, a), await ipOf(net, b)];
    assert.equal((await linkIn(a, 'eth0')).linkinfo.info_data.mode, 'private');
    await run('ip', ['-n', UP, 'addr', 'add', '10.72.0.254/24', 'dev', SW]);
    try {
      await hairpin(false);
      assert.equal(await ping(a, ipB), false, 'private: a must not reach b');
      await hairpin(true);
      assert.equal(await ping(a, ipB), false, 'private: a must not reach b even with hairpin upstream');
      assert.ok(await reach(UP, ipA), 'upstream → a');
      assert.ok(await reach(UP, ipB), 'upstream → b');
    } finally {
      await hairpin(false);
      await run('ip', ['-n', UP, 'addr', 'del', '10.72.0.254/24', 'dev', SW]);
    }
    await teardown(net, [a, b]);
    assert.deepEqual(await tsdLinks(), []);
  });

  it('vepa: sandboxes talk only when the switch upstream hairpins', async () => {
    const net = `${P}ve`;
    await svc.networks.create({ name: net, driver: 'macvlan', options: { parent: PAR_A, macvlan_mode: 'vepa' }, ipam: { config: [{ subnet: '10.73.0.0/24' }] } });
    const [a, b] = [await sandbox(), await sandbox()];
    await svc.networks.connect({ network: net, sandbox: a });
    await svc.networks.connect({ network: net, sandbox: b });
    const ipB = await ipOf(net, b);
    assert.equal((await linkIn(a, 'eth0')).linkinfo.info_data.mode, 'vepa');
    try {
      await hairpin(false);
      assert.equal(await ping(a, ipB), false, 'vepa without hairpin: frames leave and never come back');
      await hairpin(true);
      assert.ok(await reach(a, ipB), 'vepa with a hairpinning switch: a → b');
    } finally {
      await hairpin(false);
    }
    await teardown(net, [a, b]);
  });

  it('passthru: one endpoint owns the parent; a second endpoint and a second network on it are refused', async () => {
    const net = `${P}pt`;
    await svc.networks.create({ name: net, driver: 'macvlan', options: { parent: PAR_B, macvlan_mode: 'passthru' }, ipam: { config: [{ subnet: '10.74.0.0/24' }] } });
    const [a, b] = [await sandbox(), await sandbox()];
    const ep = await svc.networks.connect({ network: net, sandbox: a });
    const parentMac = (await ipJson<any[]>(['link', 'show', 'dev', PAR_B]))[0].address;
    const eth0 = await linkIn(a, 'eth0');
    assert.equal(eth0.linkinfo.info_data.mode, 'passthru');
    assert.equal(ep.macAddress, parentMac, 'passthru uses the parent MAC');
    await run('ip', ['-n', UP, 'addr', 'add', '10.74.0.254/24', 'dev', `${P}ub`]);
    assert.ok(await reach(UP, await ipOf(net, a)), 'upstream → the passthru sandbox');
    await assert.rejects(svc.networks.connect({ network: net, sandbox: b }), code('Conflict', /macvlan_mode=passthru: network \w+ already has endpoint \w+; passthru hands the parent/));
    await assert.rejects(
      svc.networks.create({ name: `${P}pt2`, driver: 'macvlan', options: { parent: PAR_B }, ipam: { config: [{ subnet: '10.74.1.0/24' }] } }),
      code('Conflict', /parent: macvlan network \w+ uses parent .* in passthru mode/),
    );
    // A failed connect leaves b with nothing, and IPAM got its address back.
    assert.deepEqual((await ipJson<any[]>(['link'], b)).map((l) => l.ifname), ['lo']);
    await teardown(net, [a, b]);
    assert.equal((await ipJson<any[]>(['link', 'show', 'dev', PAR_B]))[0].address, parentMac, 'parent MAC unchanged');
  });

  it('two networks share a parent in the same mode; passthru on a used parent is refused', async () => {
    await svc.networks.create({ name: `${P}s1`, driver: 'macvlan', options: { parent: PAR_A }, ipam: { config: [{ subnet: '10.75.1.0/24' }] } });
    await svc.networks.create({ name: `${P}s2`, driver: 'macvlan', options: { parent: PAR_A }, ipam: { config: [{ subnet: '10.75.2.0/24' }] } });
    await assert.rejects(
      svc.networks.create({ name: `${P}s3`, driver: 'macvlan', options: { parent: PAR_A, macvlan_mode: 'passthru' }, ipam: { config: [{ subnet: '10.75.3.0/24' }] } }),
      code('Conflict', /macvlan_mode: cannot use passthru, macvlan network \w+ already uses parent/),
    );
    const [a, b] = [await sandbox(), await sandbox()];
    await svc.networks.connect({ network: `${P}s1`, sandbox: a });
    await svc.networks.connect({ network: `${P}s2`, sandbox: b });
    await run('ip', ['-n', UP, 'addr', 'add', '10.75.1.254/24', 'dev', SW]);
    await run('ip', ['-n', UP, 'addr', 'add', '10.75.2.254/24', 'dev', SW]);
    try {
      assert.ok(await reach(UP, await ipOf(`${P}s1`, a)));
      assert.ok(await reach(UP, await ipOf(`${P}s2`, b)));
    } finally {
      await run('ip', ['-n', UP, 'addr', 'flush', 'dev', SW]);
    }
    await teardown(`${P}s1`, [a]);
    await teardown(`${P}s2`, [b]);
  });

  it('MTU: sandboxes get the network MTU; one above the parent MTU is refused naming the option, leaving nothing', async () => {
    const before = await tsdLinks();
    await assert.rejects(
      svc.networks.create({ name: `${P}m9`, driver: 'macvlan', options: { parent: PAR_A, 'com.docker.network.driver.mtu': '9000' }, ipam: { config: [{ subnet: '10.76.0.0/24' }] } }),
      code('InvalidArgument', /com\.docker\.network\.driver\.mtu: 9000 exceeds the MTU 1500 of parent/),
    );
    assert.deepEqual(await tsdLinks(), before);
    // The subnet went back to IPAM: it can be used right away.
    const net = `${P}mt`;
    await svc.networks.create({ name: net, driver: 'macvlan', options: { parent: PAR_A, 'com.docker.network.driver.mtu': '1400' }, ipam: { config: [{ subnet: '10.76.0.0/24' }] } });
    const [a, b] = [await sandbox(), await sandbox()];
    await svc.networks.connect({ network: net, sandbox: a });
    await svc.networks.connect({ network: net, sandbox: b });
    assert.equal((await linkIn(a, 'eth0')).mtu, 1400);
    assert.equal((await ipJson<any[]>(['link', 'show', 'dev', PAR_A]))[0].mtu, 1500, 'parent untouched');
    assert.ok(await reach(a, await ipOf(net, b)));
    await teardown(net, [a, b]);
  });

  it('host shim: the host reaches its sandboxes with the shim, not without; removed with the network', async () => {
    await hairpin(false);
    // Without a shim. The host sits on the same LAN (an address on the parent), the usual case.
    const plain = `${P}ns`;
    await svc.networks.create({ name: plain, driver: 'macvlan', options: { parent: PAR_A }, ipam: { config: [{ subnet: '10.77.0.0/24' }] } });
    const s0 = await sandbox();
    await svc.networks.connect({ network: plain, sandbox: s0 });
    await run('ip', ['addr', 'add', '10.77.0.100/24', 'dev', PAR_A]);
    try {
      assert.equal(await ping(undefined, await ipOf(plain, s0)), false, 'macvlan never delivers from its parent: no host → sandbox');
    } finally {
      await run('ip', ['addr', 'del', '10.77.0.100/24', 'dev', PAR_A]);
    }
    await teardown(plain, [s0]);

    const net = `${P}sh`;
    await assert.rejects(
      svc.networks.create({ name: `${P}sx`, driver: 'macvlan', options: { parent: PAR_A, 'tsd.macvlan.host_shim': 'true' }, ipam: { config: [{ subnet: '10.78.1.0/24' }] } }),
      code('InvalidArgument', /tsd\.macvlan\.host_shim: needs an address reserved for the shim: add --aux-address host_shim=/),
    );
    const { record } = await svc.networks.create({
      name: net, driver: 'macvlan', options: { parent: PAR_A, 'tsd.macvlan.host_shim': 'true' },
      ipam: { config: [{ subnet: '10.78.0.0/24', auxAddresses: { host_shim: '10.78.0.250' } }] },
    });
    const shim = `tms${record.id.slice(0, 12)}`;
    const shimLink = (await ipJson<any[]>(['-d', 'link', 'show', 'dev', shim]))[0];
    assert.equal(shimLink.linkinfo.info_data.mode, 'bridge');
    assert.deepEqual(await addrsIn(undefined, shim), ['10.78.0.250/32']);
    const a = await sandbox();
    await assert.rejects(svc.networks.connect({ network: net, sandbox: a, ipv4: '10.78.0.250' }), /10\.78\.0\.250/, 'the shim address is reserved in IPAM');
    await svc.networks.connect({ network: net, sandbox: a });
    const ipA = await ipOf(net, a);
    const routes = await ipJson<any[]>(['route']);
    assert.ok(routes.some((r) => r.dst === ipA && r.dev === shim), JSON.stringify(routes));
    await run('ip', ['addr', 'add', '10.78.0.100/24', 'dev', PAR_A]);
    try {
      assert.ok(await reach(undefined, ipA), 'host → sandbox through the shim');
      assert.ok(await reach(a, '10.78.0.250'), 'sandbox → host shim');
    } finally {
      await run('ip', ['addr', 'del', '10.78.0.100/24', 'dev', PAR_A]);
    }
    await svc.networks.disconnect(net, a);
    assert.ok(!(await ipJson<any[]>(['route'])).some((r) => r.dst === ipA), 'per-endpoint route removed on disconnect');
    await teardown(net, [a]);
    assert.deepEqual(await tsdLinks(), [], 'shim removed with the network');
  });

  it('parent eth0.10: an 802.1q sub-interface when the kernel has VLANs, else a clear error naming CONFIG_VLAN_8021Q; nothing left', async () => {
    const probe = await execa('ip', ['link', 'add', `${P}vq`, 'link', PAR_A, 'type', 'vlan', 'id', '99'], { reject: false });
    const kernelHasVlan = probe.exitCode === 0;
    if (kernelHasVlan) await run('ip', ['link', 'del', `${P}vq`]);
    const vlanParent = `${PAR_A}.10`;
    const linksBefore = (await ipJson<any[]>(['link'])).map((l) => l.ifname).sort();
    const create = svc.networks.create({ name: `${P}vl`, driver: 'macvlan', options: { parent: vlanParent }, ipam: { config: [{ subnet: '10.79.0.0/24' }] } });
    if (!kernelHasVlan) {
      await assert.rejects(create, code('NotImplemented', /parent: .*\.10 is an 802\.1q sub-interface \(VLAN 10 on .*\) but this kernel has no 802\.1q VLAN support \(CONFIG_VLAN_8021Q\)/));
      assert.deepEqual((await ipJson<any[]>(['link'])).map((l) => l.ifname).sort(), linksBefore);
      assert.equal((await svc.networks.list()).filter((x) => x.Name === `${P}vl`).length, 0);
    } else {
      await create;
      const v = (await ipJson<any[]>(['-d', 'link', 'show', 'dev', vlanParent]))[0];
      assert.equal(v.linkinfo.info_kind, 'vlan');
      assert.equal(v.linkinfo.info_data.id, 10);
      await svc.networks.remove(`${P}vl`);
      assert.deepEqual((await ipJson<any[]>(['link'])).map((l) => l.ifname).sort(), linksBefore, 'the sub-interface tsd made is removed');
    }
  });

  it('no parent: an internal network over its own internal parent; sandboxes talk, no default route; parent removed with it', async () => {
    const net = `${P}in`;
    const { record } = await svc.networks.create({ name: net, driver: 'macvlan', ipam: { config: [{ subnet: '10.80.0.0/24', gateway: '10.80.0.1' }] } });
    const parent = `tmi${record.id.slice(0, 12)}`;
    const pl = (await ipJson<any[]>(['-d', 'link', 'show', 'dev', parent]))[0];
    assert.ok(['dummy', 'ifb'].includes(pl.linkinfo.info_kind), pl.linkinfo.info_kind);
    const [a, b] = [await sandbox(), await sandbox()];
    await svc.networks.connect({ network: net, sandbox: a });
    await svc.networks.connect({ network: net, sandbox: b });
    assert.ok(await reach(a, await ipOf(net, b)), 'a → b over the internal parent');
    assert.ok(!(await ipJson<any[]>(['route'], a)).some((r) => r.dst === 'default'), 'internal: no default route');
    await teardown(net, [a, b]);
    assert.deepEqual(await tsdLinks(), []);
  });

  it('reconcile: restores a deleted shim and internal parent, removes stray macvlans', async () => {
    const { record: r1 } = await svc.networks.create({
      name: `${P}r1`, driver: 'macvlan', options: { parent: PAR_A, 'tsd.macvlan.host_shim': 'true' },
      ipam: { config: [{ subnet: '10.81.0.0/24', auxAddresses: { host_shim: '10.81.0.250' } }] },
    });
    const { record: r2 } = await svc.networks.create({ name: `${P}r2`, driver: 'macvlan', ipam: { config: [{ subnet: '10.82.0.0/24' }] } });
    const shim = `tms${r1.id.slice(0, 12)}`;
    const parent = `tmi${r2.id.slice(0, 12)}`;
    await run('ip', ['link', 'del', shim]);
    await run('ip', ['link', 'del', parent]);
    const stray = 'tme0123456789ab';
    await run('ip', ['link', 'add', stray, 'link', PAR_A, 'type', 'macvlan', 'mode', 'bridge']);
    const report = await driver.reconcile();
    assert.deepEqual(report.restored.sort(), [parent, shim].sort());
    assert.deepEqual(report.removed, [stray]);
    assert.deepEqual((await tsdLinks()).sort(), [parent, shim].sort());
    assert.deepEqual(await addrsIn(undefined, shim), ['10.81.0.250/32']);
    await svc.networks.remove(`${P}r1`);
    await svc.networks.remove(`${P}r2`);
  });

  it('served over the plugin protocol (as dockerd uses it): Join hands SrcName over, sandboxes ping, removal cleans up', async () => {
    // The driver behind servePlugin, reached through the remote proxy tsd itself uses for
    // external plugins: every call crosses the wire in Docker's JSON shapes.
    const sockDir = path.join(tmp, 'plugins');
    fs.mkdirSync(sockDir, { recursive: true });
    const served = await servePlugin(`${P}-remote`, { NetworkDriver: driver }, { socketDir: sockDir });
    const source = new PluginDriverSource({ discovery: { socketDir: sockDir, specDirs: [] }, discoveryRetry: NO_RETRY, client: { retry: NO_RETRY } });
    const registry = new DriverRegistry(source);
    registry.register('IpamDriver', createDefaultIpamDriver({ store: scopeStore(store, 'drivers/tsd-ipam-remote/'), config: {} }), DEFAULT_IPAM_ALIASES);
    const rdns = new EmbeddedDnsRegistry(kernel, async (id) => (await remote.records.findSandbox(id)).netnsPath);
    const remote: Services = createServices({
      store: scopeStore(store, 'remote/'), registry, netns: createKernelNetnsProvider(), sandboxNetworking: createKernelSandboxNetworking(kernel), dns: rdns,
      log: silentLogger, dataRoot: path.join(tmp, 'rdata'), execRoot: path.join(tmp, 'rrun'), embeddedDns: true, hostResolvConf: path.join(tmp, 'resolv.conf'),
    });
    const names: string[] = [];
    try {
      const net = `${P}rm`;
      await remote.networks.create({ name: net, driver: `${P}-remote`, options: { parent: PAR_A }, ipam: { config: [{ subnet: '10.83.0.0/24', gateway: '10.83.0.1' }] } });
      for (let i = 0; i < 2; i++) {
        const name = `${P}r${i}`;
        await run('ip', ['netns', 'add', name]);
        names.push(name);
        await run('ip', ['-n', name, 'link', 'set', 'lo', 'up']);
        await remote.sandboxes.create({ name, netnsPath: `/run/netns/${name}` });
        await remote.networks.connect({ network: net, sandbox: name });
      }
      const eps = await Promise.all(names.map(async (nm) => (await remote.records.sandboxEndpoints((await remote.records.findSandbox(nm)).id))[0]!));
      assert.equal((await linkIn(names[0]!, 'eth0')).address, eps[0]!.macAddress, 'the MAC chosen by the driver crossed the wire');
      assert.ok((await ipJson<any[]>(['route'], names[0])).some((r) => r.dst === 'default' && r.gateway === '10.83.0.1'));
      assert.ok(await reach(names[0], eps[1]!.ipv4.split('/')[0]!));
      assert.equal(await dig(names[0]!, names[1]!), eps[1]!.ipv4.split('/')[0]!, 'name resolution on a remote-driver network too');
      for (const nm of names) await remote.sandboxes.remove(nm);
      await remote.networks.remove(net);
      assert.deepEqual(await tsdLinks(), []);
    } finally {
      for (const sb of await remote.records.listSandboxes().catch(() => [])) await remote.sandboxes.remove(sb.id).catch(() => {});
      for (const nw of await remote.records.listNetworks().catch(() => [])) await remote.networks.remove(nw.id, { force: true }).catch(() => {});
      await rdns.dns.close();
      for (const nm of names) await execa('ip', ['netns', 'del', nm], { reject: false });
      await source.close();
      await served.close();
    }
  });

  it("dockerd's order: the interface it moves back to the host under SrcName after Leave is deleted by DeleteEndpoint", async () => {
    const nid = 'd'.repeat(64);
    await driver.createNetwork({
      networkId: nid, options: { generic: { parent: PAR_A }, enableIpv4: true, enableIpv6: false, internal: false },
      ipv4Data: [{ addressSpace: 'LocalDefault', pool: '10.84.0.0/24', gateway: '10.84.0.1/24' }], ipv6Data: [],
    });
    const sb = `${P}dk`;
    await run('ip', ['netns', 'add', sb]);
    netnses.push(sb);
    for (const [i, eid] of ['e1'.repeat(32), 'e2'.repeat(32)].entries()) {
      const chosen = await driver.createEndpoint({ networkId: nid, endpointId: eid, interface: { address: `10.84.0.${10 + i}/24` }, options: {} });
      assert.match(chosen?.macAddress ?? '', /^([0-9a-f]{2}:){5}[0-9a-f]{2}$/);
      const j = await driver.join({ networkId: nid, endpointId: eid, sandboxKey: `/run/netns/${sb}`, options: {} });
      assert.equal(j.gateway, '10.84.0.1');
      const src = j.interfaceName.srcName;
      assert.equal((await ipJson<any[]>(['link', 'show', 'dev', src]))[0].address, chosen!.macAddress, 'created with the MAC it returned');
      // dockerd (osl): move in, rename; on leave rename back to SrcName and move to the host.
      await run('ip', ['link', 'set', src, 'netns', sb]);
      await run('ip', ['-n', sb, 'link', 'set', src, 'name', `eth${i}`]);
      const back = async () => {
        await run('ip', ['-n', sb, 'link', 'set', `eth${i}`, 'name', src]);
        await run('ip', ['-n', sb, 'link', 'set', src, 'netns', String(process.pid)]); // this test's "host" netns
        assert.equal((await ipJson<any[]>(['link', 'show', 'dev', src]))[0].ifname, src, 'moved back to the host');
      };
      if (i === 0) { await driver.leave(nid, eid); await back(); } else { await back(); await driver.leave(nid, eid); }
      await driver.deleteEndpoint(nid, eid);
      assert.deepEqual(await tsdLinks(), [], `endpoint ${i}: nothing left in the host`);
      assert.deepEqual((await ipJson<any[]>(['link'], sb)).map((l) => l.ifname), ['lo'], `endpoint ${i}: nothing left in the sandbox`);
      await driver.deleteEndpoint(nid, eid); // idempotent
      await driver.leave(nid, eid);
    }
    await driver.deleteNetwork(nid);
    await driver.deleteNetwork(nid);
    assert.deepEqual(await store.list('drivers/tsd-macvlan/'), []);
  });

  it('removal leaves nothing: no links, addresses, routes or driver state', async () => {
    assert.deepEqual(await tsdLinks(), []);
    assert.deepEqual(await store.list('drivers/tsd-macvlan/'), []);
    const routes = await ipJson<any[]>(['route']);
    assert.ok(!routes.some((r) => /^tm/.test(r.dev ?? '')), JSON.stringify(routes));
    assert.deepEqual(await addrsIn(undefined, PAR_A), []);
    assert.deepEqual(await svc.networks.list(), []);
  });
});
