// test/core/kernel/inet.test.ts — address codecs (no root): IP/CIDR/MAC/sockaddr and sysctl keys.
import assert from 'node:assert/strict';
import { bytesToIp, bytesToMac, ipToBytes, macToBytes, networkOf, parseCidr, sockaddr } from '../../../core/kernel/inet.js';
import { netConfKey, sysctlPath } from '../../../core/kernel/sysctl.js';

describe('kernel/inet', () => {
  it('round-trips IPv4 and IPv6 in canonical form', () => {
    for (const ip of ['10.0.0.1', '0.0.0.0', '255.255.255.255', '::', '::1', 'fd00::1', 'fe80::1:2', '2001:db8:0:1:0:0:0:1', '1::', '::ffff:1.2.3.4']) {
      const b = ipToBytes(ip);
      assert.equal(b.length, ip.includes(':') ? 16 : 4);
      const back = bytesToIp(b);
      assert.deepEqual(ipToBytes(back), b, `${ip} -> ${back}`);
    }
    assert.equal(bytesToIp(ipToBytes('2001:db8:0:1:0:0:0:1')), '2001:db8:0:1::1');
    assert.equal(bytesToIp(ipToBytes('fd00:0:0:0:0:0:0:1')), 'fd00::1');
    assert.equal(bytesToIp(ipToBytes('::ffff:1.2.3.4')), '::ffff:102:304');
    assert.throws(() => ipToBytes('10.0.0.256', 'gateway'), /gateway: "10.0.0.256" is not a valid IP address/);
  });

  it('parses CIDRs and rejects bad prefixes naming the field', () => {
    assert.deepEqual(parseCidr('10.1.2.3/24'), { address: '10.1.2.3', prefixLen: 24, family: 4 });
    assert.deepEqual(parseCidr('fd00::2'), { address: 'fd00::2', prefixLen: 128, family: 6 });
    assert.equal(networkOf(parseCidr('10.1.2.3/20')), '10.1.0.0');
    assert.equal(networkOf(parseCidr('fd00:1:2:3::9/48')), 'fd00:1:2::');
    assert.throws(() => parseCidr('10.0.0.0/33', 'subnet'), /subnet: "10.0.0.0\/33" is not a valid CIDR/);
    assert.throws(() => parseCidr('10.0.0.0/x'), /not a valid CIDR/);
  });

  it('parses MACs and builds sockaddrs', () => {
    assert.equal(bytesToMac(macToBytes('02:42:AC:11:00:02')), '02:42:ac:11:00:02');
    assert.throws(() => macToBytes('02:42:ac', 'peerMac'), /peerMac: "02:42:ac" is not a MAC address/);
    const s4 = sockaddr('127.0.0.11', 53);
    assert.equal(s4.toString('hex'), '02000035' + '7f00000b' + '0000000000000000');
    assert.equal(sockaddr('::1', 53).length, 28);
    assert.throws(() => sockaddr('127.0.0.1', 70000), /port: 70000/);
  });

  it('maps sysctl keys to /proc/sys paths and refuses escapes', () => {
    assert.equal(sysctlPath('net.ipv4.ip_forward'), '/proc/sys/net/ipv4/ip_forward');
    assert.equal(netConfKey(4, 'eth0.5', 'forwarding'), 'net/ipv4/conf/eth0.5/forwarding');
    assert.equal(sysctlPath(netConfKey(6, 'eth0.5', 'accept_ra')), '/proc/sys/net/ipv6/conf/eth0.5/accept_ra');
    assert.throws(() => sysctlPath('net/../../etc/passwd'), /not a sysctl path/);
    assert.throws(() => sysctlPath('net.ipv4 ip_forward'), /sysctl key/);
  });
});
