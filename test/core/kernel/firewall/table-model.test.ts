// test/core/kernel/firewall/table-model.test.ts — the nft text tsd generates: network policy and
// published ports as elements, deletes by key, atomic rebuild.

import assert from 'node:assert/strict';
import { elementCommands, networkElements, portElement, portElements, rebuildText, skeletonText, userRulesText } from '../../../../core/kernel/firewall/nftables/table-model.js';
import { expandMapping, type FirewallNetwork } from '../../../../core/kernel/firewall/types.js';

const net: FirewallNetwork = { id: 'n1', bridge: 'tsdbr1', subnets: ['10.1.0.0/24', 'fd00:1::/64'], masquerade: true, internal: false, icc: true, isolate: true };

describe('nftables table model', () => {
  it('expresses a network as set elements', () => {
    const text = elementCommands('add', networkElements(net));
    assert.equal(text, [
      'add element inet tsd bridges { "tsdbr1" }',
      'add element inet tsd samebr { "tsdbr1" . "tsdbr1" }',
      'add element inet tsd isolated { "tsdbr1" }',
      'add element inet tsd net4 { 10.1.0.0/24 . "tsdbr1" }',
      'add element inet tsd masq4 { 10.1.0.0/24 }',
      'add element inet tsd net6 { fd00:1::/64 . "tsdbr1" }',
      'add element inet tsd masq6 { fd00:1::/64 }',
      '',
    ].join('\n'));
  });

  it('an internal network without icc is never masqueraded and drops same-bridge routing', () => {
    const text = elementCommands('add', networkElements({ ...net, internal: true, icc: false, isolate: false }));
    assert.match(text, /noicc \{ "tsdbr1" \. "tsdbr1" \}/);
    assert.match(text, /internal \{ "tsdbr1" \}/);
    assert.doesNotMatch(text, /masq|samebr|isolated/);
  });

  it('maps a port to pub4any / pub4 / pub6 and deletes by key only', () => {
    const [any] = expandMapping({ networkId: 'n1', proto: 'tcp', hostPort: 8080, containerIp: '10.1.0.2', containerPort: 80 }, net);
    assert.deepEqual(portElement(any!), ['pub4any', 'tcp . 8080 : 10.1.0.2 . 80']);
    const [one] = expandMapping({ networkId: 'n1', proto: 'udp', hostIp: '127.0.0.1', hostPort: 53, containerIp: '10.1.0.2', containerPort: 5353 }, net);
    assert.deepEqual(portElement(one!), ['pub4', '127.0.0.1 . udp . 53 : 10.1.0.2 . 5353']);
    const [six] = expandMapping({ networkId: 'n1', proto: 'sctp', hostIp: '::1', hostPort: 9, containerIp: 'fd00:1::2', containerPort: 9 }, net);
    assert.deepEqual(portElement(six!), ['pub6', '::1 . sctp . 9 : fd00:1::2 . 9']);
    assert.equal(elementCommands('delete', portElements([any!, one!])), 'delete element inet tsd pub4any { tcp . 8080 }\ndelete element inet tsd pub4 { 127.0.0.1 . udp . 53 }\n');
  });

  it('batches many ports into one command per map', () => {
    const entries = expandMapping({ networkId: 'n1', proto: 'tcp', hostPort: 10000, hostPortEnd: 10999, containerIp: '10.1.0.2', containerPort: 20000 }, net);
    assert.equal(entries.length, 1000);
    const text = elementCommands('add', portElements(entries));
    assert.equal(text.split('\n').length, 2);
    assert.match(text, /tcp \. 10999 : 10\.1\.0\.2 \. 20999 \}/);
  });

  it('rebuild replaces the table in one batch (add makes the delete safe)', () => {
    const text = rebuildText(networkElements(net));
    assert.ok(text.startsWith('add table inet tsd\ndelete table inet tsd\ntable inet tsd {'));
    assert.ok(text.includes(skeletonText()));
    assert.match(text, /add element inet tsd bridges/);
  });

  it('the skeleton has no per-port or per-network rules', () => {
    assert.doesNotMatch(skeletonText(), /tsdbr|\d+\.\d+\.\d+\.\d+ \.|dport \d/);
  });

  it('the forward chain jumps to the user chain before any verdict of tsd', () => {
    const fwd = skeletonText().split('chain forward {')[1]!.split('}')[0]!.trim().split('\n').map((l) => l.trim());
    assert.equal(fwd[0], 'type filter hook forward priority filter; policy accept;');
    assert.equal(fwd[1], 'jump user');
    assert.match(skeletonText(), /chain user \{\s*\}/);
  });

  it('reads the user chain back as text that re-adds its rules (and nothing for an empty chain)', () => {
    const listing = 'table inet tsd {\n\tchain user {\n\t\tip daddr 10.1.0.2 tcp dport 80 counter packets 3 bytes 180 drop comment "no web"\n\t\tiifname "eth9" accept\n\t}\n}\n';
    assert.equal(userRulesText(listing), 'table inet tsd {\n  chain user {\n    ip daddr 10.1.0.2 tcp dport 80 counter packets 3 bytes 180 drop comment "no web"\n    iifname "eth9" accept\n  }\n}\n');
    assert.equal(userRulesText('table inet tsd {\n\tchain user {\n\t}\n}\n'), '');
    assert.equal(userRulesText(''), '');
    const text = rebuildText(networkElements(net), userRulesText(listing));
    assert.ok(text.indexOf('iifname "eth9" accept') > text.indexOf(skeletonText().slice(-20)), 'after the skeleton declares the chain');
  });
});
