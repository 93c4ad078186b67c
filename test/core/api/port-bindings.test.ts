// test/core/api/port-bindings.test.ts — PortBindings (API) and -p (tsctl) parsing: valid forms
// map to driver bindings; every bad form names the key or flag and the reason.
import assert from 'node:assert/strict';
import { parsePortBindings } from '../../../core/api/port-bindings.js';
import { publishFlags } from '../../../cli/commands/network.js';

describe('port bindings', () => {
  it('tsctl -p forms become Docker PortBindings, and those become driver bindings', () => {
    const map = publishFlags(['8080:80', '127.0.0.1:53:53/udp', '[::1]:9000-9001:90', ':81']);
    assert.deepEqual(map, {
      '80/tcp': [{ HostIp: '', HostPort: '8080' }],
      '53/udp': [{ HostIp: '127.0.0.1', HostPort: '53' }],
      '90/tcp': [{ HostIp: '::1', HostPort: '9000-9001' }],
      '81/tcp': [{ HostIp: '', HostPort: '' }],
    });
    assert.deepEqual(parsePortBindings(map), [
      { proto: 'tcp', ip: '', port: 80, hostIp: '', hostPort: 8080, hostPortEnd: 8080 },
      { proto: 'udp', ip: '', port: 53, hostIp: '127.0.0.1', hostPort: 53, hostPortEnd: 53 },
      { proto: 'tcp', ip: '', port: 90, hostIp: '::1', hostPort: 9000, hostPortEnd: 9001 },
      { proto: 'tcp', ip: '', port: 81, hostIp: '', hostPort: 0, hostPortEnd: 0 },
    ]);
    assert.deepEqual(parsePortBindings(null), []);
  });

  it('bad forms are refused with the key and the reason', () => {
    assert.throws(() => publishFlags(['80']), /invalid --publish "80": expected \[ip:\]hostPort:port/);
    assert.throws(() => parsePortBindings({ '80/icmp': [] }), /PortBindings\["80\/icmp"\]: expected PORT\[\/tcp\|udp\|sctp\]/);
    assert.throws(() => parsePortBindings({ '0/tcp': [] }), /PortBindings\["0\/tcp"\]: "0" is not a port/);
    assert.throws(() => parsePortBindings({ '80': [{ HostIp: 'localhost' }] }), /HostIp: "localhost" is not an IP address/);
    assert.throws(() => parsePortBindings({ '80': [{ HostPort: '90-80' }] }), /HostPort: 90-80 is an empty range/);
    assert.throws(() => parsePortBindings({ '80': [{ HostPort: '70000' }] }), /HostPort: "70000" is not a port/);
  });
});
