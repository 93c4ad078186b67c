// test/drivers/network/bridge/loopback6-proxy.test.ts — the [::1] proxy's UDP flow table (idle
// timeout, bound, LRU order) with fake sockets and a fake clock, and the publish plan: which
// bindings tsd serves on [::1] and that ::1 never reaches the firewall. The kernel is not under
// test here (integration/network/loopback6.test.ts drives real traffic).
import assert from 'node:assert/strict';
import { UdpFlowTable } from '../../../../drivers/network/bridge/loopback6-proxy.js';
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

  it('with the proxy off: nothing is proxied and ::1 is refused naming the option', () => {
    const off = { enableIpv6: true, loopback6: false };
    assert.deepEqual(planPorts('n', dual, [b('', 8080)], new HostPortAllocator(), off).loopback6, []);
    assert.throws(() => planPorts('n', dual, [b('::1', 8080)], new HostPortAllocator(), off), /PortBindings\[0\] tcp\/80: HostIP ::1: .*userland-proxy-v6-loopback/);
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
