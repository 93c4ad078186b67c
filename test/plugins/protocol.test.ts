// test/plugins/protocol.test.ts — the shared wire layer: strict request schemas name the field and
// the reason, keys fold case like Go, null maps read as empty, option maps translate both ways,
// and the remaining §10 quirks (Implements values, managed plugins skip Activate, DstName ignored,
// lower-snake ID maps, managed-plugin sockets not scanned).

import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import {
  endpointOptionsFromWire,
  endpointOptionsToWire,
  GraphRequest,
  KNOWN_IMPLEMENTS,
  NetworkRequest,
  networkOptionsFromWire,
  networkOptionsToWire,
  parseWire,
  VolumeRequest,
} from '../../plugins/protocol/index.js';
import { LocalPluginDiscovery, NO_RETRY, PluginClient, PluginDriverSource, type PluginLocator, RemoteNetworkDriver } from '../../plugins/client/index.js';
import { rawPlugin, tempDir } from './fakes.js';

describe('plugins/protocol', () => {
  it('strict requests: unknown and mistyped fields are named with the reason', () => {
    assert.throws(() => parseWire(VolumeRequest.Mount, { Name: 'v', ID: 'x', Extra: 1, Other: 2 }, 'VolumeDriver.Mount'), {
      name: 'InvalidArgumentError',
      message: 'VolumeDriver.Mount: Extra: unknown field; Other: unknown field',
    });
    assert.throws(() => parseWire(VolumeRequest.Mount, { Name: '', ID: 3 }, ''), { message: 'Name: must not be empty; ID: expected string, got number' });
    assert.throws(() => parseWire(NetworkRequest.Leave, {}, ''), { message: 'NetworkID: required; EndpointID: required' });
  });

  it('keys fold to canonical case (Go), null maps and arrays are accepted', () => {
    assert.deepEqual(parseWire(NetworkRequest.CreateNetwork, { networkid: 'n', options: null, ipv4data: null, IPv6Data: null }, ''), { NetworkID: 'n', Options: null, IPv4Data: null, IPv6Data: null });
    assert.deepEqual(parseWire(VolumeRequest.Create, { NAME: 'v', Opts: null }, ''), { Name: 'v', Opts: null });
  });

  it('§10.9: GraphDriver.Init ID maps use container_id/host_id/size on the wire', () => {
    const ok = parseWire(GraphRequest.Init, { Home: '/h', Opts: null, UIDMaps: [{ container_id: 0, host_id: 100000, size: 65536 }], GIDMaps: null }, '');
    assert.equal(ok.UIDMaps?.[0]?.host_id, 100000);
    assert.throws(() => parseWire(GraphRequest.Init, { Home: '/h', UIDMaps: [{ ContainerID: 0, HostID: 1, Size: 1 }] }, ''), /UIDMaps\[0\]\.ContainerID: unknown field/);
  });

  it('network and endpoint options translate both ways', () => {
    const o = { generic: { a: 'b' }, enableIpv4: false, enableIpv6: true, internal: true, extra: { 'com.docker.network.x': 5 } };
    assert.deepEqual(networkOptionsFromWire(networkOptionsToWire(o), ''), o);
    assert.deepEqual(networkOptionsFromWire(null, ''), { generic: {}, enableIpv4: true, enableIpv6: false, internal: false });
    const e = {
      exposedPorts: [{ proto: 'sctp' as const, port: 9 }],
      portBindings: [{ proto: 'udp' as const, ip: '', port: 53, hostIp: '', hostPort: 0, hostPortEnd: 0 }],
      dnsServers: ['1.1.1.1'],
      ifname: 'eth3',
      macAddress: '02:00:00:00:00:01',
      generic: { k: 'v' },
      extra: { 'com.docker.network.driver.private.no_proxy_6to4': true },
    };
    assert.deepEqual(endpointOptionsFromWire(endpointOptionsToWire(e), ''), e);
    assert.deepEqual(endpointToWireKeys(e), ['com.docker.network.driver.private.no_proxy_6to4', 'k', 'com.docker.network.endpoint.exposedports', 'com.docker.network.portmap', 'com.docker.network.endpoint.dnsservers', 'com.docker.network.endpoint.ifname', 'com.docker.network.endpoint.macaddress']);
    assert.deepEqual(endpointOptionsToWire(e)['com.docker.network.endpoint.exposedports'], [{ Proto: 132, Port: 9 }]);
  });

  it('§10.4: Implements values dockerd knows include IpamDriver, LogDriver, MetricsCollector, GraphDriver', () => {
    for (const v of ['VolumeDriver', 'NetworkDriver', 'IpamDriver', 'authz', 'LogDriver', 'MetricsCollector', 'GraphDriver']) assert.ok((KNOWN_IMPLEMENTS as readonly string[]).includes(v), v);
  });

  it('§10.7: DstName in a Join reply is accepted and ignored', async () => {
    const dir = tempDir();
    const p = await rawPlugin(path.join(dir, 'j.sock'), (r) => ({
      body: r.path.endsWith('GetCapabilities') ? '{"Scope":"local"}' : '{"InterfaceName":{"SrcName":"v0","DstPrefix":"eth","DstName":"ignored0"}}',
    }));
    const c = new PluginClient({ name: 'j', addr: `unix://${path.join(dir, 'j.sock')}`, source: 't' }, { retry: NO_RETRY });
    try {
      const d = await new RemoteNetworkDriver(c).init();
      assert.deepEqual(await d.join({ networkId: 'n', endpointId: 'e', sandboxKey: '/x', options: {} }), { interfaceName: { srcName: 'v0', dstPrefix: 'eth' } });
    } finally {
      await c.close();
      await p.close();
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  it('§10.5: managed plugins (implements known from config.json) are never sent /Plugin.Activate', async () => {
    const dir = tempDir();
    const sock = path.join(dir, 'm.sock');
    const p = await rawPlugin(sock, () => ({ body: '{"Capabilities":{"Scope":"global"}}' }));
    const locator: PluginLocator = {
      async find(name) { return name === 'org/managed:latest' ? { name, addr: `unix://${sock}`, source: 'config.json', implements: ['VolumeDriver'] } : undefined; },
      async list() { return []; },
    };
    const s = new PluginDriverSource({ locator, discoveryRetry: NO_RETRY });
    try {
      const v = await s.lookup('VolumeDriver', 'org/managed:latest');
      assert.deepEqual(await v!.capabilities(), { scope: 'global' });
      assert.deepEqual(p.requests.map((r) => r.path), ['/VolumeDriver.Capabilities']);
    } finally {
      await s.close();
      await p.close();
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  it('§1.2/§10.6: managed-plugin sockets (<id>/plugin.sock) are not matched by the scan', async () => {
    const dir = tempDir();
    try {
      const id = 'a'.repeat(64);
      fs.mkdirSync(path.join(dir, id));
      execFileSync('python3', ['-c', 'import socket,sys; s=socket.socket(socket.AF_UNIX); s.bind(sys.argv[1])', path.join(dir, id, 'plugin.sock')]);
      assert.deepEqual(await new LocalPluginDiscovery({ socketDir: dir, specDirs: [] }).list(), []);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});

function endpointToWireKeys(e: Parameters<typeof endpointOptionsToWire>[0]): string[] {
  return Object.keys(endpointOptionsToWire(e));
}
