// test/core/kernel/firewall/iptables.test.ts — iptables-restore lines for networks and ports, and
// the legacy/nft mode choice (kubernetes' iptables-wrappers rules).

import assert from 'node:assert/strict';
import { chooseMode } from '../../../../core/kernel/firewall/iptables/mode.js';
import { add, del, networkRules, portRule, restoreText } from '../../../../core/kernel/firewall/iptables/rules.js';
import { expandMapping, type FirewallNetwork } from '../../../../core/kernel/firewall/types.js';

const net: FirewallNetwork = { id: 'n1', bridge: 'tsdbr1', subnets: ['10.1.0.0/24', 'fd00::/64'], masquerade: true, internal: false, icc: false, isolate: true };

describe('iptables rules', () => {
  it('renders one network per family', () => {
    const text = restoreText(networkRules(net, 4).map(add));
    assert.equal(text, [
      '*nat',
      '-A TSD-POSTROUTING -s 127.0.0.0/8 -o tsdbr1 -j MASQUERADE',
      '-A TSD-POSTROUTING -s 10.1.0.0/24 -o tsdbr1 -m conntrack --ctstate DNAT -j MASQUERADE',
      '-A TSD-POSTROUTING -s 10.1.0.0/24 ! -o tsdbr1 -j MASQUERADE',
      'COMMIT',
      '*filter',
      '-A TSD-FORWARD -i tsdbr1 -o tsdbr1 -j DROP',
      '-A TSD-ISOLATION-1 -i tsdbr1 ! -o tsdbr1 -j TSD-ISOLATION-2',
      '-A TSD-ISOLATION-2 -o tsdbr1 -j DROP',
      '-A TSD-ISOLATION-3 -o tsdbr1 -j DROP',
      'COMMIT',
      '',
    ].join('\n'));
    assert.ok(networkRules(net, 6).every((r) => !r.spec.includes('127.0.0.0')));
    assert.deepEqual(networkRules({ ...net, subnets: ['10.0.0.0/8'] }, 6), []);
  });

  it('an internal network drops traffic in and out and is not masqueraded', () => {
    const specs = networkRules({ ...net, internal: true, icc: true, isolate: false }, 4).map((r) => r.spec);
    assert.ok(specs.includes('-i tsdbr1 ! -o tsdbr1 -j DROP'));
    assert.ok(specs.includes('! -i tsdbr1 -o tsdbr1 -j DROP') || specs.includes('-o tsdbr1 ! -i tsdbr1 -j DROP'));
    assert.ok(!specs.some((s) => s.includes('! -o tsdbr1 -j MASQUERADE')));
  });

  it('renders DNAT rules that delete with the same spec', () => {
    const [e4] = expandMapping({ networkId: 'n1', proto: 'udp', hostIp: '127.0.0.1', hostPort: 53, containerIp: '10.1.0.2', containerPort: 5353 }, net);
    const [e6] = expandMapping({ networkId: 'n1', proto: 'tcp', hostPort: 80, containerIp: 'fd00::2', containerPort: 8080 }, net);
    assert.equal(add(portRule(e4!)).line, '-A TSD-DNAT -d 127.0.0.1/32 -p udp -m udp --dport 53 -j DNAT --to-destination 10.1.0.2:5353');
    assert.equal(del(portRule(e6!)).line, '-D TSD-DNAT -p tcp -m tcp --dport 80 -j DNAT --to-destination [fd00::2]:8080');
  });
});

describe('iptables mode choice', () => {
  it('defaults to nft, prefers the variant with more rules, honours kubelet canaries', () => {
    assert.equal(chooseMode({ nftMangle: '', legacy: '', nft: '' }).mode, 'nft');
    assert.equal(chooseMode({ nftMangle: '', legacy: '-A X\n-A Y\n', nft: '-A X\n' }).mode, 'legacy');
    assert.equal(chooseMode({ nftMangle: '', legacy: '-A X\n', nft: '-A X\n' }).mode, 'nft');
    assert.equal(chooseMode({ nftMangle: ':KUBE-IPTABLES-HINT - [0:0]\n', legacy: '-A X\n-A Y\n', nft: '' }).mode, 'nft');
    assert.equal(chooseMode({ nftMangle: '', legacy: ':KUBE-KUBELET-CANARY - [0:0]\n', nft: '-A X\n-A Y\n' }).mode, 'legacy');
  });
});
