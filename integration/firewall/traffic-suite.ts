// integration/firewall/traffic-suite.ts — the behaviour every firewall backend must show with real
// traffic: DNAT from outside, from the host's 127.0.0.1 and hairpin; masquerade; isolation and
// its removal; internal networks; drift repair and reload; host firewall rules still apply; purge. Backend files add checks of
// their own kernel state (nft -j / iptables-save).

import assert from 'node:assert/strict';
import { execa } from 'execa';
import type { Firewall } from '../../core/kernel/firewall/firewall.js';
import type { FirewallNetwork, PortMapping } from '../../core/kernel/firewall/types.js';
import { HOST_IP, IP, NS, OUT_IP, peerSeen, setup, teardown } from './topology.js';

export const net1: FirewallNetwork = { id: 'net1', bridge: 'tsdfw-b1', subnets: ['10.71.1.0/24'], masquerade: true, internal: false, icc: true, isolate: true };
export const net2: FirewallNetwork = { id: 'net2', bridge: 'tsdfw-b2', subnets: ['10.71.2.0/24'], masquerade: true, internal: false, icc: true, isolate: true };
export const web: PortMapping = { networkId: 'net1', proto: 'tcp', hostPort: 8080, containerIp: IP.s1, containerPort: 80 };

export interface BackendHooks {
  create(): Promise<Firewall>;
  /** Break tsd's state behind its back (delete the DNAT of `web`). */
  sabotage(): Promise<void>;
  /** True when no trace of tsd is left in this backend's kernel state. */
  isClean(): Promise<boolean>;
}

export function trafficSuite(hooks: BackendHooks): void {
  let fw: Firewall;

  before(async function () {
    if (process.getuid?.() !== 0) this.skip();
    await setup();
    fw = await hooks.create();
    await fw.purge();
    await fw.addNetwork(net1);
    await fw.addNetwork(net2);
    await fw.publishPorts([web]);
  });

  after(async () => {
    try {
      await fw?.purge();
    } finally {
      await teardown();
    }
  });

  it('DNATs a published port from outside, keeping the client address', async () => {
    assert.equal(await peerSeen(NS.out, HOST_IP, 8080), OUT_IP);
  });

  it('reaches a published port from the host through 127.0.0.1 (masqueraded to the bridge)', async () => {
    assert.equal(await peerSeen(undefined, '127.0.0.1', 8080), IP.gw1);
  });

  it('hairpin: a sandbox reaches its own and its neighbour\'s published port via the host address', async () => {
    assert.equal(await peerSeen(NS.s1, HOST_IP, 8080), IP.gw1);
    assert.equal(await peerSeen(NS.s3, HOST_IP, 8080), IP.gw1);
  });

  it('masquerades egress (outside has no route back to the sandboxes)', async () => {
    assert.equal(await peerSeen(NS.s1, OUT_IP, 9000), HOST_IP);
  });

  it('isolates networks from each other, and lifting isolation is a policy change', async () => {
    assert.equal(await peerSeen(NS.s1, IP.s2, 80), undefined);
    await fw.addNetwork({ ...net1, isolate: false });
    assert.equal(await peerSeen(NS.s1, IP.s2, 80), undefined, 'net2 still isolates');
    await fw.addNetwork({ ...net2, isolate: false });
    // nftables routes between tsd bridges unmasqueraded; iptables (Docker's rule shape,
    // `-s subnet ! -o bridge`) masquerades to the other bridge's address.
    assert.ok([IP.s1, IP.gw2].includes(String(await peerSeen(NS.s1, IP.s2, 80))));
    await fw.addNetwork(net1);
    await fw.addNetwork(net2);
    assert.equal(await peerSeen(NS.s1, IP.s2, 80), undefined);
  });

  it('an internal network has no egress and no ingress', async () => {
    await fw.addNetwork({ ...net2, internal: true });
    assert.equal(await peerSeen(NS.s2, OUT_IP, 9000), undefined);
    await fw.addNetwork(net2);
    assert.equal(await peerSeen(NS.s2, OUT_IP, 9000), HOST_IP);
  });

  it('unpublish stops the DNAT; publish again restores it', async () => {
    await fw.unpublishPorts([web]);
    assert.equal(await peerSeen(NS.out, HOST_IP, 8080), undefined);
    await fw.unpublishPorts([web]);
    await fw.publishPorts([web]);
    assert.equal(await peerSeen(NS.out, HOST_IP, 8080), OUT_IP);
  });

  it('repairs drift: a batch that fails on a missing rule rebuilds from the model', async () => {
    await hooks.sabotage();
    assert.equal(await peerSeen(NS.out, HOST_IP, 8080), undefined);
    const extra: PortMapping = { ...web, hostPort: 8081 };
    await fw.publishPorts([extra]);
    await fw.unpublishPorts([web]); // its rule is gone: the delete fails, the rebuild succeeds
    assert.equal(await peerSeen(NS.out, HOST_IP, 8081), OUT_IP);
    assert.deepEqual(fw.state().ports.map((p) => p.hostPort), [8081]);
    await fw.unpublishPorts([extra]);
  });

  it('reload rebuilds everything from the desired state', async () => {
    await fw.publishPorts([web]);
    await hooks.sabotage();
    assert.equal(await peerSeen(NS.out, HOST_IP, 8080), undefined);
    await fw.reload({ networks: [net1, net2], ports: [web] });
    assert.equal(await peerSeen(NS.out, HOST_IP, 8080), OUT_IP);
    assert.equal(await peerSeen(NS.s1, IP.s2, 80), undefined);
  });

  it('the host firewall still applies: a drop in another table stops a published port (moby#22054, ufw)', async () => {
    assert.equal(await peerSeen(NS.out, HOST_IP, 8080), OUT_IP);
    // What ufw or firewalld do: their own forward chain, in their own table. tsd's accept does not
    // override it (an nft accept ends only its own base chain).
    const table = ['inet', 'tsdfwtest_hostfw'];
    await execa('nft', ['-f', '-'], { input: `table ${table.join(' ')} {\n chain hostfw {\n  type filter hook forward priority 10; policy accept;\n  ip daddr ${IP.s1} tcp dport 80 drop\n }\n}\n` });
    try {
      assert.equal(await peerSeen(NS.out, HOST_IP, 8080), undefined, 'dropped by the host firewall');
    } finally {
      await execa('nft', ['delete', 'table', ...table], { reject: false });
    }
    assert.equal(await peerSeen(NS.out, HOST_IP, 8080), OUT_IP);
  });

  it('purge leaves nothing behind, and the next operation starts afresh', async () => {
    await fw.purge();
    assert.ok(await hooks.isClean());
    assert.equal(await peerSeen(NS.out, HOST_IP, 8080), undefined);
    await fw.addNetwork(net1);
    await fw.publishPorts([web]);
    assert.equal(await peerSeen(NS.out, HOST_IP, 8080), OUT_IP);
    await fw.removeNetwork('net1');
    assert.equal(await peerSeen(NS.out, HOST_IP, 8080), undefined);
    await fw.purge();
    assert.ok(await hooks.isClean());
  });
}
