// test/plugins/client.test.ts — the plugin client against scripted plugin sockets: exactly what
// dockerd sends, what counts as success and failure (plugin-protocol.md §2.5, §10), dockerd's
// retry/backoff and tsd's deadlines, activation and Implements, and the per-kind quirks.

import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { createMemoryLogger } from '../../core/log.js';
import {
  backoffSchedule,
  DOCKER_RETRY,
  NO_RETRY,
  PluginClient,
  PluginDriverSource,
  RemoteGraphDriver,
  RemoteIpamDriver,
  RemoteNetworkDriver,
  RemoteVolumeDriver,
  type RetryPolicy,
} from '../../plugins/client/index.js';
import { endpointOptionsFromWire, PLUGIN_MEDIA_TYPE } from '../../plugins/protocol/index.js';
import { servePlugin } from '../../plugins/server/index.js';
import { rawPlugin, type RawReply, type RawRequest, recordingVolumeDriver, tempDir } from './fakes.js';

const FAST: RetryPolicy = { baseDelayMs: 20, maxDelayMs: 600, giveUpAfterMs: 600 };

function staleSocket(p: string): void {
  fs.mkdirSync(path.dirname(p), { recursive: true });
  execFileSync('python3', ['-c', 'import socket,sys; s=socket.socket(socket.AF_UNIX); s.bind(sys.argv[1])', p]);
}

describe('plugins/client', () => {
  let dir: string;
  const closers: Array<() => Promise<void>> = [];
  beforeEach(() => {
    dir = tempDir();
  });
  afterEach(async () => {
    for (const c of closers.splice(0)) await c();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  async function plugin(name: string, reply: (r: RawRequest) => RawReply | Promise<RawReply>) {
    const p = await rawPlugin(path.join(dir, `${name}.sock`), reply);
    closers.push(p.close);
    return p;
  }
  function client(name: string, opts: ConstructorParameters<typeof PluginClient>[1] = {}) {
    const c = new PluginClient({ name, addr: `unix://${path.join(dir, `${name}.sock`)}`, source: 'test' }, { retry: NO_RETRY, ...opts });
    closers.push(() => c.close());
    return c;
  }
  function source(opts: ConstructorParameters<typeof PluginDriverSource>[0] = {}) {
    const s = new PluginDriverSource({ discovery: { socketDir: dir, specDirs: [path.join(dir, 'etc'), path.join(dir, 'usr')] }, discoveryRetry: NO_RETRY, client: { retry: NO_RETRY }, ...opts });
    closers.push(() => s.close());
    return s;
  }
  const activate = (impl: string[]) => (r: RawRequest): RawReply | undefined =>
    r.path === '/Plugin.Activate' ? { body: JSON.stringify({ Implements: impl }) } : undefined;

  it('§10.2: dockerd backoff — attempts at 0, 1, 3, 7, 15 s, then give up', () => {
    const delays = backoffSchedule(DOCKER_RETRY);
    assert.deepEqual(delays, [1000, 2000, 4000, 8000]);
    assert.deepEqual(delays.reduce<number[]>((acc, d) => [...acc, (acc.at(-1) ?? 0) + d], [0]), [0, 1000, 3000, 7000, 15000]);
  });

  it('§10.1/§2.2: sends what dockerd sends — POST, exact Accept, no Content-Type, dummy Host, JSON + \\n, empty body for no-arg calls', async () => {
    const p = await plugin('w', (r) => ({ body: r.path === '/Plugin.Activate' ? '{"Implements":["NetworkDriver"]}' : '{"Scope":"local"}' }));
    const c = client('w');
    await c.activate();
    const d = await new RemoteNetworkDriver(c).init();
    await d.deleteNetwork('n1');
    const [act, caps, del] = p.requests;
    for (const r of [act!, caps!, del!]) {
      assert.equal(r.method, 'POST');
      assert.equal(r.headers.accept, PLUGIN_MEDIA_TYPE);
      assert.equal(r.headers.accept, 'application/vnd.docker.plugins.v1.2+json');
      assert.equal(r.headers['content-type'], undefined);
      assert.equal(r.headers.host, 'plugin.moby.localhost');
    }
    assert.equal(act!.path, '/Plugin.Activate');
    assert.equal(act!.body, '');
    assert.equal(act!.headers['content-length'], '0');
    assert.equal(caps!.path, '/NetworkDriver.GetCapabilities');
    assert.equal(caps!.body, '');
    assert.equal(del!.body, '{"NetworkID":"n1"}\n');
  });

  it('§2.3/§2.5: only 200 is success; Err of a non-200 JSON body, else its raw text; never retried', async () => {
    const replies: RawReply[] = [
      { status: 201, body: '{}' },
      { status: 204 },
      { status: 500, body: '{"Err":"disk on fire"}' },
      { status: 500, body: 'plain text failure' },
      { status: 400, body: '{"Err":"Name: required"}' },
    ];
    let n = 0;
    const p = await plugin('s', () => replies[n++]!);
    const c = client('s', { retry: FAST });
    await assert.rejects(c.call('VolumeDriver.Remove', { Name: 'v' }, { subsystem: 'VolumeDriver' }), /VolumeDriver.Remove: \{\}$/);
    await assert.rejects(c.call('VolumeDriver.Remove', { Name: 'v' }, { subsystem: 'VolumeDriver' }), /HTTP 204/);
    await assert.rejects(c.call('VolumeDriver.Remove', { Name: 'v' }, { subsystem: 'VolumeDriver' }), (e: any) => e.message === 'plugin s: VolumeDriver.Remove: disk on fire' && e.code === 'Internal' && e.status === 500);
    await assert.rejects(c.call('VolumeDriver.Remove', { Name: 'v' }, { subsystem: 'VolumeDriver' }), /: plain text failure$/);
    await assert.rejects(c.call('VolumeDriver.Remove', { Name: 'v' }, { subsystem: 'VolumeDriver' }), (e: any) => e.code === 'InvalidArgument');
    assert.equal(p.requests.length, 5, 'HTTP errors are not retried');
  });

  it('§2.5/§10.8: a 200 with Err fails — except IPAM, which reads Error only', async () => {
    let body = '';
    await plugin('e', () => ({ body }));
    const c = client('e');
    body = '{"Err":"nope"}';
    await assert.rejects(c.call('NetworkDriver.Leave', {}, { subsystem: 'NetworkDriver' }), /NetworkDriver.Leave: nope/);
    body = '{"err":"lower-case key"}';
    await assert.rejects(c.call('VolumeDriver.Remove', {}, { subsystem: 'VolumeDriver' }), /lower-case key/);
    body = '{"Err":"ignored by IPAM"}';
    assert.deepEqual(await c.call('IpamDriver.ReleasePool', {}, { subsystem: 'IpamDriver' }), { Err: 'ignored by IPAM' });
    body = '{"Error":"pool exhausted"}';
    await assert.rejects(c.call('IpamDriver.RequestPool', {}, { subsystem: 'IpamDriver' }), /IpamDriver.RequestPool: pool exhausted/);
    body = '';
    await assert.rejects(c.call('NetworkDriver.Leave', {}, { subsystem: 'NetworkDriver' }), /empty reply \(EOF\)/);
    body = 'null';
    assert.deepEqual(await c.call('NetworkDriver.Leave', {}, { subsystem: 'NetworkDriver' }), {});
    body = '{"Scope":"LOCAL","extra":1}';
    assert.deepEqual(await new RemoteNetworkDriver(c).getCapabilities(), { scope: 'local', connectivityScope: 'local' }, 'empty ConnectivityScope = Scope; extra fields ignored');
  });

  it('§2.4: Implements is matched exactly; the manifest is cached; a failed activation is retried later', async () => {
    let fail = true;
    const p = await plugin('impl', (r) => {
      if (r.path === '/Plugin.Activate') return fail ? { status: 500, body: 'starting' } : { body: '{"implements":["VolumeDriver","authz"]}' };
      return { body: '{"Capabilities":{"Scope":""}}' };
    });
    const s = source();
    await assert.rejects(s.lookup('VolumeDriver', 'impl'), /starting/);
    fail = false;
    const v = await s.lookup('VolumeDriver', 'impl');
    assert.equal(v?.name, 'impl');
    assert.deepEqual(await v!.capabilities(), { scope: 'local' }, 'empty scope reads as local');
    await assert.rejects(s.lookup('NetworkDriver', 'impl'), (e: any) => e.code === 'NotFound' && /does not implement the requested driver NetworkDriver/.test(e.message));
    await assert.rejects(s.lookup('IpamDriver', 'impl'), /does not implement/);
    assert.equal(p.requests.filter((r) => r.path === '/Plugin.Activate').length, 2, 'one failed + one cached activation');
  });

  it('§1.1/§2.6: discovery retries while the socket is missing; it appears late and is found', async () => {
    const log = createMemoryLogger('info');
    const s = source({ discoveryRetry: FAST, log });
    const late = setTimeout(() => void plugin('late', (r) => activate(['VolumeDriver'])(r) ?? { body: '{}' }), 150);
    closers.push(async () => clearTimeout(late));
    const t0 = Date.now();
    const v = await s.lookup('VolumeDriver', 'late');
    assert.equal(v?.name, 'late');
    assert.ok(Date.now() - t0 >= 140, 'waited for the socket');
    assert.ok(log.lines.some((l) => /Unable to locate plugin: late, retrying/.test(String(l.msg))));
    const fast = source();
    assert.equal(await fast.lookup('VolumeDriver', 'never'), undefined, 'no plugin: undefined');
  });

  it('§2.6: connection refused is retried with backoff until the plugin listens; gives up after the policy', async () => {
    const sock = path.join(dir, 'refused.sock');
    staleSocket(sock);
    const c = new PluginClient({ name: 'refused', addr: `unix://${sock}`, source: 't' }, { retry: FAST });
    closers.push(() => c.close());
    const t0 = Date.now();
    await assert.rejects(c.activate(), (e: any) => e.code === 'Unavailable' && /ECONNREFUSED/.test(e.message));
    const took = Date.now() - t0;
    assert.ok(took >= 300 && took < 1500, `gave up after the 20+40+80+160 ms schedule (${took} ms)`);

    setTimeout(() => {
      fs.rmSync(sock);
      void rawPlugin(sock, (r) => activate(['VolumeDriver'])(r) ?? { body: '{}' }).then((p) => closers.push(p.close));
    }, 100);
    assert.deepEqual(await c.activate(), { implements: ['VolumeDriver'] });
  });

  it('per-call deadline: a hung plugin gives TimeoutError (dockerd would hang forever, moby#33871)', async () => {
    await plugin('hung', () => new Promise<RawReply>(() => {}));
    const c = client('hung', { defaultTimeoutMs: 200 });
    const t0 = Date.now();
    await assert.rejects(c.activate(), (e: any) => e.code === 'Timeout' && /Plugin.Activate: no reply within 200 ms/.test(e.message));
    assert.ok(Date.now() - t0 < 1000);
    await assert.rejects(c.call('X.Y', {}, { subsystem: 'VolumeDriver', timeoutMs: 50 }), /no reply within 50 ms/);
  });

  it('NetworkDriver quirks: 404 on external connectivity ignored, other errors not; CreateEndpoint per-field rule with rollback; bad Join rolled back', async () => {
    let ext: RawReply = { status: 404, body: '404 page not found' };
    let ep = '{}';
    let join = '{}';
    const p = await plugin('nd', (r) => {
      if (r.path === '/NetworkDriver.GetCapabilities') return { body: '{"Scope":"local","ConnectivityScope":"local"}' };
      if (r.path.includes('ExternalConnectivity')) return ext;
      if (r.path === '/NetworkDriver.CreateEndpoint') return { body: ep };
      if (r.path === '/NetworkDriver.Join') return { body: join };
      return { body: '{}' };
    });
    const d = await new RemoteNetworkDriver(client('nd')).init();
    await d.programExternalConnectivity({ networkId: 'n', endpointId: 'e', options: {} });
    await d.revokeExternalConnectivity('n', 'e');
    ext = { status: 500, body: '{"Err":"iptables broke"}' };
    await assert.rejects(d.programExternalConnectivity({ networkId: 'n', endpointId: 'e', options: {} }), /iptables broke/);

    const req = { networkId: 'n', endpointId: 'e', interface: { address: '10.0.0.2/24', macAddress: '02:00:00:00:00:01' }, options: {} };
    ep = '{"Interface":{"Address":"","MacAddress":""}}';
    assert.equal(await d.createEndpoint(req), undefined, 'empty strings are ignored');
    ep = '{"Interface":{"AddressIPv6":"fd00::5/64"}}';
    assert.deepEqual(await d.createEndpoint(req), { addressIpv6: 'fd00::5/64' }, 'an empty field may be filled');
    ep = '{"Interface":{"MacAddress":"02:00:00:00:00:01"}}';
    const before = p.requests.length;
    await assert.rejects(d.createEndpoint(req), /driver modified interface MAC address/);
    assert.deepEqual(p.requests.slice(before).map((r) => r.path), ['/NetworkDriver.CreateEndpoint', '/NetworkDriver.DeleteEndpoint']);

    join = '{"InterfaceName":{"SrcName":"veth0","DstPrefix":"eth"},"Gateway":"10.0.0.1/24"}';
    const b2 = p.requests.length;
    await assert.rejects(d.join({ networkId: 'n', endpointId: 'e', sandboxKey: '/x', options: {} }), /Gateway: "10.0.0.1\/24" is not an IPv4 address/);
    assert.deepEqual(p.requests.slice(b2).map((r) => r.path), ['/NetworkDriver.Join', '/NetworkDriver.Leave']);
  });

  it('GetCapabilities is mandatory for network drivers: a failure fails the lookup and is not cached', async () => {
    let scope = 'galaxy';
    await plugin('caps', (r) => activate(['NetworkDriver'])(r) ?? { body: JSON.stringify({ Scope: scope }) });
    const s = source();
    await assert.rejects(s.lookup('NetworkDriver', 'caps'), /bad reply: Scope/);
    scope = 'global';
    assert.deepEqual(await (await s.lookup('NetworkDriver', 'caps'))!.getCapabilities(), { scope: 'global', connectivityScope: 'global' });
  });

  it('IPAM quirks: GetCapabilities errors mean no capabilities; RequestAddress must return a CIDR', async () => {
    let addr = '{"Address":"10.0.0.5"}';
    await plugin('ip', (r) => (r.path === '/IpamDriver.GetCapabilities' ? { status: 500, body: 'no' } : { body: addr }));
    const d = new RemoteIpamDriver(client('ip'));
    assert.deepEqual(await d.getCapabilities(), { requiresMacAddress: false, requiresRequestReplay: false });
    await assert.rejects(d.requestAddress({ poolId: 'p', address: '', options: {} }), /Address: "10.0.0.5" is not a CIDR/);
    addr = '{"Address":""}';
    await assert.rejects(d.requestAddress({ poolId: 'p', address: '', options: {} }), /no address returned/);
  });

  it('§10.10 volume quirks: CreatedAt "" is refused; {"Volume":null} is "no such volume"; capabilities errors read as local', async () => {
    let get = '{"Volume":{"Name":"v","CreatedAt":""}}';
    await plugin('vq', (r) => (r.path === '/VolumeDriver.Capabilities' ? { status: 404 } : { body: get }));
    const d = new RemoteVolumeDriver(client('vq'));
    await assert.rejects(d.get('v'), /bad reply: Volume\.CreatedAt: must be an RFC 3339 timestamp or absent/);
    get = '{"Volume":null}';
    await assert.rejects(d.get('v'), (e: any) => e.code === 'NotFound');
    assert.deepEqual(await d.capabilities(), { scope: 'local' });
  });

  it('§10.9 graph quirks: Capabilities nested, 404 = defaults, other errors fail; Exists errors read as false', async () => {
    let caps: RawReply = { body: '{"ReproducesExactDiffs":true}' };
    await plugin('gq', (r) => (r.path === '/GraphDriver.Capabilities' ? caps : { status: 500, body: 'x' }));
    const d = new RemoteGraphDriver(client('gq'));
    assert.deepEqual(await d.capabilities(), { reproducesExactDiffs: false }, 'a top-level flag is ignored, as dockerd does');
    caps = { body: '{"Capabilities":{"ReproducesExactDiffs":true}}' };
    assert.deepEqual(await d.capabilities(), { reproducesExactDiffs: true });
    caps = { status: 404 };
    assert.deepEqual(await d.capabilities(), { reproducesExactDiffs: false });
    caps = { status: 500, body: 'broken' };
    await assert.rejects(d.capabilities(), /broken/);
    assert.equal(await d.exists('l'), false);
  });

  it('§3.2: the requested MAC option is read as base64 of 6 bytes or as text', () => {
    const b64 = Buffer.from([2, 0x42, 0xac, 0x11, 0, 9]).toString('base64');
    assert.equal(endpointOptionsFromWire({ 'com.docker.network.endpoint.macaddress': b64 }, '').macAddress, '02:42:ac:11:00:09');
    assert.equal(endpointOptionsFromWire({ 'com.docker.network.endpoint.macaddress': '02:42:AC:11:00:09' }, '').macAddress, '02:42:ac:11:00:09');
  });

  describe('discovery', () => {
    it('finds NAME.sock, NAME/NAME.sock, .spec (unix URL) and .json; sockets first; non-sockets ignored', async () => {
      const vol = recordingVolumeDriver('v');
      const served = await servePlugin('real', { VolumeDriver: vol }, { socketDir: path.join(dir, 'srv') });
      closers.push(() => served.close());
      await plugin('top', (r) => activate(['VolumeDriver'])(r) ?? { body: '{}' });
      const nested = await rawPlugin(path.join(dir, 'nested', 'nested.sock'), (r) => activate(['VolumeDriver'])(r) ?? { body: '{}' });
      closers.push(nested.close);
      fs.mkdirSync(path.join(dir, 'etc', 'viaspec'), { recursive: true });
      fs.writeFileSync(path.join(dir, 'etc', 'viaspec', 'viaspec.spec'), `  unix://${served.socketPath}\n`);
      fs.mkdirSync(path.join(dir, 'usr'), { recursive: true });
      fs.writeFileSync(path.join(dir, 'usr', 'viajson.json'), JSON.stringify({ name: 'ignored', addr: `unix://${served.socketPath}` }));
      fs.writeFileSync(path.join(dir, 'notsock.sock'), 'regular file');
      fs.writeFileSync(path.join(dir, 'etc', 'notsock.spec'), `unix://${served.socketPath}`);
      fs.writeFileSync(path.join(dir, 'etc', 'top.spec'), 'unix:///nonexistent.sock');
      fs.writeFileSync(path.join(dir, 'etc', 'bad.spec'), '/no/scheme.sock');

      const s = source();
      for (const name of ['top', 'nested', 'viaspec', 'viajson', 'notsock']) {
        const d = await s.lookup('VolumeDriver', name);
        assert.equal(d?.name, name);
        await d!.list();
      }
      assert.ok(vol.calls.filter((c) => c[0] === 'list').length >= 3, '.spec, .json and the non-socket fallback reached the real server');
      await assert.rejects(s.lookup('VolumeDriver', 'bad'), /bad.spec: "\/no\/scheme.sock": Unknown protocol/);
      await assert.rejects(s.lookup('VolumeDriver', '../escape'), /not a valid plugin name/);
      const names = (await s.scan('VolumeDriver')).map((d) => d.name).sort();
      assert.deepEqual(names, ['nested', 'notsock', 'top', 'viajson', 'viaspec']);
    });

    it('scan does not retry: a stale socket costs one refused connect, not 15 s (moby#22653)', async () => {
      staleSocket(path.join(dir, 'dead.sock'));
      await plugin('alive', (r) => activate(['VolumeDriver'])(r) ?? { body: '{}' });
      const s = source({ client: { retry: DOCKER_RETRY } });
      const t0 = Date.now();
      assert.deepEqual((await s.scan('VolumeDriver')).map((d) => d.name), ['alive']);
      assert.ok(Date.now() - t0 < 900, `scan took ${Date.now() - t0} ms`);
    });

    it('§10.3: TLS rules of .json and .spec files', async () => {
      const { LocalPluginDiscovery } = await import('../../plugins/client/discovery.js');
      const etc = path.join(dir, 'etc');
      fs.mkdirSync(etc, { recursive: true });
      const w = (f: string, v: unknown) => fs.writeFileSync(path.join(etc, f), typeof v === 'string' ? v : JSON.stringify(v));
      w('a.json', { Addr: 'https://h:1/x', TLSConfig: { CAFile: '/ca.pem', CertFile: '/c.pem', KeyFile: '/k.pem' } });
      w('b.json', { Addr: 'https://h:1', TLSConfig: { CertFile: '/c.pem' } });
      w('c.json', { Addr: 'https://h:1' });
      w('d.spec', 'https://h:1');
      const disc = new LocalPluginDiscovery({ socketDir: dir, specDirs: [etc] });
      assert.deepEqual((await disc.find('a'))!.tls, { insecureSkipVerify: false, caFile: '/ca.pem', certFile: '/c.pem', keyFile: '/k.pem' });
      assert.deepEqual((await disc.find('b'))!.tls, { insecureSkipVerify: true, certFile: '/c.pem' }, 'TLSConfig without CAFile → no verification');
      assert.equal((await disc.find('c'))!.tls, undefined, 'no TLSConfig → default verification against system roots');
      assert.deepEqual((await disc.find('d'))!.tls, { insecureSkipVerify: true }, '.spec never verifies');
    });
  });
});
