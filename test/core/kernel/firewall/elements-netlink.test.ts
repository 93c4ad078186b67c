// test/core/kernel/firewall/elements-netlink.test.ts — the byte layout of published-port map
// elements sent over NETLINK_NETFILTER (the integration tests compare the kernel's view with the
// text path's; these pin the encoding and the inline IPv4 parser).

import assert from 'node:assert/strict';
import { encodePortElement, putIp } from '../../../../core/kernel/firewall/nftables/elements-netlink.js';
import { ipToBytes } from '../../../../core/kernel/inet.js';

const base = { networkId: 'n', containerPort: 80 } as const;

describe('nftables port elements over netlink', () => {
  it('lays out ipv4_addr . inet_proto . inet_service : ipv4_addr . inet_service in 4-byte fields', () => {
    const e = encodePortElement({ ...base, family: 4, proto: 'udp', hostIp: '127.0.0.1', hostPort: 5353, containerIp: '10.1.2.3', containerPort: 53 });
    assert.equal(e.set, 'pub4');
    assert.equal(e.key.toString('hex'), '7f000001' + '11000000' + '14e90000');
    assert.equal(e.data.toString('hex'), '0a010203' + '00350000');
  });

  it('leaves the address out for "every local address", and uses 16 bytes for IPv6', () => {
    const any = encodePortElement({ ...base, family: 4, proto: 'tcp', hostIp: undefined, hostPort: 8080, containerIp: '10.0.0.2' });
    assert.equal(any.set, 'pub4any');
    assert.equal(any.key.toString('hex'), '06000000' + '1f900000');
    const v6 = encodePortElement({ ...base, family: 6, proto: 'sctp', hostIp: '::1', hostPort: 1, containerIp: 'fd00::2' });
    assert.equal(v6.set, 'pub6');
    assert.equal(v6.key.toString('hex'), '0'.repeat(31) + '1' + '84000000' + '00010000');
    assert.equal(v6.data.toString('hex'), 'fd00' + '0'.repeat(26) + '02' + '00500000');
  });

  it('parses IPv4 inline exactly like inet.ts, and defers anything unusual to it', () => {
    for (const ip of ['0.0.0.0', '1.2.3.4', '255.255.255.255', '10.99.3.250', '192.168.0.1']) {
      const b = Buffer.alloc(4);
      putIp(b, 0, ip, 'containerIp');
      assert.deepEqual(b, ipToBytes(ip), ip);
    }
    for (const bad of ['256.1.1.1', '1.2.3', '1.2.3.4.5', '1..2.3', 'a.b.c.d', '']) {
      assert.throws(() => putIp(Buffer.alloc(16), 0, bad, 'containerIp'), /containerIp/, bad);
    }
  });
});
