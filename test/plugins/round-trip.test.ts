// test/plugins/round-trip.test.ts — every method of every driver kind, called through the remote
// proxy (PluginDriverSource → PluginClient → unix socket) into servePlugin and a recording
// driver: the driver must see exactly what the caller passed, and the caller get exactly what the
// driver returned.

import assert from 'node:assert/strict';
import fs from 'node:fs';
import { Readable } from 'node:stream';
import { DriverRegistry } from '../../core/driver/registry.js';
import { hasEndpointInfo, hasExternalConnectivity, hasGatewayAllocationChecker, isClusterAware } from '../../core/driver/network-driver.js';
import { NO_RETRY, PluginDriverSource } from '../../plugins/client/index.js';
import { servePlugin, type ServedPlugin } from '../../plugins/server/index.js';
import { recordingGraphDriver, recordingIpamDriver, recordingNetworkDriver, recordingVolumeDriver, tempDir } from './fakes.js';

describe('plugins: round trip through servePlugin and the remote proxies', () => {
  const dir = tempDir();
  const net = recordingNetworkDriver();
  const ipam = recordingIpamDriver();
  const vol = recordingVolumeDriver();
  const graph = recordingGraphDriver();
  let served: ServedPlugin;
  let source: PluginDriverSource;
  let registry: DriverRegistry;

  before(async () => {
    served = await servePlugin('tsd-fake', { NetworkDriver: net, IpamDriver: ipam, VolumeDriver: vol, GraphDriver: graph }, { socketDir: dir });
    source = new PluginDriverSource({ discovery: { socketDir: dir, specDirs: [] }, discoveryRetry: NO_RETRY, client: { retry: NO_RETRY } });
    registry = new DriverRegistry(source);
  });
  after(async () => {
    await source.close();
    await served.close();
    fs.rmSync(dir, { recursive: true, force: true });
  });
  beforeEach(() => {
    for (const d of [net, ipam, vol, graph]) d.calls.length = 0;
  });

  it('activates once and reports every kind it implements', async () => {
    assert.deepEqual(served.implements, ['NetworkDriver', 'IpamDriver', 'VolumeDriver', 'GraphDriver']);
    const a = await registry.resolve('VolumeDriver', 'tsd-fake');
    assert.equal(a.builtin, false);
    assert.equal(a.driver.name, 'tsd-fake');
    assert.equal(await registry.get('VolumeDriver', 'tsd-fake'), a.driver, 'proxy is cached');
  });

  it('NetworkDriver: every method', async () => {
    const d = await registry.get('NetworkDriver', 'tsd-fake');
    assert.ok(net.calls.some((c) => c[0] === 'getCapabilities'), 'GetCapabilities at registration');
    assert.deepEqual(await d.getCapabilities(), { scope: 'local', connectivityScope: 'global', gwAllocChecker: true });
    assert.ok(hasGatewayAllocationChecker(d) && hasExternalConnectivity(d) && hasEndpointInfo(d) && isClusterAware(d));
    net.calls.length = 0;

    const options = { generic: { mtu: '1400' }, enableIpv4: true, enableIpv6: true, internal: false, extra: { 'com.docker.network.custom': [1] } };
    assert.deepEqual(await d.gwAllocCheck(options), { skipIpv4: true, skipIpv6: false });
    const ipv4Data = [{ addressSpace: 'LocalDefault', pool: '172.30.0.0/16', gateway: '172.30.0.1/16', auxAddresses: { host1: '172.30.5.5/16' } }];
    const ipv6Data = [{ addressSpace: 'LocalDefault', pool: 'fd00::/64' }];
    await d.createNetwork({ networkId: 'n1', options, ipv4Data, ipv6Data });
    const epOptions = {
      exposedPorts: [{ proto: 'tcp' as const, port: 80 }, { proto: 'udp' as const, port: 53 }],
      portBindings: [{ proto: 'sctp' as const, ip: '', port: 80, hostIp: '127.0.0.1', hostPort: 8080, hostPortEnd: 8081 }],
      dnsServers: ['8.8.8.8'],
      ifname: 'eth7',
      macAddress: '02:42:ac:11:00:09',
      generic: { opt: 'v' },
    };
    assert.deepEqual(
      await d.createEndpoint({ networkId: 'n1', endpointId: 'e1', interface: { address: '172.30.0.2/16', addressIpv6: 'fd00::2/64' }, options: epOptions }),
      { macAddress: '02:42:ac:11:00:02' },
    );
    const join = await d.join({ networkId: 'n1', endpointId: 'e1', sandboxKey: '/var/run/docker/netns/abc', options: { exposedPorts: [] } });
    assert.deepEqual(join, {
      interfaceName: { srcName: 'veth1234', dstPrefix: 'eth' },
      gateway: '10.1.0.1',
      gatewayIpv6: 'fd00::1',
      staticRoutes: [{ destination: '192.168.0.0/16', routeType: 0, nextHop: '10.1.0.254' }, { destination: '10.2.0.0/16', routeType: 1 }],
      disableGatewayService: true,
    });
    await d.programExternalConnectivity({ networkId: 'n1', endpointId: 'e1', options: { portBindings: [] } });
    assert.deepEqual(await d.endpointOperInfo('n1', 'e1'), { ports: [80] });
    await d.revokeExternalConnectivity('n1', 'e1');
    await d.leave('n1', 'e1');
    await d.deleteEndpoint('n1', 'e1');
    await d.discoverNew(1, { Address: '10.0.0.2', BindAddress: '10.0.0.2', Self: true });
    await d.discoverDelete(1, { Address: '10.0.0.2', BindAddress: '10.0.0.2', Self: false });
    assert.deepEqual(await d.allocateNetwork!({ networkId: 'n1', options: { a: 'b' }, ipv4Data, ipv6Data: [] }), { vni: '4097' });
    await d.freeNetwork!('n1');
    await d.deleteNetwork('n1');

    assert.deepEqual(net.calls, [
      ['gwAllocCheck', options],
      ['createNetwork', { networkId: 'n1', options, ipv4Data, ipv6Data }],
      ['createEndpoint', { networkId: 'n1', endpointId: 'e1', interface: { address: '172.30.0.2/16', addressIpv6: 'fd00::2/64' }, options: epOptions }],
      ['join', { networkId: 'n1', endpointId: 'e1', sandboxKey: '/var/run/docker/netns/abc', options: { exposedPorts: [] } }],
      ['programExternalConnectivity', { networkId: 'n1', endpointId: 'e1', options: { portBindings: [] } }],
      ['endpointOperInfo', 'n1', 'e1'],
      ['revokeExternalConnectivity', 'n1', 'e1'],
      ['leave', 'n1', 'e1'],
      ['deleteEndpoint', 'n1', 'e1'],
      ['discoverNew', 1, { Address: '10.0.0.2', BindAddress: '10.0.0.2', Self: true }],
      ['discoverDelete', 1, { Address: '10.0.0.2', BindAddress: '10.0.0.2', Self: false }],
      ['allocateNetwork', { networkId: 'n1', options: { a: 'b' }, ipv4Data, ipv6Data: [] }],
      ['freeNetwork', 'n1'],
      ['deleteNetwork', 'n1'],
    ]);
  });

  it('IpamDriver: every method, and a driver error comes back with its class', async () => {
    const d = await registry.get('IpamDriver', 'tsd-fake');
    assert.deepEqual(await d.getCapabilities(), { requiresMacAddress: true, requiresRequestReplay: false });
    assert.deepEqual(await d.getDefaultAddressSpaces(), { local: 'LocalDefault', global: 'GlobalDefault' });
    const poolReq = { addressSpace: 'LocalDefault', pool: '10.10.0.0/16', subPool: '10.10.1.0/24', options: { k: 'v' }, v6: false };
    assert.deepEqual(await d.requestPool(poolReq), { poolId: 'LocalDefault/10.10.0.0/16', pool: '10.10.0.0/16', data: { 'com.docker.network.gateway': '10.10.0.1/16' } });
    const addrReq = { poolId: 'LocalDefault/10.10.0.0/16', address: '', options: { RequestAddressType: 'com.docker.network.gateway' } };
    assert.deepEqual(await d.requestAddress(addrReq), { address: '10.10.0.2/16', data: {} });
    await assert.rejects(d.requestAddress({ ...addrReq, address: '10.10.9.9' }), (e: any) => e.code === 'NotFound' && /IpamDriver.RequestAddress: address 10.10.9.9: not in pool/.test(e.message));
    await d.releaseAddress('LocalDefault/10.10.0.0/16', '10.10.0.2');
    await d.releasePool('LocalDefault/10.10.0.0/16');
    assert.deepEqual(ipam.calls, [
      ['getCapabilities'],
      ['getDefaultAddressSpaces'],
      ['requestPool', poolReq],
      ['requestAddress', addrReq],
      ['requestAddress', { ...addrReq, address: '10.10.9.9' }],
      ['releaseAddress', 'LocalDefault/10.10.0.0/16', '10.10.0.2'],
      ['releasePool', 'LocalDefault/10.10.0.0/16'],
    ]);
  });

  it('VolumeDriver: every method; NotFound stays NotFound', async () => {
    const d = await registry.get('VolumeDriver', 'tsd-fake');
    await d.create('v1', { size: '1G' });
    assert.equal(await d.mount('v1', 'c'.repeat(64)), '/var/lib/fake/v1');
    assert.equal(await d.path('v1'), '/var/lib/fake/v1');
    assert.deepEqual(await d.get('v1'), { name: 'v1', mountpoint: '/var/lib/fake/v1', createdAt: '2026-01-02T03:04:05Z', status: { size: 1 } });
    await assert.rejects(d.get('missing'), (e: any) => e.code === 'NotFound' && /no such volume/.test(e.message));
    assert.deepEqual(await d.list(), [{ name: 'a', mountpoint: '/var/lib/fake/a' }, { name: 'b' }]);
    assert.deepEqual(await d.capabilities(), { scope: 'global' });
    await d.unmount('v1', 'c'.repeat(64));
    await d.remove('v1');
    assert.deepEqual(vol.calls, [
      ['create', 'v1', { size: '1G' }],
      ['mount', 'v1', 'c'.repeat(64)],
      ['path', 'v1'],
      ['get', 'v1'],
      ['get', 'missing'],
      ['list'],
      ['capabilities'],
      ['unmount', 'v1', 'c'.repeat(64)],
      ['remove', 'v1'],
    ]);
  });

  it('GraphDriver: every method, Diff and ApplyDiff as streams', async () => {
    const d = await registry.get('GraphDriver', 'tsd-fake');
    const init = { home: '/var/lib/tsd/fake', options: ['size=1G'], uidMaps: [{ containerId: 0, hostId: 100000, size: 65536 }], gidMaps: [] };
    await d.init(init);
    assert.deepEqual(await d.capabilities(), { reproducesExactDiffs: true });
    await d.create('l1', '', { mountLabel: 'lbl', storageOpt: { size: '1G' } });
    await d.createReadWrite('rw', 'l1');
    assert.equal(await d.get('rw', 'lbl'), '/var/lib/fake/rw/merged');
    await d.put('rw');
    assert.equal(await d.exists('l1'), true);
    assert.equal(await d.exists('nope'), false);
    assert.deepEqual(await d.status(), [['Backing Filesystem', 'extfs']]);
    assert.deepEqual(await d.getMetadata('l1'), { UpperDir: '/x/l1/diff' });
    let tar = '';
    for await (const c of await d.diff('rw', 'l1')) tar += String(c);
    assert.equal(tar, 'tar of rw over l1');
    assert.deepEqual(await d.changes('rw', 'l1'), [{ path: '/etc/passwd', kind: 0 }, { path: '/new', kind: 1 }]);
    const big = Buffer.alloc(3 << 20, 7);
    assert.equal(await d.applyDiff('l2', '', Readable.from([big.subarray(0, 1 << 20), big.subarray(1 << 20)])), big.length);
    assert.equal(await d.diffSize('rw', 'l1'), 4096);
    await d.remove('rw');
    await d.cleanup();
    assert.deepEqual(graph.calls, [
      ['init', init],
      ['capabilities'],
      ['create', 'l1', '', { mountLabel: 'lbl', storageOpt: { size: '1G' } }],
      ['createReadWrite', 'rw', 'l1', {}],
      ['get', 'rw', 'lbl'],
      ['put', 'rw'],
      ['exists', 'l1'],
      ['exists', 'nope'],
      ['status'],
      ['getMetadata', 'l1'],
      ['diff', 'rw', 'l1'],
      ['changes', 'rw', 'l1'],
      ['applyDiff', 'l2', '', big.length],
      ['diffSize', 'rw', 'l1'],
      ['remove', 'rw'],
      ['cleanup'],
    ]);
  });

  it('scan lists the plugin for each kind it implements; excluded names are never called', async () => {
    assert.deepEqual((await source.scan('VolumeDriver')).map((d) => d.name), ['tsd-fake']);
    const ex = new PluginDriverSource({ discovery: { socketDir: dir, specDirs: [] }, exclude: ['tsd-fake'], discoveryRetry: NO_RETRY });
    assert.equal(await ex.lookup('VolumeDriver', 'tsd-fake'), undefined);
    assert.deepEqual(await ex.scan('VolumeDriver'), []);
    await ex.close();
  });
});
