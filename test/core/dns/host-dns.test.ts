// test/core/dns/host-dns.test.ts — the host listener's answer rules on real loopback sockets
// (UDP and TCP): the network's names, aliases, wildcards, short id and PTR answer, bare and
// below the network's zone; everything else is REFUSED (NXDOMAIN inside the zone) and never
// forwarded; a port in use is a clear error that leaves nothing behind; the hosts-file export
// follows connect / disconnect / listener removal, coalesced and cheap on the change path.
import assert from 'node:assert/strict';
import dgram from 'node:dgram';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { createEmbeddedDns, hostViewId, type EmbeddedDns } from '../../../core/dns/index.js';
import { ConflictError } from '../../../core/errors.js';
import { FakeUpstream, addrs, query, rcodeOf, tcpAsk, udpAsk } from './helpers.js';

describe('dns host listener', function () {
  this.timeout(20000);
  let dir: string;
  let dns: EmbeddedDns;
  let up: FakeUpstream;
  let port: number;

  beforeEach(async () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tsd-hostdns-'));
    fs.writeFileSync(path.join(dir, 'resolv.conf'), 'nameserver 127.0.0.1\n');
    up = new FakeUpstream('192.0.2.99');
    const upPort = await up.start();
    dns = createEmbeddedDns({ resolvConf: [path.join(dir, 'resolv.conf')], hostsFile: path.join(dir, 'run', 'hosts') });
    // Sandboxes on n1 would forward to the fake upstream: the host listener must not.
    dns.records.addNetwork('n1', { upstreams: [`127.0.0.1:${upPort}`] });
    dns.records.addNetwork('n2');
    dns.records.addEndpoint({ networkId: 'n1', sandboxId: 's1', name: 'web', aliases: ['www', '*.apps'], shortId: 'abcdef012345', ipv4: '10.7.0.2' });
    dns.records.addEndpoint({ networkId: 'n2', sandboxId: 's2', name: 'secret', ipv4: '10.8.0.2' });
    const served = await dns.hostDns.serve({ networkId: 'n1', name: 'mynet', addresses: ['127.0.0.1'], port: 0 });
    assert.equal(served.length, 1);
    port = Number(served[0]!.split(':')[1]);
    assert.deepEqual(dns.hostDns.addresses('n1'), served);
  });

  afterEach(async () => {
    await dns.close();
    await up.stop();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it('answers the network names (name, alias, wildcard, short id, PTR), bare and below the zone, over UDP and TCP', async () => {
    for (const n of ['web', 'WWW', 'x.apps', 'a.b.apps', 'abcdef012345', 'web.mynet', 'x.apps.mynet']) {
      const r = await udpAsk(port, query(n));
      assert.equal(rcodeOf(r), 'NOERROR', n);
      assert.deepEqual(addrs(r), ['10.7.0.2'], n);
    }
    const ptr = await udpAsk(port, query('2.0.7.10.in-addr.arpa', 'PTR'));
    assert.deepEqual(addrs(ptr), ['web']);
    const [t] = await tcpAsk(port, [query('web.mynet')]);
    assert.deepEqual(addrs(t!), ['10.7.0.2']);
  });

  it('everything else is REFUSED (NXDOMAIN inside the zone) and nothing is forwarded', async () => {
    assert.equal(rcodeOf(await udpAsk(port, query('example.com'))), 'REFUSED');
    assert.equal(rcodeOf(await udpAsk(port, query('secret'))), 'REFUSED'); // another network's name
    assert.equal(rcodeOf(await udpAsk(port, query('8.0.8.10.in-addr.arpa', 'PTR'))), 'REFUSED');
    assert.equal(rcodeOf(await udpAsk(port, query('apps'))), 'REFUSED'); // "*.apps" does not match apps
    assert.equal(rcodeOf(await udpAsk(port, query('gone.mynet'))), 'NXDOMAIN');
    const [t] = await tcpAsk(port, [query('example.org')]);
    assert.equal(rcodeOf(t!), 'REFUSED');
    assert.equal(up.received, 0);
    // A disconnected name: NXDOMAIN in the zone, REFUSED bare.
    dns.records.removeEndpoint('n1', 's1');
    assert.equal(rcodeOf(await udpAsk(port, query('web.mynet'))), 'NXDOMAIN');
    assert.equal(rcodeOf(await udpAsk(port, query('web'))), 'REFUSED');
  });

  it('unserve closes the sockets and the view; serving again works (idempotent)', async () => {
    await dns.hostDns.unserve('n1');
    await dns.hostDns.unserve('n1');
    assert.equal(dns.records.knows(hostViewId('n1')), false);
    await assertFree(port);
    assert.deepEqual(dns.hostDns.addresses('n1'), []);
  });

  it('a port in use: ConflictError naming address, port and config key; nothing half-made', async () => {
    const taken = dgram.createSocket('udp4');
    await new Promise<void>((r) => taken.bind(0, '127.0.0.2', r));
    const p = taken.address().port;
    try {
      await assert.rejects(
        dns.hostDns.serve({ networkId: 'n2', name: 'other', addresses: ['127.0.0.3', '127.0.0.2'], port: p }),
        (e: unknown) => e instanceof ConflictError && e.message.includes(`127.0.0.2:${p}`) && e.message.includes('host-dns-port') && /in use/.test(e.message),
      );
      assert.equal(dns.records.knows(hostViewId('n2')), false);
      await assertFree(p, '127.0.0.3'); // the first address's listener was closed again
      assert.deepEqual(dns.hostDns.addresses('n2'), []);
    } finally {
      taken.close();
    }
  });

  it('hosts export: lists the host-DNS networks names, follows changes, coalesces, removed at close', async () => {
    const file = path.join(dir, 'run', 'hosts');
    await dns.hostsExport!.flush();
    const text = fs.readFileSync(file, 'utf8');
    assert.match(text, /^10\.7\.0\.2\tweb\tweb\.mynet\twww\tabcdef012345$/m);
    assert.doesNotMatch(text, /secret|apps/); // n2 has no listener; wildcards have no hosts form
    // 200 changes in a burst: one rewrite, with the final state.
    let writes = 0;
    const watcher = fs.watch(path.dirname(file), (_ev, f) => { if (f === 'hosts') writes++; });
    try {
      for (let i = 0; i < 200; i++) dns.records.addEndpoint({ networkId: 'n1', sandboxId: `b${i}`, name: `b${i}`, ipv4: `10.7.1.${i}` });
      dns.records.removeEndpoint('n1', 's1');
      // Wait for the rewrite (bounded), then a little more for any second one.
      for (let i = 0; i < 100 && !/b199/.test(fs.readFileSync(file, 'utf8')); i++) await new Promise((r) => setTimeout(r, 30));
      await new Promise((r) => setTimeout(r, 200));
    } finally {
      watcher.close();
    }
    const after = fs.readFileSync(file, 'utf8');
    assert.match(after, /^10\.7\.1\.199\tb199\tb199\.mynet$/m);
    assert.doesNotMatch(after, /\tweb\t/);
    assert.ok(writes >= 1 && writes <= 4, `${writes} rename events for one burst`);
    await dns.hostDns.unserve('n1');
    await dns.hostsExport!.flush();
    assert.doesNotMatch(fs.readFileSync(file, 'utf8'), /b199/);
    await dns.close();
    assert.equal(fs.existsSync(file), false);
  });

  it('the change path stays cheap with the export watching (figures printed)', () => {
    const time = (d: EmbeddedDns, net: string) => {
      d.records.addNetwork(net);
      const t0 = process.hrtime.bigint();
      for (let i = 0; i < 5000; i++) d.records.addEndpoint({ networkId: net, sandboxId: `${net}${i}`, name: `c${i}`, ipv4: `10.9.${i >> 8}.${i & 255}` });
      for (let i = 0; i < 5000; i++) d.records.removeEndpoint(net, `${net}${i}`);
      return Number(process.hrtime.bigint() - t0) / 10_000 / 1000;
    };
    // n4 has a host view (every change arms the export), n3 has none.
    dns.records.addNetwork('n4');
    dns.records.addHostView(hostViewId('n4'), 'n4', 'n4');
    time(dns, 'w'); // warm up
    let without = Infinity;
    let withExport = Infinity;
    for (let i = 0; i < 3; i++) { without = Math.min(without, time(dns, 'n3')); withExport = Math.min(withExport, time(dns, 'n4')); }
    console.log(`      record change: ${without.toFixed(2)} µs without a host listener, ${withExport.toFixed(2)} µs with one (export armed)`);
    assert.ok(withExport < without * 3 + 2, `${withExport} µs vs ${without} µs`);
  });
});

async function assertFree(port: number, host = '127.0.0.1'): Promise<void> {
  const s = dgram.createSocket('udp4');
  await new Promise<void>((res, rej) => { s.once('error', rej); s.bind(port, host, () => res()); });
  s.close();
}
