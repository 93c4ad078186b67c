// integration/firewall/iptables.test.ts — the iptables backend (iptables-restore batches into
// TSD-* chains) against the kernel: the shared traffic suite plus iptables-save checks, in both
// nft and legacy mode.

import assert from 'node:assert/strict';
import { execa } from 'execa';
import { createFirewall } from '../../core/kernel/firewall/select.js';
import { IptablesFirewall } from '../../core/kernel/firewall/iptables/backend.js';
import { createMemoryLogger, silentLogger } from '../../core/log.js';
import { net1, net2, trafficSuite, web, type UserRule } from './traffic-suite.js';

/** The user's iptables spec for a hook-chain rule (IPv4: the lab's sandboxes are IPv4). */
const ipt = (r: UserRule) => [...(r.src ? ['-s', `${r.src}/32`] : []), '-d', `${r.dst}/32`, ...(r.dport ? ['-p', 'tcp', '-m', 'tcp', '--dport', String(r.dport)] : []), '-j', r.verdict.toUpperCase()];

const iptUser = {
  add: async (r: UserRule) => void (await execa('iptables-nft', ['-A', 'TSD-USER', ...ipt(r)])),
  remove: async (r: UserRule) => void (await execa('iptables-nft', ['-D', 'TSD-USER', ...ipt(r)])),
  list: async () => (await saveAll('nft')).split('\n').filter((l) => l.startsWith('-A TSD-USER ')),
};

async function saveAll(mode: 'nft' | 'legacy'): Promise<string> {
  const a = await execa(`iptables-${mode}-save`, [], { reject: false });
  const b = await execa(`ip6tables-${mode}-save`, [], { reject: false });
  return `${String(a.stdout ?? '')}\n${String(b.stdout ?? '')}`;
}

describe('firewall iptables (nft mode, chosen by detection)', () => {
  trafficSuite({
    create: async () => {
      const log = createMemoryLogger();
      const fw = await createFirewall({ backend: 'iptables' }, { log });
      assert.equal(fw.backend, 'iptables');
      assert.equal((fw as IptablesFirewall).mode, 'nft');
      assert.ok(log.lines.some((l) => /^firewall backend iptables \(configured\), mode nft: /.test(String(l.msg))));
      return fw;
    },
    sabotage: async () => {
      await execa('iptables-nft', ['-t', 'nat', '-F', 'TSD-DNAT']);
    },
    isClean: async () => !/TSD-/.test(await saveAll('nft')),
    user: iptUser,
  });
});

describe('firewall iptables (legacy mode)', () => {
  let fw: IptablesFirewall;
  before(async function () {
    if (process.getuid?.() !== 0) this.skip();
    fw = new IptablesFirewall('legacy', silentLogger);
    await fw.purge();
  });
  after(async () => {
    await fw?.purge();
  });

  it('writes the same chains through iptables-legacy-restore and removes them all', async () => {
    await fw.addNetwork(net1);
    await fw.addNetwork({ ...net2, internal: true, subnets: ['10.71.2.0/24', 'fd71:2::/64'] });
    await fw.publishPorts([web, { ...web, networkId: 'net2', proto: 'udp', containerIp: 'fd71:2::2', hostPort: 53, containerPort: 53 }]);
    const dump = await saveAll('legacy');
    assert.match(dump, /^-A PREROUTING -j TSD-PREROUTING$/m);
    assert.match(dump, /^-A TSD-DNAT -p tcp -m tcp --dport 8080 -j DNAT --to-destination 10\.71\.1\.2:80$/m);
    assert.match(dump, /^-A TSD-DNAT -p udp -m udp --dport 53 -j DNAT --to-destination \[fd71:2::2\]:53$/m);
    assert.match(dump, /^-A TSD-FORWARD -i tsdfw-b2 ! -o tsdfw-b2 -j DROP$/m);
    assert.doesNotMatch(dump, /-s 10\.71\.2\.0\/24 ! -o tsdfw-b2 -j MASQUERADE/);
    // The user hook: in both families, jumped to first from TSD-FORWARD, kept by a rebuild.
    assert.equal(dump.match(/^:TSD-USER /gm)?.length, 2);
    for (const fam of dump.split('*filter').slice(1)) assert.equal(fam.split('\n').find((l) => l.startsWith('-A TSD-FORWARD ')), '-A TSD-FORWARD -j TSD-USER');
    await execa('ip6tables-legacy', ['-A', 'TSD-USER', '-d', 'fd71:9::9/128', '-j', 'DROP']);
    await fw.reload({ networks: [net1, { ...net2, internal: true, subnets: ['10.71.2.0/24', 'fd71:2::/64'] }], ports: [web] });
    assert.match(await saveAll('legacy'), /^-A TSD-USER -d fd71:9::9\/128 -j DROP$/m);
    await fw.removeNetwork('net2');
    const after = await saveAll('legacy');
    assert.doesNotMatch(after, /tsdfw-b2|fd71:2::2/);
    assert.match(after, /tsdfw-b1/);
    await fw.purge();
    assert.doesNotMatch(await saveAll('legacy'), /TSD-/);
  });
});
