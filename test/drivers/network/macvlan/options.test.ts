// test/drivers/network/macvlan/options.test.ts — option parsing of tsd-macvlan: Docker's
// defaults, and every bad value rejected with a message naming the option.
import assert from 'node:assert/strict';
import {
  inSubnet, parseMacvlanOptions, parseVlanParent, poolsOf, shimAddresses,
} from '../../../../drivers/network/macvlan/options.js';

const invalid = (re: RegExp) => (e: unknown) => (e as { code?: string }).code === 'InvalidArgument' && re.test((e as Error).message);

describe('tsd-macvlan options', () => {
  it('defaults as Docker: bridge mode, no MTU, no shim; no parent means internal', () => {
    assert.deepEqual(parseMacvlanOptions({ parent: 'eth0' }, false), { parent: 'eth0', mode: 'bridge', mtu: undefined, hostShim: false, internal: false });
    assert.deepEqual(parseMacvlanOptions({}, false), { parent: '', mode: 'bridge', mtu: undefined, hostShim: false, internal: true });
    assert.equal(parseMacvlanOptions({ parent: 'eth0' }, true).internal, true);
    assert.equal(parseMacvlanOptions({ parent: 'eth0', macvlan_mode: '' }, false).mode, 'bridge');
  });

  it('accepts every Docker mode, the MTU option and the shim switch', () => {
    for (const m of ['bridge', 'private', 'vepa', 'passthru']) assert.equal(parseMacvlanOptions({ parent: 'e', macvlan_mode: m }, false).mode, m);
    assert.equal(parseMacvlanOptions({ parent: 'e', 'com.docker.network.driver.mtu': '1400' }, false).mtu, 1400);
    assert.equal(parseMacvlanOptions({ parent: 'e', 'com.docker.network.driver.mtu': '0' }, false).mtu, undefined);
    assert.equal(parseMacvlanOptions({ parent: 'e', 'tsd.macvlan.host_shim': 'true' }, false).hostShim, true);
    assert.equal(parseMacvlanOptions({ parent: 'e', 'tsd.macvlan.host_shim': 'false' }, false).hostShim, false);
    // Docker ignores options it does not know; so do we (except our own namespace).
    assert.equal(parseMacvlanOptions({ parent: 'e', 'com.docker.network.whatever': 'x' }, false).parent, 'e');
  });

  it('rejects bad values naming the option', () => {
    assert.throws(() => parseMacvlanOptions({ parent: 'e', macvlan_mode: 'source' }, false), invalid(/^macvlan_mode: "source" must be one of bridge, private, vepa, passthru/));
    assert.throws(() => parseMacvlanOptions({ parent: 'e', macvlan_mode: 'Bridge' }, false), invalid(/^macvlan_mode:/));
    assert.throws(() => parseMacvlanOptions({ parent: 'lo' }, false), invalid(/^parent: the loopback interface/));
    assert.throws(() => parseMacvlanOptions({ parent: 'a very long interface name' }, false), invalid(/^parent: "a very long interface name" is not a valid interface name/));
    assert.throws(() => parseMacvlanOptions({ parent: 'eth0/1' }, false), invalid(/^parent:/));
    for (const m of ['67', '65536', '1.5', 'x', '-1', '1e3']) {
      assert.throws(() => parseMacvlanOptions({ parent: 'e', 'com.docker.network.driver.mtu': m }, false), invalid(/^com\.docker\.network\.driver\.mtu: .* must be an integer in 68\.\.65535/), m);
    }
    assert.throws(() => parseMacvlanOptions({ parent: 'e', 'tsd.macvlan.host_shim': 'yes' }, false), invalid(/^tsd\.macvlan\.host_shim: "yes" must be true or false/));
    assert.throws(() => parseMacvlanOptions({ parent: 'e', 'tsd.macvlan.hostshim': 'true' }, false), invalid(/^tsd\.macvlan\.hostshim: unknown macvlan option/));
  });

  it('refuses a host shim where the kernel cannot deliver to it (private, passthru)', () => {
    for (const m of ['private', 'passthru']) {
      assert.throws(() => parseMacvlanOptions({ parent: 'e', macvlan_mode: m, 'tsd.macvlan.host_shim': 'true' }, false), invalid(/^tsd\.macvlan\.host_shim: needs macvlan_mode=bridge or vepa/));
    }
    assert.equal(parseMacvlanOptions({ parent: 'e', macvlan_mode: 'vepa', 'tsd.macvlan.host_shim': 'true' }, false).hostShim, true);
  });

  it('reads eth0.10 as VLAN 10 on eth0 and explains names that are not', () => {
    assert.deepEqual(parseVlanParent('eth0.10'), { base: 'eth0', id: 10 });
    assert.deepEqual(parseVlanParent('br.lan.4094'), { base: 'br.lan', id: 4094 });
    assert.match(parseVlanParent('eth0') as string, /not of the form <link>\.<vlan id>/);
    assert.match(parseVlanParent('eth0.') as string, /not of the form/);
    assert.match(parseVlanParent('eth0.x') as string, /"x" is not a VLAN id/);
    assert.match(parseVlanParent('eth0.0') as string, /VLAN id 0 must be in 1\.\.4094/);
    assert.match(parseVlanParent('eth0.4095') as string, /VLAN id 4095 must be in 1\.\.4094/);
  });

  it('pools keep subnet and plain gateway; shim address comes from aux host_shim', () => {
    assert.deepEqual(poolsOf([{ addressSpace: 'L', pool: '10.1.0.0/24', gateway: '10.1.0.1/24' }], 4), [{ subnet: '10.1.0.0/24', gateway: '10.1.0.1' }]);
    assert.deepEqual(poolsOf([{ addressSpace: 'L', pool: '10.1.0.0/24' }], 4), [{ subnet: '10.1.0.0/24', gateway: '' }]);
    assert.throws(() => poolsOf([{ addressSpace: 'L', pool: 'fd00::/64' }], 4), invalid(/ipv4Data\[0\]\.Pool: fd00::\/64 is not an IPv4 subnet/));
    assert.deepEqual(shimAddresses([{ addressSpace: 'L', pool: '10.1.0.0/24', auxAddresses: { host_shim: '10.1.0.250/24' } }], []), { ipv4: '10.1.0.250', ipv6: '' });
    assert.throws(() => shimAddresses([{ addressSpace: 'L', pool: '10.1.0.0/24', auxAddresses: { other: '10.1.0.9/24' } }], []), invalid(/^tsd\.macvlan\.host_shim: needs an address reserved for the shim: add --aux-address host_shim=/));
  });

  it('inSubnet matches family and prefix', () => {
    assert.equal(inSubnet('10.1.0.7', '10.1.0.0/24'), true);
    assert.equal(inSubnet('10.1.1.7', '10.1.0.0/24'), false);
    assert.equal(inSubnet('fd00::5', 'fd00::/64'), true);
    assert.equal(inSubnet('fd01::5', 'fd00::/64'), false);
    assert.equal(inSubnet('10.1.0.7', 'fd00::/64'), false);
  });
});
