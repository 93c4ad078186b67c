// integration/plugins/external.test.ts — issue 2's "done when": an external network driver served
// by tsd's plugin server in a separate process is found by discovery (NAME.sock, a .spec file with
// a unix URL, a .json spec), activated, and called through DriverRegistry + PluginDriverSource
// exactly like a built-in one — the same test body runs against the built-in instance and each
// remote route. The remote answers come from the other process (its pid), and SIGTERM removes
// its socket.

import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { hasEndpointInfo } from '../../core/driver/network-driver.js';
import { DriverRegistry } from '../../core/driver/registry.js';
import { NO_RETRY, PluginDriverSource } from '../../plugins/client/index.js';
import { MemoryNetworkDriver } from './fixtures/memory-network-driver.js';

const fixture = path.join(path.dirname(fileURLToPath(import.meta.url)), 'fixtures', 'serve-memory-network.js');

/** The one test body: a network lifecycle through the registry, with the driver's error classes. */
async function exerciseNetworkDriver(registry: DriverRegistry, name: string, run: string): Promise<{ pid: unknown; builtin: boolean }> {
  const { driver: d, builtin } = await registry.resolve('NetworkDriver', name);
  assert.equal(d.name, name);
  assert.deepEqual(await d.getCapabilities(), { scope: 'local', connectivityScope: 'local' });
  const net = `${run}-net`.padEnd(64, '0');
  const ep = `${run}-ep`.padEnd(64, '1');
  const ipv4Data = [{ addressSpace: 'LocalDefault', pool: '10.77.0.0/16', gateway: '10.77.0.1/16' }];
  const options = { generic: { 'com.example.mtu': '1400' }, enableIpv4: true, enableIpv6: false, internal: false };
  await d.createNetwork({ networkId: net, options, ipv4Data, ipv6Data: [] });
  await assert.rejects(d.createNetwork({ networkId: net, options, ipv4Data, ipv6Data: [] }), (e: any) => e.code === 'Conflict' && /already exists/.test(e.message));
  await assert.rejects(
    d.createNetwork({ networkId: `${net}x`, options, ipv4Data: [], ipv6Data: [] }),
    (e: any) => e.code === 'InvalidArgument' && /IPv4 enabled but no IPv4 pool/.test(e.message),
  );
  const chosen = await d.createEndpoint({ networkId: net, endpointId: ep, interface: { address: '10.77.0.2/16' }, options: {} });
  assert.match(chosen?.macAddress ?? '', /^02:42:00:00:00:[0-9a-f]{2}$/);
  await assert.rejects(d.join({ networkId: net, endpointId: 'nope', sandboxKey: '/run/netns/x', options: {} }), (e: any) => e.code === 'NotFound' && /endpoint nope: not found/.test(e.message));
  const joined = await d.join({ networkId: net, endpointId: ep, sandboxKey: '/run/netns/x', options: { exposedPorts: [{ proto: 'tcp', port: 80 }] } });
  assert.deepEqual(joined, { interfaceName: { srcName: `mem${ep.slice(0, 8)}`, dstPrefix: 'eth' }, gateway: '10.77.0.1' });
  assert.ok(hasEndpointInfo(d));
  const info = await d.endpointOperInfo(net, ep);
  assert.deepEqual({ mac: info.mac, sandboxKey: info.sandboxKey }, { mac: chosen!.macAddress, sandboxKey: '/run/netns/x' });
  await assert.rejects(d.deleteNetwork(net), (e: any) => e.code === 'Conflict' && /has 1 endpoint/.test(e.message));
  await d.leave(net, ep);
  await d.deleteEndpoint(net, ep);
  await d.deleteEndpoint(net, ep); // idempotent
  await d.deleteNetwork(net);
  await d.deleteNetwork(net); // idempotent
  return { pid: info.pid, builtin };
}

describe('integration/plugins: an external network driver in another process, called like a built-in one', function () {
  this.timeout(30000);
  const root = fs.mkdtempSync(path.join(os.tmpdir(), 'tsd-ext-'));
  const socketDir = path.join(root, 'run');
  const specDirs = [path.join(root, 'etc'), path.join(root, 'usr')];
  let child: ChildProcess;
  let socketPath = '';
  let registry: DriverRegistry;
  let source: PluginDriverSource;

  before(async () => {
    for (const d of specDirs) fs.mkdirSync(d, { recursive: true });
    child = spawn(process.execPath, [fixture, socketDir, 'memnet'], { stdio: ['ignore', 'pipe', 'inherit'] });
    socketPath = await new Promise<string>((resolve, reject) => {
      let out = '';
      child.stdout!.on('data', (c) => {
        out += String(c);
        const m = /^ready (.+)\n/m.exec(out);
        if (m) resolve(m[1]!);
      });
      child.once('exit', (code) => reject(new Error(`fixture exited with ${code}`)));
    });
    fs.writeFileSync(path.join(specDirs[0]!, 'memspec.spec'), `unix://${socketPath}\n`);
    fs.mkdirSync(path.join(specDirs[1]!, 'memjson'));
    fs.writeFileSync(path.join(specDirs[1]!, 'memjson', 'memjson.json'), JSON.stringify({ Name: 'ignored', Addr: `unix://${socketPath}` }));
    source = new PluginDriverSource({ discovery: { socketDir, specDirs }, exclude: ['tsd-bridge'], discoveryRetry: NO_RETRY, client: { retry: { baseDelayMs: 20, maxDelayMs: 200, giveUpAfterMs: 200 } } });
    registry = new DriverRegistry(source);
    registry.register('NetworkDriver', new MemoryNetworkDriver('mem-builtin'));
  });

  after(async () => {
    await source?.close();
    if (child && child.exitCode === null) {
      child.kill('SIGKILL');
      await new Promise((r) => child.once('exit', r));
    }
    fs.rmSync(root, { recursive: true, force: true });
  });

  it('the built-in instance passes the test body in-process', async () => {
    const r = await exerciseNetworkDriver(registry, 'mem-builtin', 'builtin');
    assert.deepEqual(r, { pid: process.pid, builtin: true });
  });

  for (const [name, how] of [['memnet', 'NAME.sock'], ['memspec', '.spec with a unix URL'], ['memjson', 'NAME/NAME.json']] as const) {
    it(`the external driver found by ${how} passes the same test body, answered by the other process`, async () => {
      const r = await exerciseNetworkDriver(registry, name, name);
      assert.equal(r.builtin, false);
      assert.equal(r.pid, child.pid);
      assert.notEqual(r.pid, process.pid);
    });
  }

  it('lists the external driver among all network drivers; names tsd serves itself are never looked up', async () => {
    const names = (await registry.all('NetworkDriver')).map((d) => d.name).sort();
    assert.deepEqual(names, ['mem-builtin', 'memjson', 'memnet', 'memspec']);
    await assert.rejects(registry.resolve('NetworkDriver', 'tsd-bridge'), (e: any) => e.code === 'NotFound');
  });

  it('SIGTERM closes the plugin gracefully and removes its socket', async () => {
    assert.ok(fs.lstatSync(socketPath).isSocket());
    const exited = new Promise<number | null>((r) => child.once('exit', (code) => r(code)));
    child.kill('SIGTERM');
    assert.equal(await exited, 0);
    assert.equal(fs.existsSync(socketPath), false);
    // The cached proxy now fails fast with a transport error (no plugin behind it).
    const d = await registry.get('NetworkDriver', 'memnet');
    await assert.rejects(d.deleteNetwork('x'), (e: any) => e.code === 'Unavailable');
  });
});
