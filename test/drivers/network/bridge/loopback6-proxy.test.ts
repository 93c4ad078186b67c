// test/drivers/network/bridge/loopback6-proxy.test.ts — the [::1] proxy's UDP flow table (idle
// timeout, bound, LRU order) with fake sockets and a fake clock, and the publish plan: which
// bindings tsd serves on [::1] and that ::1 never reaches the firewall; the listeners themselves
// against servers on this host's loopback. Firewall and sandboxes are not under test here
// (integration/network/loopback6.test.ts drives real traffic into sandboxes).
import assert from 'node:assert/strict';
import dgram from 'node:dgram';
import net from 'node:net';
import { silentLogger } from '../../../../core/log.js';
import { Loopback6Proxy, UdpFlowTable } from '../../../../drivers/network/bridge/loopback6-proxy.js';
import { HostPortAllocator, coversV6Loopback, planPorts } from '../../../../drivers/network/bridge/ports.js';
import type { PortBinding } from '../../../../core/driver/network-driver.js';

class FakeSock {
  closes = 0;
  constructor(readonly name: string) {}
  close(): void { this.closes++; }
}

describe('tsd-bridge [::1] proxy: udp flow table', () => {
  let t = 0;
  const now = () => t;
  beforeEach(() => { t = 1000; });

  it('finds a flow by client and closes it after the idle timeout, not before', () => {
    const ft = new UdpFlowTable<FakeSock>({ idleMs: 100, maxFlows: 10, now });
    const a = new FakeSock('a');
    ft.add('::1|5000', a);
    t += 99;
    assert.equal(ft.sweep(), 0);
    assert.equal(ft.touch('::1|5000'), a);
    t += 99; // 99 ms after the touch
    assert.equal(ft.sweep(), 0, 'a touch restarts the idle clock');
    t += 1;
    assert.equal(ft.sweep(), 1);
    assert.equal(a.closes, 1);
    assert.equal(ft.size, 0);
    assert.equal(ft.touch('::1|5000'), undefined);
  });

  it('sweeps only the idle flows, whatever their insertion order', () => {
    const ft = new UdpFlowTable<FakeSock>({ idleMs: 100, maxFlows: 10, now });
    const [a, b, c] = [new FakeSock('a'), new FakeSock('b'), new FakeSock('c')];
    ft.add('a', a);
    t += 50;
    ft.add('b', b);
    ft.add('c', c);
    t += 40;
    ft.touch('a'); // a is now the newest
    t += 60; // b, c idle 100; a idle 60
    const evicted: string[] = [];
    const ft2 = ft as unknown as { opts: { onEvict?: (k: string, why: string) => void } };
    ft2.opts.onEvict = (k, why) => evicted.push(`${k}:${why}`);
    assert.equal(ft.sweep(), 2);
    assert.deepEqual(evicted, ['b:idle', 'c:idle']);
    assert.deepEqual([a.closes, b.closes, c.closes], [0, 1, 1]);
  });

  it('is bounded: a new client past maxFlows closes the least recently used flow', () => {
    const evicted: string[] = [];
    const ft = new UdpFlowTable<FakeSock>({ idleMs: 1e6, maxFlows: 3, now, onEvict: (k, why) => evicted.push(`${k}:${why}`) });
    const socks = ['a', 'b', 'c', 'd'].map((n) => new FakeSock(n));
    ft.add('a', socks[0]!);
    ft.add('b', socks[1]!);
    ft.add('c', socks[2]!);
    ft.touch('a'); // b is now the least recently used
    ft.add('d', socks[3]!);
    assert.equal(ft.size, 3);
    assert.deepEqual(evicted, ['b:full']);
    assert.equal(socks[1]!.closes, 1);
    assert.equal(ft.touch('b'), undefined);
    assert.ok(ft.touch('a') && ft.touch('c') && ft.touch('d'));
  });

  it('re-adding a key closes the flow it replaces; closeAll closes every flow once', () => {
    const ft = new UdpFlowTable<FakeSock>({ idleMs: 100, maxFlows: 5, now });
    const [a, a2, b] = [new FakeSock('a'), new FakeSock('a2'), new FakeSock('b')];
    ft.add('a', a);
    ft.add('a', a2);
    ft.add('b', b);
    assert.equal(a.closes, 1);
    ft.closeAll();
    assert.deepEqual([a.closes, a2.closes, b.closes], [1, 1, 1]);
    assert.equal(ft.size, 0);
  });

  it('rejects a table that could hold nothing or never expire', () => {
    assert.throws(() => new UdpFlowTable({ idleMs: 100, maxFlows: 0 }), /maxFlows/);
    assert.throws(() => new UdpFlowTable({ idleMs: 0, maxFlows: 1 }), /idleMs/);
  });
});

describe('tsd-bridge publish plan: [::1] forwards', () => {
  const b = (hostIp: string, hostPort: number, proto: PortBinding['proto'] = 'tcp'): PortBinding => ({ proto, ip: '', port: 80, hostIp, hostPort, hostPortEnd: hostPort });
  const dual = { ipv4: '10.1.0.2/24', ipv6: 'fd00:1::2/64' };
  const v4only = { ipv4: '10.1.0.3/24', ipv6: '' };
  const on = { enableIpv6: true, loopback6: true };

  it('unspecified and :: host IPs are served on [::1], to the v6 address when there is one, else the v4 one', () => {
    const p = planPorts('n', dual, [b('', 8080), b('::', 8081, 'udp')], new HostPortAllocator(), on);
    assert.deepEqual(p.loopback6, [
      { proto: 'tcp', hostPort: 8080, containerIp: 'fd00:1::2', containerPort: 80 },
      { proto: 'udp', hostPort: 8081, containerIp: 'fd00:1::2', containerPort: 80 },
    ]);
    assert.deepEqual(p.mappings.map((m) => `${m.hostIp ?? '*'} ${m.containerIp}:${m.hostPort}`), ['* 10.1.0.2:8080', '* fd00:1::2:8080', ':: fd00:1::2:8081']);
    const q = planPorts('n', v4only, [b('', 9080), b('::', 9081)], new HostPortAllocator(), on);
    assert.deepEqual(q.loopback6.map((f) => `${f.containerIp}:${f.hostPort}`), ['10.1.0.3:9080', '10.1.0.3:9081']);
    assert.deepEqual(q.mappings.map((m) => `${m.containerIp}:${m.hostPort}`), ['10.1.0.3:9080'], ':: on a v4-only endpoint: no firewall mapping (no NAT64)');
  });

  it('::1 (any spelling) is served only by the proxy, never a firewall element; 0.0.0.0 and specific addresses are not proxied', () => {
    const p = planPorts('n', dual, [b('0:0::1', 7001), b('0.0.0.0', 7002), b('127.0.0.1', 7003), b('fd00:1::1', 7004)], new HostPortAllocator(), on);
    assert.deepEqual(p.loopback6.map((f) => f.hostPort), [7001]);
    assert.deepEqual(p.mappings.map((m) => `${m.hostIp}:${m.hostPort}`), ['0.0.0.0:7002', '127.0.0.1:7003', 'fd00:1::1:7004']);
  });

  it('one port sent as "" and "::" (or as 0.0.0.0 and ::) makes one [::1] forward', () => {
    const p = planPorts('n', dual, [b('', 8080), b('::', 8080)], new HostPortAllocator(), on);
    assert.equal(p.loopback6.length, 1);
    const q = planPorts('n', dual, [b('0.0.0.0', 8081), b('::', 8081)], new HostPortAllocator(), on);
    assert.deepEqual(q.loopback6.map((f) => f.hostPort), [8081]);
  });

  it('with the key off (the default): `::` and any-address bindings get no listener, an explicit ::1 still does', () => {
    const off = { enableIpv6: true, loopback6: false };
    assert.deepEqual(planPorts('n', dual, [b('', 8080)], new HostPortAllocator(), off).loopback6, []);
    assert.deepEqual(planPorts('n', dual, [b('::', 8080)], new HostPortAllocator(), off).loopback6, []);
    const explicit = planPorts('n', v4only, [b('::1', 8080)], new HostPortAllocator(), off);
    assert.deepEqual(explicit.mappings, [], '::1 never reaches the firewall');
    assert.deepEqual(explicit.loopback6.map((f) => `${f.proto}/${f.hostPort}`), ['tcp/8080']);
    assert.throws(() => planPorts('n', v4only, [b('::', 8080)], new HostPortAllocator(), off), /no address of that family/);
  });

  it('a network default binding other than "any" is not widened to ::1', () => {
    assert.equal(coversV6Loopback('', {}), true);
    assert.equal(coversV6Loopback('', { hostBindingIpv4: '0.0.0.0' }), true);
    assert.equal(coversV6Loopback('', { hostBindingIpv4: '127.0.0.1' }), false);
    assert.equal(coversV6Loopback('', { hostBindingIpv6: 'fd00::1' }), false);
    assert.equal(coversV6Loopback('10.0.0.1', {}), false);
  });

  it('forwards reserve their host port (ephemeral picks skip it) and a failed plan releases every reservation', () => {
    const alloc = new HostPortAllocator();
    const p = planPorts('n', v4only, [{ ...b('::1', 0), hostPortEnd: 0 }], alloc, on);
    const port = p.loopback6[0]!.hostPort;
    assert.equal(alloc.isFree('tcp', port), false);
    assert.throws(() => planPorts('n', v4only, [b('::1', 6000), b('nope', 6001)], alloc, on), /HostIP: "nope" is not an IP address/);
    assert.equal(alloc.isFree('tcp', 6000), true, 'released after the failure');
  });
});

describe('tsd-bridge [::1] proxy: listeners on loopback', function () {
  // Loopback traffic only: [::1] listeners forwarding to servers on 127.0.0.1 / ::1 of this host.
  this.timeout(10_000);
  const log = silentLogger;
  let has6 = true;
  before(async () => {
    has6 = await new Promise<boolean>((res) => {
      const s = net.createServer().once('error', () => res(false));
      s.listen({ host: '::1', port: 0 }, () => s.close(() => res(true)));
    });
  });
  beforeEach(function () { if (!has6) this.skip(); });

  const freePort = (type: 'tcp' | 'udp'): Promise<number> => new Promise((res, rej) => {
    if (type === 'tcp') {
      const s = net.createServer().once('error', rej);
      s.listen({ host: '::1', port: 0, ipv6Only: true }, () => { const p = (s.address() as net.AddressInfo).port; s.close(() => res(p)); });
    } else {
      const s = dgram.createSocket({ type: 'udp6', ipv6Only: true }).once('error', rej);
      s.bind({ address: '::1', port: 0 }, () => { const p = s.address().port; s.close(() => res(p)); });
    }
  });

  it('tcp: pipes both ways with half-close, one listener per port, a taken port is a Conflict naming [::1]:port/proto', async () => {
    const seen: string[] = [];
    const backend = net.createServer({ allowHalfOpen: true }, (c) => {
      let got = '';
      c.on('data', (d) => { got += String(d); }).on('end', () => { seen.push(got); c.end(`echo:${got}`); });
    });
    await new Promise<void>((r) => backend.listen({ host: '127.0.0.1', port: 0 }, () => r()));
    const p = new Loopback6Proxy({ log });
    const hostPort = await freePort('tcp');
    try {
      const f = { proto: 'tcp' as const, hostPort, containerIp: '127.0.0.1', containerPort: (backend.address() as net.AddressInfo).port };
      assert.equal(await p.open(f), 'listening');
      await assert.rejects(p.open(f), (e: Error & { code?: string }) => e.code === 'Conflict' && e.message.includes(`[::1]:${hostPort}/tcp: already published`));
      const reply = await new Promise<string>((res, rej) => {
        let out = '';
        const c = net.connect({ host: '::1', port: hostPort }, () => c.end('hello'));
        c.on('data', (d) => { out += String(d); }).on('end', () => res(out)).on('error', rej);
      });
      assert.equal(reply, 'echo:hello', 'the answer after the client half-closed');
      assert.deepEqual(seen, ['hello']);
      const other = new Loopback6Proxy({ log });
      await assert.rejects(other.open(f), (e: Error & { code?: string }) => e.code === 'Conflict' && e.message === `host port [::1]:${hostPort}/tcp: address already in use`);
      assert.equal(other.size, 0, 'nothing kept after the failure');
    } finally {
      await p.closeAll();
      await new Promise((r) => backend.close(r));
    }
    await assert.rejects(new Promise((res, rej) => net.connect({ host: '::1', port: hostPort }).once('connect', res).once('error', rej)), /ECONNREFUSED/, 'closed: refused');
  });

  it('tcp: close() cuts open connections; sctp is reported, not served', async () => {
    const held: net.Socket[] = [];
    const backend = net.createServer((c) => { held.push(c.resume()); }); // never answers, never closes
    await new Promise<void>((r) => backend.listen({ host: '127.0.0.1', port: 0 }, () => r()));
    const p = new Loopback6Proxy({ log });
    const hostPort = await freePort('tcp');
    try {
      await p.open({ proto: 'tcp', hostPort, containerIp: '127.0.0.1', containerPort: (backend.address() as net.AddressInfo).port });
      assert.equal(await p.open({ proto: 'sctp', hostPort, containerIp: '127.0.0.1', containerPort: 1 }), 'not supported on ::1 (sctp)');
      const c = net.connect({ host: '::1', port: hostPort });
      await new Promise((r) => c.once('connect', r));
      const closed = new Promise((r) => c.once('close', r));
      c.on('error', () => undefined);
      await p.close('tcp', hostPort);
      await closed;
      assert.equal(p.has('tcp', hostPort), false);
      await p.close('tcp', hostPort); // idempotent
    } finally {
      await p.closeAll();
      for (const c of held) c.destroy();
      await new Promise((r) => backend.close(r));
    }
  });

  it('udp: relays each client through its own flow and answers back; the table is bounded', async () => {
    const backend = dgram.createSocket('udp4');
    const sources = new Set<number>();
    backend.on('message', (m, r) => { sources.add(r.port); backend.send(`echo:${String(m)}`, r.port, r.address); });
    await new Promise<void>((r) => backend.bind({ address: '127.0.0.1', port: 0 }, () => r()));
    const p = new Loopback6Proxy({ log, udpMaxFlows: 2 });
    const hostPort = await freePort('udp');
    const clients: dgram.Socket[] = [];
    try {
      assert.equal(await p.open({ proto: 'udp', hostPort, containerIp: '127.0.0.1', containerPort: backend.address().port }), 'listening');
      const socks = new Map<string, dgram.Socket>();
      const ask = async (text: string) => {
        let c = socks.get(text);
        if (!c) {
          c = dgram.createSocket({ type: 'udp6', ipv6Only: true });
          clients.push(c);
          socks.set(text, c);
        }
        const answer = new Promise<string>((res) => c.once('message', (m) => res(String(m))));
        c.send(text, hostPort, '::1');
        return Promise.race([answer, new Promise<string>((res) => setTimeout(() => res('(none)'), 2000))]);
      };
      assert.equal(await ask('a'), 'echo:a');
      assert.equal(await ask('b'), 'echo:b');
      assert.equal(await ask('a'), 'echo:a');
      assert.equal(sources.size, 2, 'one container-side socket per client, reused');
      assert.equal(await ask('c'), 'echo:c'); // third client: b (least recently used) is dropped
      assert.equal(await ask('a'), 'echo:a');
      assert.equal(sources.size, 3, 'a kept its flow');
      assert.equal(await ask('b'), 'echo:b');
      assert.equal(sources.size, 4, 'b came back through a new flow');
    } finally {
      for (const c of clients) c.close();
      await p.closeAll();
      backend.close();
    }
  });

  it('a close while the port is still binding wins: nothing stays listening', async () => {
    const p = new Loopback6Proxy({ log });
    const hostPort = await freePort('tcp');
    const opening = p.open({ proto: 'tcp', hostPort, containerIp: '127.0.0.1', containerPort: 9 });
    await p.closeAll();
    assert.equal(await opening, 'off');
    assert.equal(p.size, 0);
    await assert.rejects(new Promise((res, rej) => net.connect({ host: '::1', port: hostPort }).once('connect', res).once('error', rej)), /ECONNREFUSED/);
  });

  it('udp: an idle flow is closed after the timeout and the client gets a new one', async () => {
    const backend = dgram.createSocket('udp4');
    const sources: number[] = [];
    backend.on('message', (m, r) => { sources.push(r.port); backend.send(`echo:${String(m)}`, r.port, r.address); });
    await new Promise<void>((r) => backend.bind({ address: '127.0.0.1', port: 0 }, () => r()));
    const p = new Loopback6Proxy({ log, udpIdleMs: 300 });
    const hostPort = await freePort('udp');
    const c = dgram.createSocket({ type: 'udp6', ipv6Only: true });
    const ask = (text: string) => new Promise<string>((res) => {
      c.once('message', (m) => res(String(m)));
      c.send(text, hostPort, '::1');
    });
    try {
      await p.open({ proto: 'udp', hostPort, containerIp: '127.0.0.1', containerPort: backend.address().port });
      assert.equal(await ask('1'), 'echo:1');
      assert.equal(await ask('2'), 'echo:2');
      assert.equal(new Set(sources).size, 1, 'one flow while active');
      await new Promise((r) => setTimeout(r, 800)); // idle 300 ms + a sweep (every 250 ms)
      assert.equal(await ask('3'), 'echo:3');
      assert.equal(new Set(sources).size, 2, 'the idle flow was closed; a new one serves the client');
    } finally {
      c.close();
      await p.closeAll();
      backend.close();
    }
  });
});
